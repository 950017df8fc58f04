//! A moderator's edits and deletions of someone else's post through the
//! ordinary endpoints are moderation too: they are written to the audit log
//! in the same transaction.

use chrono::NaiveDateTime;
use serde_json::json;

use super::Target;
use crate::error::ApiResult;
use crate::service::Caller;
use crate::service::audit::{self, Action};
use crate::store::DbConn;

/// Moderators' deletions of someone else's questions, answers and
/// comments through the ordinary endpoints are moderation too: record them.
pub fn record_moderator_delete(
    conn: &mut DbConn,
    caller: &Caller,
    target: Target,
    author_id: i64,
    now: NaiveDateTime,
) -> ApiResult<()> {
    if !caller.is_moderator() || author_id == caller.id {
        return Ok(());
    }
    audit::record(
        conn,
        Action {
            actor_id: Some(caller.id),
            action: "delete",
            target_type: target.kind(),
            target_id: Some(target.id()),
            reason: None,
            before: Some(json!({"deleted": false})),
            after: Some(json!({"deleted": true})),
            at: now,
        },
    )
}

/// Edits of someone else's post by a moderator (including redactions).
pub fn record_moderator_edit(
    conn: &mut DbConn,
    caller: &Caller,
    target: Target,
    author_id: i64,
    redacted: bool,
    now: NaiveDateTime,
) -> ApiResult<()> {
    if !caller.is_moderator() || author_id == caller.id {
        return Ok(());
    }
    audit::record(
        conn,
        Action {
            actor_id: Some(caller.id),
            action: if redacted { "redact" } else { "edit" },
            target_type: target.kind(),
            target_id: Some(target.id()),
            reason: None,
            before: None,
            after: Some(json!({"redacted": redacted})),
            at: now,
        },
    )
}
