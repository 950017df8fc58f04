//! Answers: post, edit with revisions, soft delete, and acceptance by the
//! asker (or a moderator).

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use crate::clock::rfc3339;
use crate::domain::Body;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::Context;
use crate::service::accounts::new_accounts;
use crate::service::community::revisions;
use crate::service::deflection;
use crate::service::markdown;
use crate::service::notifications::{self, Event, Kind};
use crate::service::posts::{self, CommentView, PostType, Target, UserView, UserViews};
use crate::service::privileges::Privilege;
use crate::service::reputation;
use crate::service::reputation::badges;
use crate::service::reputation::experts;
use crate::service::settings::ReputationPoints;
use crate::service::webhooks;
use crate::store::answers::{Answer, AnswerInsertForm, AnswerRow};
use crate::store::questions::Question;
use crate::store::revisions::NewRevision;
use crate::store::{self, DbConn, write_transaction};

#[derive(Debug, Clone, Serialize)]
pub struct VerifiedInfo {
    #[serde(with = "rfc3339")]
    pub verified_at: NaiveDateTime,
    pub verified_by: Option<UserView>,
    /// The date by which staff should review the answer (YYYY-MM-DD).
    pub review_by: Option<chrono::NaiveDate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswerView {
    pub id: i64,
    pub question_id: i64,
    pub body: String,
    pub body_html: String,
    pub author: UserView,
    pub score: i32,
    pub accepted: bool,
    /// Present when council staff verified the answer.
    pub verified: Option<VerifiedInfo>,
    pub hidden: bool,
    pub deleted: bool,
    pub my_vote: Option<i32>,
    pub comments: Vec<CommentView>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// The staff who verified answers on a page, looked up together.
pub struct Verifiers(HashMap<i64, UserView>);

impl Verifiers {
    pub fn load(conn: &mut DbConn, users: &UserViews, ids: &[i64]) -> ApiResult<Verifiers> {
        let refs = store::users::refs(conn, ids)?;
        Ok(Verifiers(refs.into_iter().map(|r| (r.id, users.view(r))).collect()))
    }
}

pub fn view(
    row: AnswerRow,
    users: &UserViews,
    verifiers: &Verifiers,
    accepted_answer_id: Option<i64>,
    my_vote: Option<i32>,
    comments: Vec<CommentView>,
) -> AnswerView {
    let a = row.answer;
    let verified = a.verified_at.map(|verified_at| VerifiedInfo {
        verified_at,
        verified_by: a.verified_by.and_then(|id| verifiers.0.get(&id).cloned()),
        review_by: a.review_by.map(|t| t.date()),
    });
    AnswerView {
        id: a.id,
        question_id: a.question_id,
        accepted: accepted_answer_id == Some(a.id),
        verified,
        hidden: a.hidden_at.is_some(),
        deleted: a.deleted_at.is_some(),
        body: a.body,
        body_html: a.body_html,
        author: users.view(row.author),
        score: a.score,
        my_vote,
        comments,
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

/// The reading order of a question page: accepted first, then council-verified, then by
/// score, then oldest.
pub fn sort_for_reading(answers: &mut [AnswerView]) {
    answers.sort_by(|a, b| {
        b.accepted
            .cmp(&a.accepted)
            .then(b.verified.is_some().cmp(&a.verified.is_some()))
            .then(b.score.cmp(&a.score))
            .then(a.created_at.cmp(&b.created_at))
            .then(a.id.cmp(&b.id))
    });
}

fn require_open(question: &Question) -> ApiResult<()> {
    if question.locked_at.is_some() {
        return Err(ApiError::Conflict { code: ErrorCode::QuestionLocked, detail: "the question is locked".into() });
    }
    if question.closed_at.is_some() {
        return Err(ApiError::Conflict { code: ErrorCode::QuestionClosed, detail: "the question is closed".into() });
    }
    Ok(())
}

/// Answers a question (not a closed or locked one) and tells its followers.
pub fn create(conn: &mut DbConn, ctx: &Context, caller: &Caller, question_id: i64, body: Body) -> ApiResult<i64> {
    let now = ctx.clock.now();
    let rules = ctx.rules(conn)?;
    caller.require(&rules.privileges, Privilege::Answer)?;
    new_accounts::check_new_post(conn, &rules.new_accounts, caller, PostType::Answer, body.as_str(), now)?;
    let body_html = markdown::render(body.as_str());
    write_transaction(conn, |conn| {
        let question = posts::visible_question(conn, Some(caller), question_id)?;
        require_open(&question)?;
        let id = insert(conn, &question, caller.id, body.as_str(), &body_html, now)?;
        deflection::record_action(conn, "answer_posted", caller, question_id, Some(id), now)?;
        webhooks::events::answer_created(conn, question_id, id, now)?;
        posts::personal_info::guard(conn, Target::Answer(id), body.as_str(), now)?;
        Ok(id)
    })
}

/// Stores an answer inside the caller's transaction: the row, its first
/// revision, the question's state, the followers' notifications and the
/// outbox entry. Shared by the API, the demo seeder and importers.
pub fn insert(
    conn: &mut DbConn,
    question: &Question,
    author_id: i64,
    body: &str,
    body_html: &str,
    at: NaiveDateTime,
) -> ApiResult<i64> {
    let answer = store::answers::insert(
        conn,
        &AnswerInsertForm { question_id: question.id, author_id, body, body_html, created_at: at, updated_at: at },
    )?;
    store::revisions::insert_original(conn, &revision(answer.id, author_id, body, at))?;
    badges::after_answer(conn, author_id, at)?;
    posts::state::refresh_state(conn, question)?;
    store::questions::touch(conn, question.id, at)?;
    notifications::notify_followers(
        conn,
        Event {
            kind: Kind::AnswerPosted { asker_id: question.author_id },
            question_id: question.id,
            answer_id: Some(answer.id),
            comment_id: None,
            actor_id: Some(author_id),
            at,
        },
    )?;
    store::outbox::enqueue(conn, question.id, "answer_created", at)?;
    Ok(answer.id)
}

fn revision(answer_id: i64, editor_id: i64, body: &str, now: NaiveDateTime) -> NewRevision<'_> {
    NewRevision {
        post_type: PostType::Answer.as_str(),
        post_id: answer_id,
        editor_id,
        title: None,
        body,
        tags: None,
        created_at: now,
    }
}

/// Edits an answer; `redact` (moderators) hides the earlier revisions'
/// text from all but admins.
pub fn edit(conn: &mut DbConn, ctx: &Context, caller: &Caller, id: i64, body: Body, redact: bool) -> ApiResult<()> {
    let now = ctx.clock.now();
    let body_html = markdown::render(body.as_str());
    write_transaction(conn, |conn| {
        let (answer, question) = posts::visible_answer(conn, Some(caller), id)?;
        let rules = ctx.rules(conn)?;
        posts::require_editor(caller, &rules.privileges, answer.author_id)?;
        new_accounts::check_links(&rules.new_accounts, caller, body.as_str(), now)?;
        if redact {
            caller.require_moderator()?;
        }
        if question.locked_at.is_some() && !caller.is_moderator() {
            return Err(ApiError::Conflict {
                code: ErrorCode::QuestionLocked,
                detail: "the question is locked".into(),
            });
        }
        store::answers::update_body(conn, id, body.as_str(), &body_html, now)?;
        store::revisions::append(conn, &revision(id, caller.id, body.as_str(), now))?;
        store::questions::touch(conn, question.id, now)?;
        store::outbox::enqueue(conn, question.id, "answer_edited", now)?;
        posts::personal_info::guard(conn, Target::Answer(id), body.as_str(), now)?;
        if redact {
            revisions::redact_history(conn, PostType::Answer, id, now)?;
        }
        posts::moderator_edits::record_moderator_edit(conn, caller, Target::Answer(id), answer.author_id, redact, now)
    })
}

/// Soft-deletes an answer (its author or a moderator). A deleted answer
/// stops being the accepted one.
pub fn delete(conn: &mut DbConn, ctx: &Context, caller: &Caller, id: i64) -> ApiResult<()> {
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        let (answer, question) = posts::visible_answer(conn, Some(caller), id)?;
        if answer.deleted_at.is_some() {
            return Ok(());
        }
        if answer.author_id != caller.id && !caller.is_moderator() {
            return Err(ApiError::forbidden("only the author or a moderator may delete this answer"));
        }
        soft_delete(conn, &answer, &question, now)?;
        posts::moderator_edits::record_moderator_delete(conn, caller, Target::Answer(id), answer.author_id, now)
    })
}

/// Marks an answer deleted: it stops being accepted, the question's state,
/// the author's statistics and search follow (the API's delete and
/// moderation both use this).
pub fn soft_delete(conn: &mut DbConn, answer: &Answer, question: &Question, now: NaiveDateTime) -> ApiResult<()> {
    if answer.deleted_at.is_some() {
        return Ok(());
    }
    store::answers::set_deleted(conn, answer.id, Some(now))?;
    if question.accepted_answer_id == Some(answer.id) {
        reputation::reverse(conn, reputation::Source::Acceptance(answer.id), now)?;
    }
    posts::state::refresh_state(conn, question)?;
    experts::refresh_answer_stats(conn, answer.author_id, question.category_id, now)?;
    store::outbox::enqueue(conn, question.id, "answer_deleted", now)?;
    Ok(())
}

/// The acceptance state after a change.
#[derive(Debug, Serialize)]
pub struct Acceptance {
    pub question_id: i64,
    pub accepted_answer_id: Option<i64>,
    pub status: String,
}

fn require_asker(caller: &Caller, question: &Question) -> ApiResult<()> {
    if question.author_id == caller.id || caller.is_moderator() {
        return Ok(());
    }
    Err(ApiError::forbidden("only the asker or a moderator may accept an answer"))
}

/// Accepts an answer, moving the acceptance if another one held it.
pub fn accept(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    question_id: i64,
    answer_id: i64,
) -> ApiResult<Acceptance> {
    let now = ctx.clock.now();
    let delay_hours = ctx.rules(conn)?.community.self_accept_after_hours;
    write_transaction(conn, |conn| {
        let question = posts::visible_question(conn, Some(caller), question_id)?;
        require_asker(caller, &question)?;
        if question.locked_at.is_some() {
            return Err(ApiError::Conflict {
                code: ErrorCode::QuestionLocked,
                detail: "the question is locked".into(),
            });
        }
        let answer = store::answers::find(conn, answer_id)?
            .filter(|a| a.question_id == question_id && a.is_visible())
            .ok_or_else(|| ApiError::validation("answer_id", "is not a visible answer to this question"))?;
        let self_answer = answer.author_id == question.author_id;
        let earliest = question.created_at + Duration::hours(i64::from(delay_hours));
        if self_answer && !caller.is_moderator() && now < earliest {
            return Err(ApiError::Forbidden {
                code: ErrorCode::SelfAcceptTooEarly,
                detail: format!(
                    "you can accept your own answer {delay_hours} hours after asking, from {}",
                    rfc3339::format(&earliest)
                ),
            });
        }
        if question.accepted_answer_id == Some(answer_id) {
            return Ok(Acceptance { question_id, accepted_answer_id: Some(answer_id), status: question.status });
        }
        let rules = ctx.rules(conn)?;
        set_accepted(conn, &rules.reputation, question, &answer, caller.id, now)?;
        deflection::record_action(conn, "answer_accepted", caller, question_id, Some(answer_id), now)?;
        webhooks::events::question_solved(conn, question_id, answer_id, now)?;
        acceptance(conn, question_id)
    })
}

/// Makes `answer` the accepted answer inside the caller's transaction and
/// tells its author. Shared by the API, the demo seeder and importers.
pub fn set_accepted(
    conn: &mut DbConn,
    points: &ReputationPoints,
    question: Question,
    answer: &Answer,
    actor_id: i64,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let question_id = question.id;
    reputation::on_acceptance(
        conn,
        points,
        question.author_id,
        question.accepted_answer_id,
        Some((answer.id, answer.author_id)),
        question.category_id,
        at,
    )?;
    let previous = question.accepted_answer_id;
    let changed = Question { accepted_answer_id: Some(answer.id), ..question };
    posts::state::refresh_state(conn, &changed)?;
    refresh_answerer_stats(conn, &changed, previous, at)?;
    experts::refresh_answer_stats(conn, answer.author_id, changed.category_id, at)?;
    store::questions::touch(conn, question_id, at)?;
    notifications::notify(
        conn,
        &[answer.author_id],
        Event {
            kind: Kind::AnswerAccepted,
            question_id,
            answer_id: Some(answer.id),
            comment_id: None,
            actor_id: Some(actor_id),
            at,
        },
    )?;
    store::outbox::enqueue(conn, question_id, "answer_accepted", at)?;
    Ok(())
}

/// Removes the acceptance (idempotent).
pub fn unaccept(conn: &mut DbConn, ctx: &Context, caller: &Caller, question_id: i64) -> ApiResult<Acceptance> {
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        let question = posts::visible_question(conn, Some(caller), question_id)?;
        require_asker(caller, &question)?;
        if question.accepted_answer_id.is_none() {
            return Ok(Acceptance { question_id, accepted_answer_id: None, status: question.status });
        }
        let points = &ctx.rules(conn)?.reputation;
        let previous = question.accepted_answer_id;
        reputation::on_acceptance(conn, points, question.author_id, previous, None, question.category_id, now)?;
        let changed = Question { accepted_answer_id: None, ..question };
        posts::state::refresh_state(conn, &changed)?;
        refresh_answerer_stats(conn, &changed, previous, now)?;
        store::outbox::enqueue(conn, question_id, "answer_unaccepted", now)?;
        acceptance(conn, question_id)
    })
}

