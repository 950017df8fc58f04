//! Suspensions and role changes.

use chrono::NaiveDateTime;
use serde_json::json;

use crate::clock::rfc3339;
use crate::domain::Role;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::Context;
use crate::service::audit::{self, Action};
use crate::service::webhooks;
use crate::store::{self, DbConn, write_transaction};

/// Longest a suspension may run.
const MAX_SUSPENSION_DAYS: i64 = 3650;

/// Suspends a user until `until`: every live token stops working at once
/// and every login's refresh tokens are revoked. Moderators cannot suspend
/// moderators or admins; nobody suspends themselves.
pub fn suspend(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    user_id: i64,
    until: NaiveDateTime,
    reason: &str,
) -> ApiResult<()> {
    caller.require_moderator()?;
    let now = ctx.clock.now();
    if until <= now {
        return Err(ApiError::validation("until", "must be in the future"));
    }
    if until > now + chrono::Duration::days(MAX_SUSPENSION_DAYS) {
        return Err(ApiError::validation("until", "must be within ten years"));
    }
    write_transaction(conn, |conn| {
        let user = store::users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        guard_user_action(conn, caller, user_id)?;
        store::users::set_suspension(conn, user_id, Some(until), Some(reason), now)?;
        store::refresh_tokens::revoke_all_for_user(conn, user_id, None, now)?;
        webhooks::events::user_suspended(conn, user_id, Some(until), now)?;
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: "suspend",
                target_type: "user",
                target_id: Some(user_id),
                reason: Some(reason),
                before: Some(json!({"suspended_until": user.suspended_until.map(|t| rfc3339::format(&t))})),
                after: Some(json!({"suspended_until": rfc3339::format(&until)})),
                at: now,
            },
        )
    })
}

pub fn unsuspend(conn: &mut DbConn, ctx: &Context, caller: &Caller, user_id: i64) -> ApiResult<()> {
    caller.require_moderator()?;
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        let user = store::users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        guard_user_action(conn, caller, user_id)?;
        if user.suspended_until.is_none() {
            return Ok(());
        }
        store::users::set_suspension(conn, user_id, None, None, now)?;
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: "unsuspend",
                target_type: "user",
                target_id: Some(user_id),
                reason: None,
                before: Some(json!({"suspended_until": user.suspended_until.map(|t| rfc3339::format(&t))})),
                after: Some(json!({"suspended_until": null})),
                at: now,
            },
        )
    })
}

fn guard_user_action(conn: &mut DbConn, caller: &Caller, user_id: i64) -> ApiResult<()> {
    if user_id == caller.id {
        return Err(ApiError::forbidden("you cannot do this to your own account"));
    }
    let roles = store::users::roles(conn, user_id)?;
    let protected = roles.contains(&Role::Admin) || roles.contains(&Role::Moderator);
    if protected && !caller.has_role(Role::Admin) {
        return Err(ApiError::forbidden("only an admin can do this to a moderator or admin"));
    }
    Ok(())
}

/// Replaces a user's roles (admins). Everyone stays a resident; an admin
/// cannot remove their own admin role (so the site is never left without
/// one by accident).
pub fn set_roles(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    user_id: i64,
    roles: &[Role],
) -> ApiResult<Vec<Role>> {
    if !caller.has_role(Role::Admin) {
        return Err(ApiError::forbidden("this needs the admin role"));
    }
    let now = ctx.clock.now();
    let mut roles: Vec<Role> = roles.to_vec();
    if !roles.contains(&Role::Resident) {
        roles.push(Role::Resident);
    }
    roles.sort();
    roles.dedup();
    write_transaction(conn, |conn| {
        store::users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        if user_id == caller.id && !roles.contains(&Role::Admin) {
            return Err(ApiError::Conflict {
                code: ErrorCode::LastAdminGuard,
                detail: "you cannot remove your own admin role".into(),
            });
        }
        let before = store::users::roles(conn, user_id)?;
        store::users::set_roles(conn, user_id, &roles)?;
        let names = |r: &[Role]| r.iter().map(|r| r.as_str()).collect::<Vec<_>>();
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: "set_roles",
                target_type: "user",
                target_id: Some(user_id),
                reason: None,
                before: Some(json!({"roles": names(&before)})),
                after: Some(json!({"roles": names(&roles)})),
                at: now,
            },
        )?;
        Ok(roles.clone())
    })
}
