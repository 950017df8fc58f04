//! The edit history of a post, newest first.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::service::pagination::{self, CursorCodec, Page};
use crate::service::posts::{Caller, PostType, UserView, UserViews};
use crate::service::{answers, questions};
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
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

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
        PostType::Question => questions::visible(conn, viewer, post_id).map(|_| ())?,
        PostType::Answer => answers::visible(conn, viewer, post_id).map(|_| ())?,
    }
    let scope = format!("revisions:{}:{post_id}", post_type.as_str());
    let before: Option<i32> = cursor.map(|c| codec.decode(&scope, c)).transpose()?;
    let rows = store::revisions::list(conn, post_type.as_str(), post_id, before, limit + 1)?;
    let users = UserViews::load(conn, &rows.iter().map(|r| r.editor.id).collect::<Vec<_>>())?;
    Ok(pagination::page(
        rows,
        limit,
        |r| codec.encode(&scope, &r.revision.revision),
        |r| RevisionView {
            revision: r.revision.revision,
            editor: users.view(r.editor),
            title: r.revision.title,
            body: r.revision.body,
            tags: r.revision.tags.map(|t| t.split_whitespace().map(str::to_owned).collect()),
            created_at: r.revision.created_at,
        },
    ))
}