/// Recounts the statistics of the author of the answer that lost the
/// acceptance.
fn refresh_answerer_stats(
    conn: &mut DbConn,
    question: &Question,
    previous: Option<i64>,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let Some(previous) = previous.filter(|&p| Some(p) != question.accepted_answer_id) else {
        return Ok(());
    };
    if let Some(answer) = store::answers::find(conn, previous)? {
        experts::refresh_answer_stats(conn, answer.author_id, question.category_id, at)?;
    }
    Ok(())
}

fn acceptance(conn: &mut DbConn, question_id: i64) -> ApiResult<Acceptance> {
    let question = store::questions::find(conn, question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
    Ok(Acceptance { question_id, accepted_answer_id: question.accepted_answer_id, status: question.status })
}

/// The 201 body of an answer its author has just posted, read after the
/// commit. Nothing has happened to it yet (no comments, votes,
/// verification or acceptance), so only the row and its author's public
/// roles are read: two statements where [`load_view`] runs six, of the 26
/// a POST answer ran (bench/results/2026-12-07-profiles.md).
pub fn new_view(conn: &mut DbConn, id: i64) -> ApiResult<AnswerView> {
    let row = store::answers::find_row(conn, id)?.ok_or_else(|| ApiError::not_found("answer"))?;
    let users = UserViews::load(conn, &[row.author.id])?;
    let no_verifiers = Verifiers(HashMap::new());
    // The caller (its author) has not voted on it: 0, as for any signed-in
    // reader without a vote.
    Ok(view(row, &users, &no_verifiers, None, Some(0), Vec::new()))
}

/// One answer as its question page shows it (after an edit).
pub fn load_view(conn: &mut DbConn, viewer: Option<&Caller>, id: i64) -> ApiResult<AnswerView> {
    let (answer, question) = posts::visible_answer(conn, viewer, id)?;
    let author = store::users::refs(conn, &[answer.author_id])?.pop().ok_or_else(|| ApiError::not_found("user"))?;
    let comment_rows: Vec<_> = store::comments::for_question(conn, question.id)?
        .into_iter()
        .filter(|r| r.comment.answer_id == Some(id))
        .filter(|r| posts::can_see(viewer, r.comment.author_id, r.comment.hidden_at, r.comment.deleted_at))
        .collect();
    let mut user_ids: Vec<i64> = comment_rows.iter().map(|r| r.author.id).collect();
    user_ids.push(author.id);
    user_ids.extend(answer.verified_by);
    let users = UserViews::load(conn, &user_ids)?;
    let verifiers = Verifiers::load(conn, &users, &answer.verified_by.into_iter().collect::<Vec<_>>())?;
    let my_vote = match viewer {
        Some(v) => Some(
            store::votes::of_voter(conn, v.id, PostType::Answer.as_str(), &[id])?
                .first()
                .map_or(0, |&(_, value)| value),
        ),
        None => None,
    };
    let comments = comment_rows
        .into_iter()
        .map(|r| CommentView {
            id: r.comment.id,
            body: r.comment.body,
            body_html: r.comment.body_html,
            author: users.view(r.author),
            created_at: r.comment.created_at,
        })
        .collect();
    Ok(view(AnswerRow { answer, author }, &users, &verifiers, question.accepted_answer_id, my_vote, comments))
}
