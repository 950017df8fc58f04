//! Moderation (API.md "Moderation"): flags and the review queue, closing,
//! locking, hiding and merging questions, suspensions and roles. Every
//! moderator and admin action is written to the audit log in the same
//! transaction as the action itself.

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::service::audit::{self, Action};
use crate::service::notifications::{self, Event, Kind};
use crate::service::posts::{Caller, PostType};
use crate::service::{experts, questions};
use crate::state::AppState;
use crate::store::{self, DbConn, write_transaction};

mod flags;
mod question_actions;
mod review;
mod users;

pub use flags::{FLAG_REASONS, FlagView, flag, guard_personal_info};
pub use question_actions::{Merged, QuestionAction, act_on_question, merge};
pub use review::{AuthorHistory, PostView, Resolution, Resolved, ReviewItem, queue, resolve};
pub use users::{set_roles, suspend, unsuspend};

/// Flags from this many distinct users for spam or abuse hide a post until
/// a moderator reviews it.
pub const AUTO_HIDE_FLAGS: usize = 3;

pub fn require_moderator(caller: &Caller) -> ApiResult<()> {
    if caller.is_moderator() {
        return Ok(());
    }
    Err(ApiError::forbidden("this needs a moderator"))
}

/// A post anything can be flagged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Question(i64),
    Answer(i64),
    Comment(i64),
}

impl Target {
    pub fn parse(kind: &str, id: i64) -> Option<Target> {
        match kind {
            "question" => Some(Target::Question(id)),
            "answer" => Some(Target::Answer(id)),
            "comment" => Some(Target::Comment(id)),
            _ => None,
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Target::Question(_) => "question",
            Target::Answer(_) => "answer",
            Target::Comment(_) => "comment",
        }
    }

    pub fn id(self) -> i64 {
        match self {
            Target::Question(id) | Target::Answer(id) | Target::Comment(id) => id,
        }
    }
}

/// What moderation needs to know about a post.
#[derive(Debug, Clone)]
pub struct PostState {
    pub target: Target,
    pub question_id: i64,
    pub author_id: i64,
    pub title: Option<String>,
    pub body: String,
    pub hidden_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

impl PostState {
    fn snapshot(&self) -> Value {
        json!({"hidden": self.hidden_at.is_some(), "deleted": self.deleted_at.is_some()})
    }
}

pub fn load_post(conn: &mut DbConn, target: Target) -> ApiResult<PostState> {
    let not_found = || ApiError::not_found(target.kind());
    Ok(match target {
        Target::Question(id) => {
            let q = store::questions::find(conn, id)?.ok_or_else(not_found)?;
            PostState {
                target,
                question_id: q.id,
                author_id: q.author_id,
                title: Some(q.title),
                body: q.body,
                hidden_at: q.hidden_at,
                deleted_at: q.deleted_at,
                created_at: q.created_at,
            }
        }
        Target::Answer(id) => {
            let a = store::answers::find(conn, id)?.ok_or_else(not_found)?;
            PostState {
                target,
                question_id: a.question_id,
                author_id: a.author_id,
                title: None,
                body: a.body,
                hidden_at: a.hidden_at,
                deleted_at: a.deleted_at,
                created_at: a.created_at,
            }
        }
        Target::Comment(id) => {
            let c = store::comments::find(conn, id)?.ok_or_else(not_found)?;
            PostState {
                target,
                question_id: c.question_id,
                author_id: c.author_id,
                title: None,
                body: c.body,
                hidden_at: c.hidden_at,
                deleted_at: c.deleted_at,
                created_at: c.created_at,
            }
        }
    })
}

/// Hides or unhides a post, keeping counts, the question's state and the
/// search index in step.
fn set_hidden(conn: &mut DbConn, post: &PostState, hidden: bool, now: NaiveDateTime) -> ApiResult<()> {
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
            questions::refresh_state(conn, &question)?;
            experts::refresh_answer_stats(conn, post.author_id, question.category_id, now)?;
        }
        Target::Comment(id) => store::moderation::set_comment_hidden(conn, id, at)?,
    }
    store::outbox::enqueue(conn, post.question_id, if hidden { "hidden" } else { "unhidden" }, now)?;
    Ok(())
}

/// Tells a post's author a moderator acted on it.
fn tell_author(conn: &mut DbConn, post: &PostState, actor_id: Option<i64>, now: NaiveDateTime) -> ApiResult<()> {
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
pub fn hide(conn: &mut DbConn, state: &AppState, caller: &Caller, target: Target, hidden: bool) -> ApiResult<()> {
    require_moderator(caller)?;
    let now = state.clock.now();
    write_transaction(conn, |conn| {
        let post = load_post(conn, target)?;
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
                before: Some(post.snapshot()),
                after: Some(json!({"hidden": hidden, "deleted": false})),
                at: now,
            },
        )?;
        if hidden { tell_author(conn, &post, Some(caller.id), now) } else { Ok(()) }
    })
}

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

/// Marks every revision of a post before the newest as redacted: their
/// text stays for admins and is hidden from everyone else.
pub fn redact_history(conn: &mut DbConn, post_type: PostType, post_id: i64, now: NaiveDateTime) -> ApiResult<()> {
    store::moderation::redact_revisions(conn, post_type.as_str(), post_id, now)?;
    Ok(())
}
