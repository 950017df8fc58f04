//! The edit history of questions and answers. Revision 1 is the original.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{revisions, users};
use super::users::UserRef;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = revisions)]
pub struct Revision {
    pub id: i64,
    pub post_type: String,
    pub post_id: i64,
    pub revision: i32,
    pub editor_id: i64,
    pub title: Option<String>,
    pub body: String,
    pub tags: Option<String>,
    pub redacted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
pub struct RevisionRow {
    #[diesel(embed)]
    pub revision: Revision,
    #[diesel(embed)]
    pub editor: UserRef,
}

pub struct NewRevision<'a> {
    pub post_type: &'a str,
    pub post_id: i64,
    pub editor_id: i64,
    pub title: Option<&'a str>,
    pub body: &'a str,
    /// Space-separated tag names (questions only).
    pub tags: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

/// Appends the next revision of a post.
pub fn append(conn: &mut DbConn, new: &NewRevision<'_>) -> QueryResult<()> {
    let last: Option<i32> = revisions::table
        .filter(revisions::post_type.eq(new.post_type))
        .filter(revisions::post_id.eq(new.post_id))
        .select(diesel::dsl::max(revisions::revision))
        .first(conn)?;
    insert(conn, new, last.unwrap_or(0) + 1)
}

/// Stores a new post's original text as its revision 1 (no earlier one to
/// look up).
pub fn insert_original(conn: &mut DbConn, new: &NewRevision<'_>) -> QueryResult<()> {
    insert(conn, new, 1)
}

fn insert(conn: &mut DbConn, new: &NewRevision<'_>, revision: i32) -> QueryResult<()> {
    diesel::insert_into(revisions::table)
        .values((
            revisions::post_type.eq(new.post_type),
            revisions::post_id.eq(new.post_id),
            revisions::revision.eq(revision),
            revisions::editor_id.eq(new.editor_id),
            revisions::title.eq(new.title),
            revisions::body.eq(new.body),
            revisions::tags.eq(new.tags),
            revisions::created_at.eq(new.created_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// A page of a post's revisions, newest first, before revision `before`.
pub fn list(
    conn: &mut DbConn,
    post_type: &str,
    post_id: i64,
    before: Option<i32>,
    limit: i64,
) -> QueryResult<Vec<RevisionRow>> {
    let mut query = revisions::table
        .inner_join(users::table)
        .filter(revisions::post_type.eq(post_type))
        .filter(revisions::post_id.eq(post_id))
        .select(RevisionRow::as_select())
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(revisions::revision.lt(before));
    }
    query.order(revisions::revision.desc()).limit(limit).load(conn)
}
