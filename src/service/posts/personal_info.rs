//! The personal-information guard (openapi.yaml, tag "moderation"): a post that looks
//! like it carries phone numbers, email or street addresses or reference
//! numbers is published, with a `personal_info` flag raised by the system
//! for a moderator to review. Every write of post text calls it.

use chrono::NaiveDateTime;

use super::{Target, load_post};
use crate::error::ApiResult;
use crate::service::pii;
use crate::store::flags::FlagInsertForm;
use crate::store::{self, DbConn};

/// The personal-information guard: a post that looks like it carries
/// personal details gets a `personal_info` flag from the system (once
/// while one is pending).
pub fn guard(conn: &mut DbConn, target: Target, text: &str, now: NaiveDateTime) -> ApiResult<()> {
    let findings = pii::scan(text);
    if findings.is_empty() {
        return Ok(());
    }
    let pending = store::flags::pending_for(conn, target.kind(), target.id())?;
    if pending.iter().any(|f| f.reporter_id.is_none() && f.reason == "personal_info") {
        return Ok(());
    }
    let post = load_post(conn, target)?;
    store::flags::insert(
        conn,
        &FlagInsertForm {
            reporter_id: None,
            target_type: target.kind(),
            target_id: target.id(),
            question_id: post.question_id,
            target_author_id: post.author_id,
            reason: "personal_info",
            note: Some(&pii::describe(&findings)),
            created_at: now,
        },
    )?;
    Ok(())
}
