//! Closing (as a duplicate too), reopening, locking and merging questions.

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::Context;
use crate::service::audit::{self, Action};
use crate::service::reputation;
use crate::service::reputation::experts;
use crate::store::questions::Question;
use crate::store::{self, DbConn, write_transaction};

use super::tell_author;
use crate::service::posts::{self, Target, load_post};

pub(super) fn question_snapshot(q: &Question) -> Value {
    json!({
        "closed": q.closed_at.is_some(),
        "close_reason": q.close_reason,
        "duplicate_of": q.duplicate_of,
        "locked": q.locked_at.is_some(),
    })
}

/// What a moderator does to a question.
#[derive(Debug, Clone)]
pub enum QuestionAction {
    Close { reason: String, duplicate_of: Option<i64> },
    Reopen,
    Lock,
    Unlock,
}

/// Closes (optionally as a duplicate), reopens, locks or unlocks a
/// question. Repeating an action is harmless.
pub fn act_on_question(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    id: i64,
    action: QuestionAction,
) -> ApiResult<()> {
    caller.require_moderator()?;
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        let question = posts::visible_question(conn, Some(caller), id)?;
        if question.deleted_at.is_some() {
            return Err(ApiError::not_found("question"));
        }
        let before = question_snapshot(&question);
        let (name, reason) = match &action {
            QuestionAction::Close { reason, duplicate_of } => {
                if let Some(target) = duplicate_of {
                    check_duplicate_target(conn, caller, id, *target)?;
                }
                store::questions::set_closed(conn, id, Some(now), Some(reason), *duplicate_of)?;
                ("close", Some(reason.as_str()))
            }
            QuestionAction::Reopen => {
                if question.close_reason.as_deref() == Some(store::questions::MERGED) {
                    return Err(ApiError::Conflict {
                        code: ErrorCode::Merged,
                        detail: "a merged question stays closed; its answers live on in the target".into(),
                    });
                }
                store::questions::set_closed(conn, id, None, None, None)?;
                super::close_votes::clear(conn, id)?;
                ("reopen", None)
            }
            QuestionAction::Lock => {
                store::questions::set_locked(conn, id, Some(question.locked_at.unwrap_or(now)))?;
                ("lock", None)
            }
            QuestionAction::Unlock => {
                store::questions::set_locked(conn, id, None)?;
                ("unlock", None)
            }
        };
        let after = store::questions::find(conn, id)?.ok_or_else(|| ApiError::not_found("question"))?;
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: name,
                target_type: "question",
                target_id: Some(id),
                reason,
                before: Some(before),
                after: Some(question_snapshot(&after)),
                at: now,
            },
        )?;
        store::outbox::enqueue(conn, id, name, now)?;
        let post = load_post(conn, Target::Question(id))?;
        if matches!(action, QuestionAction::Close { .. } | QuestionAction::Lock) {
            tell_author(conn, &post, Some(caller.id), now)?;
        }
        Ok(())
    })
}

/// A duplicate must point at another live question that does not itself
/// point back (no cycles).
pub(super) fn check_duplicate_target(conn: &mut DbConn, caller: &Caller, id: i64, target: i64) -> ApiResult<Question> {
    if target == id {
        return Err(ApiError::validation("duplicate_of", "a question cannot duplicate itself"));
    }
    let canonical = posts::visible_question(conn, Some(caller), target)
        .map_err(|_| ApiError::validation("duplicate_of", "no such question"))?;
    if canonical.deleted_at.is_some() || canonical.duplicate_of == Some(id) {
        return Err(ApiError::validation(
            "duplicate_of",
            "must be a live question that is not a duplicate of this one",
        ));
    }
    Ok(canonical)
}

#[derive(Debug, Serialize)]
pub struct Merged {
    pub source_id: i64,
    pub target_id: i64,
    pub answers_moved: usize,
    pub comments_moved: usize,
    pub followers_moved: usize,
}

/// Merges a question into another: its answers, comments and followers
/// move to the target; the source stays as a closed duplicate pointing at
/// it. Counts, states, reputation statistics and the index follow.
pub fn merge(conn: &mut DbConn, ctx: &Context, caller: &Caller, source_id: i64, target_id: i64) -> ApiResult<Merged> {
    caller.require_moderator()?;
    let now = ctx.clock.now();
    let points = ctx.rules(conn)?.reputation.clone();
    write_transaction(conn, |conn| {
        let source = posts::visible_question(conn, Some(caller), source_id)?;
        if source.deleted_at.is_some() {
            return Err(ApiError::not_found("question"));
        }
        if source.close_reason.as_deref() == Some(store::questions::MERGED) {
            return Err(ApiError::Conflict {
                code: ErrorCode::Merged,
                detail: "this question was already merged".into(),
            });
        }
        let target = check_duplicate_target(conn, caller, source_id, target_id)?;
        // The source's acceptance cannot follow its answer to a question
        // someone else asked.
        if source.accepted_answer_id.is_some() {
            reputation::on_acceptance(
                conn,
                &points,
                source.author_id,
                source.accepted_answer_id,
                None,
                source.category_id,
                now,
            )?;
        }
        let moved = store::moderation::move_posts(conn, source_id, target_id, now)?;
        store::flags::move_question(conn, source_id, target_id)?;
        store::questions::set_closed(conn, source_id, Some(now), Some(store::questions::MERGED), Some(target_id))?;
        // The source leaves lists and counts.
        if source.hidden_at.is_none() {
            store::categories::adjust_count(conn, source.category_id, -1)?;
            let tag_ids = store::tags::ids_of_question(conn, source_id)?;
            store::tags::adjust_counts(conn, &tag_ids, -1)?;
        }
        let cleared = Question { accepted_answer_id: None, ..source.clone() };
        posts::state::refresh_state(conn, &cleared)?;
        posts::state::refresh_state(conn, &target)?;
        store::questions::touch(conn, target_id, now)?;
        for author in store::moderation::answer_authors(conn, target_id)? {
            experts::refresh_answer_stats(conn, author, source.category_id, now)?;
            experts::refresh_answer_stats(conn, author, target.category_id, now)?;
        }
        store::outbox::enqueue(conn, source_id, "merged", now)?;
        store::outbox::enqueue(conn, target_id, "merged", now)?;
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: "merge",
                target_type: "question",
                target_id: Some(source_id),
                reason: None,
                before: Some(question_snapshot(&source)),
                after: Some(
                    json!({"merged_into": target_id, "answers_moved": moved.0, "comments_moved": moved.1, "followers_moved": moved.2}),
                ),
                at: now,
            },
        )?;
        let post = load_post(conn, Target::Question(source_id))?;
        tell_author(conn, &post, Some(caller.id), now)?;
        Ok(Merged { source_id, target_id, answers_moved: moved.0, comments_moved: moved.1, followers_moved: moved.2 })
    })
}
