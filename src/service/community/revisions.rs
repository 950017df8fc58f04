//! The edit history of a post, newest first.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::domain::Role;
use crate::error::ApiResult;
use crate::service::Caller;
use crate::service::pagination::{self, CursorCodec, Page};
use crate::service::posts::{self, PostType, UserView, UserViews};
use crate::store::{self, DbConn};

#[derive(Debug, Serialize)]
pub struct RevisionView {
    pub revision: i32,
    pub editor: UserView,
    /// Questions only.
    pub title: Option<String>,
    pub body: String,
    /// Questions only.
    pub tags: Option<Vec<String>>,
    /// A moderator removed personal information after this revision: its
    /// text is shown to admins only.
    pub redacted: bool,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

/// What non-admins see of a redacted revision.
pub const REDACTED: &str = "[redacted by a moderator]";

pub fn list(
    conn: &mut DbConn,
    codec: &CursorCodec,
    viewer: Option<&Caller>,
    post_type: PostType,
    post_id: i64,
    cursor: Option<&str>,
    limit: i64,
) -> ApiResult<Page<RevisionView>> {
    match post_type {
        PostType::Question => posts::visible_question(conn, viewer, post_id).map(|_| ())?,
        PostType::Answer => posts::visible_answer(conn, viewer, post_id).map(|_| ())?,
    }
    let scope = format!("revisions:{}:{post_id}", post_type.as_str());
    let before: Option<i32> = cursor.map(|c| codec.decode(&scope, c)).transpose()?;
    let rows = store::revisions::list(conn, post_type.as_str(), post_id, before, limit + 1)?;
    let users = UserViews::load(conn, &rows.iter().map(|r| r.editor.id).collect::<Vec<_>>())?;
    let admin = viewer.is_some_and(|v| v.has_role(Role::Admin));
    Ok(pagination::page(
        rows,
        limit,
        |r| codec.encode(&scope, &r.revision.revision),
        |r| {
            let redacted = r.revision.redacted_at.is_some();
            let hide = redacted && !admin;
            RevisionView {
                revision: r.revision.revision,
                editor: users.view(r.editor),
                title: if hide { r.revision.title.map(|_| REDACTED.to_owned()) } else { r.revision.title },
                body: if hide { REDACTED.to_owned() } else { r.revision.body },
                tags: r.revision.tags.map(|t| t.split_whitespace().map(str::to_owned).collect()),
                redacted,
                created_at: r.revision.created_at,
            }
        },
    ))
}

/// Marks every revision of a post before the newest as redacted: their
/// text stays for admins and is hidden from everyone else.
pub fn redact_history(conn: &mut DbConn, post_type: PostType, post_id: i64, now: NaiveDateTime) -> ApiResult<()> {
    store::moderation::redact_revisions(conn, post_type.as_str(), post_id, now)?;
    Ok(())
}
