//! Council verification: staff mark an answer as the council's own word,
//! optionally until a review date. A verified answer solves its question
//! and earns its author the verification points; GET /answers/stale lists
//! verified answers whose review date has passed.

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

use crate::clock::rfc3339;
use crate::domain::Role;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::Context;
use crate::service::deflection;
use crate::service::notifications::{self, Event, Kind};
use crate::service::pagination::{self, CursorCodec, KeyPosition, Page};
use crate::service::posts::{self, PostType, UserView, UserViews};
use crate::service::reputation::badges;
use crate::service::reputation::experts;
use crate::service::reputation::{self, PostRef, Reason, Source};
use crate::service::webhooks;
use crate::store::{self, DbConn, write_transaction};

fn require_staff(caller: &Caller) -> ApiResult<()> {
    if caller.has_role(Role::Staff) {
        return Ok(());
    }
    Err(ApiError::forbidden("only council staff can verify answers"))
}

/// Verifies an answer, or changes the review date of a verified one.
/// Staff cannot verify their own answers: verification is a second look.
pub fn verify(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    answer_id: i64,
    review_by: Option<NaiveDate>,
) -> ApiResult<()> {
    require_staff(caller)?;
    let now = ctx.clock.now();
    if let Some(date) = review_by
        && date <= now.date()
    {
        return Err(ApiError::validation("review_by", "must be a future date"));
    }
    let review_by = review_by.and_then(|d| d.and_hms_opt(0, 0, 0));
    let rules = ctx.rules(conn)?;
    write_transaction(conn, |conn| {
        let (answer, question) = posts::visible_answer(conn, Some(caller), answer_id)?;
        if !answer.is_visible() {
            return Err(ApiError::not_found("answer"));
        }
        if answer.author_id == caller.id {
            return Err(ApiError::Forbidden {
                code: ErrorCode::SelfVerify,
                detail: "another member of staff must verify your answer".into(),
            });
        }
        if answer.verified_at.is_some() {
            store::answers::set_verified(conn, answer_id, answer.verified_at, answer.verified_by, review_by)?;
            return Ok(());
        }
        store::answers::set_verified(conn, answer_id, Some(now), Some(caller.id), review_by)?;
        deflection::record_action(conn, "answer_verified", caller, question.id, Some(answer_id), now)?;
        let post = PostRef { post_type: PostType::Answer, post_id: answer_id, category_id: question.category_id };
        let source = Source::Verification(answer_id);
        reputation::award(conn, &rules.reputation, answer.author_id, Reason::AnswerVerified, source, post, now)?;
        after_change(conn, &question, answer.author_id, now)?;
        badges::after_verification(conn, answer.author_id, now)?;
        webhooks::events::answer_verified(conn, question.id, answer_id, caller.id, now)?;
        let event = Event {
            kind: Kind::AnswerVerified,
            question_id: question.id,
            answer_id: Some(answer_id),
            comment_id: None,
            actor_id: Some(caller.id),
            at: now,
        };
        notifications::notify(conn, &[answer.author_id], event)
    })
}

/// Removes a verification (and the points it gave).
pub fn unverify(conn: &mut DbConn, ctx: &Context, caller: &Caller, answer_id: i64) -> ApiResult<()> {
    require_staff(caller)?;
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        let (answer, question) = posts::visible_answer(conn, Some(caller), answer_id)?;
        if answer.verified_at.is_none() {
            return Ok(());
        }
        store::answers::set_verified(conn, answer_id, None, None, None)?;
        reputation::reverse(conn, Source::Verification(answer_id), now)?;
        after_change(conn, &question, answer.author_id, now)
    })
}

fn after_change(
    conn: &mut DbConn,
    question: &store::questions::Question,
    author_id: i64,
    now: NaiveDateTime,
) -> ApiResult<()> {
    posts::state::refresh_state(conn, question)?;
    experts::refresh_answer_stats(conn, author_id, question.category_id, now)?;
    store::outbox::enqueue(conn, question.id, "answer_verification", now)?;
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct StaleAnswer {
    pub answer_id: i64,
    pub question_id: i64,
    pub author: UserView,
    #[serde(with = "rfc3339::option")]
    pub verified_at: Option<NaiveDateTime>,
    pub verified_by: Option<i64>,
    /// The review date that has passed (YYYY-MM-DD).
    pub review_by: Option<NaiveDate>,
}

/// Verified answers past their review date, most overdue first.
pub fn stale(
    conn: &mut DbConn,
    codec: &CursorCodec,
    caller: &Caller,
    now: NaiveDateTime,
    cursor: Option<&str>,
    limit: i64,
) -> ApiResult<Page<StaleAnswer>> {
    require_staff(caller)?;
    const SCOPE: &str = "answers:stale";
    let after: Option<KeyPosition<NaiveDateTime>> = cursor.map(|c| codec.decode(SCOPE, c)).transpose()?;
    let rows = store::answers::stale(conn, now, after.map(|p| (p.k, p.id)), limit + 1)?;
    let users = UserViews::load(conn, &rows.iter().map(|r| r.author.id).collect::<Vec<_>>())?;
    Ok(pagination::page(
        rows,
        limit,
        |r| codec.encode(SCOPE, &KeyPosition { k: r.answer.review_by.unwrap_or_default(), id: r.answer.id }),
        |r| StaleAnswer {
            answer_id: r.answer.id,
            question_id: r.answer.question_id,
            verified_at: r.answer.verified_at,
            verified_by: r.answer.verified_by,
            review_by: r.answer.review_by.map(|t| t.date()),
            author: users.view(r.author),
        },
    ))
}
