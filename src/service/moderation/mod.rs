//! Moderation (openapi.yaml, tag "moderation"): flags and the review queue, closing,
//! locking, hiding and merging questions, suspensions and roles. Every
//! moderator and admin action is written to the audit log in the same
//! transaction as the action itself.

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::service::Caller;
use crate::service::Context;
use crate::service::audit::{self, Action};
use crate::service::notifications::{self, Event, Kind};
use crate::service::posts::{self, PostState, Target};
use crate::service::reputation::experts;
use crate::service::webhooks;
use crate::store::{self, DbConn, write_transaction};

pub mod close_votes;
pub mod erasure;
mod flags;
mod question_actions;
mod review;
mod users;

pub use flags::{FLAG_REASONS, FlagView, flag};
pub use question_actions::{Merged, QuestionAction, act_on_question, merge};
pub use review::{AuthorHistory, PostView, Resolution, Resolved, ReviewItem, queue, resolve};
pub use users::{set_roles, suspend, unsuspend};

/// The state before a moderator's action, for the audit log.
pub(super) fn snapshot(post: &PostState) -> Value {
    json!({"hidden": post.hidden_at.is_some(), "deleted": post.deleted_at.is_some()})
}

/// Hides or unhides a post, keeping counts, the question's state and the
/// search index in step.
pub(super) fn set_hidden(conn: &mut DbConn, post: &PostState, hidden: bool, now: NaiveDateTime) -> ApiResult<()> {
    if post.hidden_at.is_some() == hidden {
        return Ok(());
    }
    let at = hidden.then_some(now);
    match post.target {
        Target::Question(id) => {
            store::moderation::set_question_hidden(conn, id, at)?;
            if post.deleted_at.is_none() {
                let delta = if hidden { -1 } else { 1 };
                let question = store::questions::find(conn, id)?.ok_or_else(|| ApiError::not_found("question"))?;
                store::categories::adjust_count(conn, question.category_id, delta)?;
                let tag_ids = store::tags::ids_of_question(conn, id)?;
                store::tags::adjust_counts(conn, &tag_ids, delta)?;
            }
        }
        Target::Answer(id) => {
            store::moderation::set_answer_hidden(conn, id, at)?;
            let question =
                store::questions::find(conn, post.question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
            posts::state::refresh_state(conn, &question)?;
            experts::refresh_answer_stats(conn, post.author_id, question.category_id, now)?;
        }
        Target::Comment(id) => store::moderation::set_comment_hidden(conn, id, at)?,
    }
    store::outbox::enqueue(conn, post.question_id, if hidden { "hidden" } else { "unhidden" }, now)?;
    if hidden {
        webhooks::events::post_hidden(conn, post.target, post.question_id, now)?;
    }
    Ok(())
}

/// Tells a post's author a moderator acted on it.
pub(super) fn tell_author(
    conn: &mut DbConn,
    post: &PostState,
    actor_id: Option<i64>,
    now: NaiveDateTime,
) -> ApiResult<()> {
    let answer_id = match post.target {
        Target::Answer(id) => Some(id),
        _ => None,
    };
    let comment_id = match post.target {
        Target::Comment(id) => Some(id),
        _ => None,
    };
    let event =
        Event { kind: Kind::ModeratorAction, question_id: post.question_id, answer_id, comment_id, actor_id, at: now };
    notifications::notify(conn, &[post.author_id], event)
}

/// Hides or unhides a post (moderators).
pub fn hide(conn: &mut DbConn, ctx: &Context, caller: &Caller, target: Target, hidden: bool) -> ApiResult<()> {
    caller.require_moderator()?;
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        let post = posts::load_post(conn, target)?;
        if post.deleted_at.is_some() {
            return Err(ApiError::not_found(target.kind()));
        }
        if post.hidden_at.is_some() == hidden {
            return Ok(());
        }
        set_hidden(conn, &post, hidden, now)?;
        let action = if hidden { "hide" } else { "unhide" };
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action,
                target_type: target.kind(),
                target_id: Some(target.id()),
                reason: None,
                before: Some(snapshot(&post)),
                after: Some(json!({"hidden": hidden, "deleted": false})),
                at: now,
            },
        )?;
        if hidden { tell_author(conn, &post, Some(caller.id), now) } else { Ok(()) }
    })
}
