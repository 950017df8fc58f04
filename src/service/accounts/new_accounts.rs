//! Limits on new accounts (the settings' `new_accounts`): below the reputation and age of the
//! settings, a user may post only so many questions and answers an hour
//! and so many links a post. Staff, moderators and admins are exempt.

use chrono::{Duration, NaiveDateTime};

use crate::domain::Role;
use crate::error::{ApiError, ApiResult};
use crate::service::Caller;
use crate::service::markdown;
use crate::service::posts::PostType;
use crate::service::settings::NewAccountLimits;
use crate::store::{self, DbConn};

fn is_new(caller: &Caller, limits: &NewAccountLimits, now: NaiveDateTime) -> bool {
    let exempt = caller.has_role(Role::Staff) || caller.is_moderator();
    let young = caller.created_at > now - Duration::hours(limits.younger_than_hours.into());
    !exempt && young && caller.reputation < limits.below_reputation
}

/// Checks a post's text, new or edited, against the links-per-post limit
/// of new accounts. Edits are checked too, or a new account could post
/// plain text and add the links afterwards.
pub fn check_links(limits: &NewAccountLimits, caller: &Caller, body: &str, now: NaiveDateTime) -> ApiResult<()> {
    if !is_new(caller, limits, now) || markdown::count_links(body) <= limits.links_per_post as usize {
        return Ok(());
    }
    Err(ApiError::validation(
        "body",
        &format!("new accounts may include at most {} links in a post", limits.links_per_post),
    ))
}

/// Checks a new post by `caller` against the new-account limits.
pub fn check_new_post(
    conn: &mut DbConn,
    limits: &NewAccountLimits,
    caller: &Caller,
    post_type: PostType,
    body: &str,
    now: NaiveDateTime,
) -> ApiResult<()> {
    if !is_new(caller, limits, now) {
        return Ok(());
    }
    check_links(limits, caller, body, now)?;
    let hour_ago = now - Duration::hours(1);
    let (recent, allowed) = match post_type {
        PostType::Question => {
            (store::questions::created_by_since(conn, caller.id, hour_ago)?, limits.questions_per_hour)
        }
        PostType::Answer => (store::answers::created_by_since(conn, caller.id, hour_ago)?, limits.answers_per_hour),
    };
    if recent.len() < allowed as usize {
        return Ok(());
    }
    // The oldest post of the hour leaves the window first.
    let frees_at = recent.iter().min().map_or(now, |&oldest| oldest + Duration::hours(1));
    Err(ApiError::RateLimited {
        retry_after_secs: (frees_at - now).num_seconds().max(1) as u64,
        detail: format!(
            "new accounts may post {allowed} {}s an hour; this limit lifts at {} reputation",
            post_type.as_str(),
            limits.below_reputation
        ),
    })
}
