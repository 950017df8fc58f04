//! Categories (admin-managed) and tags (created on first use by users with
//! `create_tag`).

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::domain::TagName;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::audit::{self, Action};
use crate::service::pagination::{self, CursorCodec, KeyPosition, Page};
use crate::service::privileges::{Privilege, Thresholds};
use crate::store::categories::Category;
pub use crate::store::categories::CategoryUpdateForm;
use crate::store::tags::Tag;
use crate::store::{self, DbConn, write_transaction};

#[derive(Debug, Serialize)]
pub struct CategoryView {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub question_count: i32,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

impl From<Category> for CategoryView {
    fn from(c: Category) -> Self {
        CategoryView {
            id: c.id,
            slug: c.slug,
            name: c.name,
            description: c.description,
            question_count: c.question_count,
            created_at: c.created_at,
        }
    }
}

/// Every category (a council has a bounded handful), as one page.
pub fn list(conn: &mut DbConn) -> ApiResult<Page<CategoryView>> {
    let items = store::categories::list(conn)?.into_iter().map(CategoryView::from).collect();
    Ok(Page { items, next_cursor: None, has_more: false })
}

pub fn find(conn: &mut DbConn, slug: &str) -> ApiResult<Category> {
    store::categories::find_by_slug(conn, slug)?.ok_or_else(|| ApiError::not_found("category"))
}

pub struct NewCategory {
    pub slug: String,
    pub name: String,
    pub description: String,
}

/// Creates a category (admins), recorded in the audit log.
pub fn create(conn: &mut DbConn, actor_id: i64, new: NewCategory, now: NaiveDateTime) -> ApiResult<CategoryView> {
    write_transaction(conn, |conn| {
        if store::categories::find_by_slug(conn, &new.slug)?.is_some() {
            return Err(ApiError::Conflict {
                code: ErrorCode::SlugTaken,
                detail: "a category with that slug exists".into(),
            });
        }
        let category = store::categories::insert(conn, &new.slug, &new.name, &new.description, now)?;
        audit::record(
            conn,
            Action {
                actor_id: Some(actor_id),
                action: "create_category",
                target_type: "category",
                target_id: Some(category.id),
                reason: None,
                before: None,
                after: Some(snapshot(&category)),
                at: now,
            },
        )?;
        Ok(category.into())
    })
}

/// Renames or redescribes a category (admins), recorded in the audit log
/// with the state before and after.
pub fn update(
    conn: &mut DbConn,
    actor_id: i64,
    slug: &str,
    form: CategoryUpdateForm,
    now: NaiveDateTime,
) -> ApiResult<CategoryView> {
    write_transaction(conn, |conn| {
        let before = find(conn, slug)?;
        if form.name.is_none() && form.description.is_none() {
            return Ok(before.into());
        }
        let after = store::categories::update(conn, before.id, &form)?;
        audit::record(
            conn,
            Action {
                actor_id: Some(actor_id),
                action: "update_category",
                target_type: "category",
                target_id: Some(after.id),
                reason: None,
                before: Some(snapshot(&before)),
                after: Some(snapshot(&after)),
                at: now,
            },
        )?;
        Ok(after.into())
    })
}

/// What the audit log keeps of a category.
fn snapshot(category: &Category) -> Value {
    json!({"slug": category.slug, "name": category.name, "description": category.description})
}

#[derive(Debug, Serialize)]
pub struct TagView {
    pub name: String,
    pub question_count: i32,
}

const TAGS_SCOPE: &str = "tags";

/// Tags by popularity, for autocomplete with `prefix`.
pub fn list_tags(
    conn: &mut DbConn,
    codec: &CursorCodec,
    prefix: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
) -> ApiResult<Page<TagView>> {
    let prefix = match prefix.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(normalise_prefix(p)?),
        None => None,
    };
    let after: Option<KeyPosition<(i32, String)>> = cursor.map(|c| codec.decode(TAGS_SCOPE, c)).transpose()?;
    let rows = store::tags::list(conn, prefix.as_deref(), after.as_ref().map(|p| (p.k.0, p.k.1.as_str())), limit + 1)?;
    Ok(pagination::page(
        rows,
        limit,
        |t: &Tag| codec.encode(TAGS_SCOPE, &KeyPosition { k: (t.question_count, t.name.clone()), id: t.id }),
        |t| TagView { name: t.name, question_count: t.question_count },
    ))
}

/// A prefix is a partial tag: the same characters, any length up to 35.
fn normalise_prefix(prefix: &str) -> ApiResult<String> {
    let normalised: String = prefix.to_lowercase().chars().map(|c| if c == ' ' { '-' } else { c }).collect();
    let valid =
        normalised.len() <= 35 && normalised.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(ApiError::validation("prefix", "may contain only letters, digits and hyphens (35 at most)"));
    }
    Ok(normalised)
}

/// Finds the tags of a post, creating missing ones when the caller may
/// (`create_tag`); otherwise names the unknown tags in a 422.
pub fn resolve_tags(
    conn: &mut DbConn,
    caller: &Caller,
    thresholds: &Thresholds,
    names: &[TagName],
    now: NaiveDateTime,
) -> ApiResult<Vec<i64>> {
    let wanted: Vec<String> = names.iter().map(|t| t.as_str().to_owned()).collect();
    let existing = store::tags::find_by_names(conn, &wanted)?;
    let missing: Vec<&String> = wanted.iter().filter(|w| !existing.iter().any(|t| &t.name == *w)).collect();
    if !missing.is_empty() && !caller.has(thresholds, Privilege::CreateTag) {
        let list = missing.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ");
        return Err(ApiError::validation(
            "tags",
            &format!(
                "unknown tag(s): {list}; creating tags (create_tag) needs {} reputation",
                thresholds.required(Privilege::CreateTag)
            ),
        ));
    }
    let mut ids: Vec<i64> = Vec::with_capacity(wanted.len());
    for name in &wanted {
        match existing.iter().find(|t| &t.name == name) {
            Some(tag) => ids.push(tag.id),
            None => ids.push(store::tags::insert(conn, name, Some(caller.id), now)?.id),
        }
    }
    Ok(ids)
}
