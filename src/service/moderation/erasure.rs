//! Erasure (DELETE /me, POST /admin/users/{id}/erase): the person goes, the
//! community's record stays. Name, address, bio, area, password, logins,
//! API keys, mail, notifications and follows are gone; posts stay under
//! `former-resident-<id>` (or are deleted when asked, through the outbox
//! like any deletion, so search follows); the reputation ledger and the
//! deflection events keep the id, which no longer names anyone. Every
//! response, search result and dump reads the account row, so all agree
//! from the commit on. The audit entry holds the id, never what was erased.

use serde_json::json;

use crate::domain::Role;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::audit::{self, Action};
use crate::service::community::{answers, questions};
use crate::service::{Caller, Context};
use crate::store::{self, DbConn, personal_data, write_transaction};

/// Who asked for the erasure.
pub enum ErasedBy<'a> {
    /// The person themselves (their password was checked).
    Themselves,
    /// An admin, acting on a request the council received.
    Admin(&'a Caller),
}

pub fn erase(conn: &mut DbConn, ctx: &Context, user_id: i64, by: ErasedBy<'_>, delete_content: bool) -> ApiResult<()> {
    let now = ctx.clock.now();
    if let ErasedBy::Admin(admin) = &by
        && admin.id == user_id
    {
        return Err(ApiError::forbidden("to erase your own account, use DELETE /me with your password"));
    }
    write_transaction(conn, |conn| {
        let user = store::users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        if user.erased_at.is_some() {
            return Err(ApiError::not_found("user"));
        }
        let roles = store::users::roles(conn, user_id)?;
        if roles.contains(&Role::Admin) && store::users::count_with_role(conn, Role::Admin)? <= 1 {
            return Err(ApiError::Conflict {
                code: ErrorCode::LastAdminGuard,
                detail: "the only admin cannot be erased; make another admin first".into(),
            });
        }
        if delete_content {
            delete_content_of(conn, user_id, now)?;
        }
        let (username, email) = personal_data::scrub_account(conn, user_id, now)?;
        personal_data::forget_private_state(conn, user_id, &[username, email], now)?;
        store::api_keys::revoke_all_of_user(conn, user_id, now)?;
        store::users::set_roles(conn, user_id, &[Role::Resident])?;
        let actor_id = match by {
            ErasedBy::Themselves => None,
            ErasedBy::Admin(admin) => Some(admin.id),
        };
        audit::record(
            conn,
            Action {
                actor_id,
                action: "erase",
                target_type: "user",
                target_id: Some(user_id),
                reason: Some(if actor_id.is_none() { "requested by the user" } else { "erased by an admin" }),
                before: None,
                after: Some(json!({ "content": if delete_content { "deleted" } else { "kept" } })),
                at: now,
            },
        )
    })
}

/// Deletes the user's questions, answers and comments the way a
/// moderator's delete does (counts, acceptance, search through the outbox).
fn delete_content_of(conn: &mut DbConn, user_id: i64, now: chrono::NaiveDateTime) -> ApiResult<()> {
    let (question_ids, answer_ids, comment_ids) = personal_data::live_content(conn, user_id)?;
    for id in answer_ids {
        let Some(answer) = store::answers::find(conn, id)? else { continue };
        let Some(question) = store::questions::find(conn, answer.question_id)? else { continue };
        answers::soft_delete(conn, &answer, &question, now)?;
    }
    for id in question_ids {
        if let Some(question) = store::questions::find(conn, id)? {
            questions::soft_delete(conn, &question, now)?;
        }
    }
    for id in comment_ids {
        store::comments::set_deleted(conn, id, Some(now))?;
    }
    Ok(())
}
