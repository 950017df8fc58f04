//! Reputation (the point table is the settings' `reputation`): an append-only ledger
//! of events, each applying points from the settings' point table. The
//! applied `delta` is what the cap and the floor allowed, so
//! `users.reputation` is always 1 + the sum of its ledger, and undoing
//! anything appends the exact opposite of what was applied.
//!
//! - The daily cap: upvote points earned on a UTC day stop at the cap. A
//!   reversal counts against the day of the event it reverses, so undoing
//!   a capped vote takes back nothing that was not given.
//! - The floor: no event takes a user below 1.

pub mod badges;
pub mod experts;
pub mod verification;

use chrono::NaiveDateTime;

use crate::error::ApiResult;
use crate::service::Context;
use crate::service::posts::PostType;
use crate::service::settings::ReputationPoints;
use crate::store::reputation::{ReputationEvent, ReputationEventInsertForm};
use crate::store::{self, DbConn};

/// Why points change hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    QuestionUpvoted,
    AnswerUpvoted,
    PostDownvoted,
    DownvotedAnAnswer,
    AnswerAccepted,
    AcceptedAnAnswer,
    AnswerVerified,
    RemovedAsSpam,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::QuestionUpvoted => "question_upvoted",
            Reason::AnswerUpvoted => "answer_upvoted",
            Reason::PostDownvoted => "post_downvoted",
            Reason::DownvotedAnAnswer => "downvoted_an_answer",
            Reason::AnswerAccepted => "answer_accepted",
            Reason::AcceptedAnAnswer => "accepted_an_answer",
            Reason::AnswerVerified => "answer_verified",
            Reason::RemovedAsSpam => "removed_as_spam",
        }
    }

    fn points(self, table: &ReputationPoints) -> i32 {
        match self {
            Reason::QuestionUpvoted => table.question_upvoted,
            Reason::AnswerUpvoted => table.answer_upvoted,
            Reason::PostDownvoted => table.post_downvoted,
            Reason::DownvotedAnAnswer => table.downvoted_an_answer,
            Reason::AnswerAccepted => table.answer_accepted,
            Reason::AcceptedAnAnswer => table.accepted_an_answer,
            Reason::AnswerVerified => table.answer_verified,
            Reason::RemovedAsSpam => table.removed_as_spam,
        }
    }
}

/// The reasons the daily cap limits (acceptance and verification are
/// exempt, and penalties are never capped).
const CAPPED: [&str; 2] = ["question_upvoted", "answer_upvoted"];

/// What caused an event; undoing the cause reverses its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Vote(i64),
    /// The acceptance of an answer (by answer id).
    Acceptance(i64),
    /// The council verification of an answer (by answer id).
    Verification(i64),
    /// A moderator's removal of a post as spam or abuse.
    Removal(PostType, i64),
}

impl Source {
    fn key(self) -> (&'static str, i64) {
        match self {
            Source::Vote(id) => ("vote", id),
            Source::Acceptance(id) => ("acceptance", id),
            Source::Verification(id) => ("verification", id),
            Source::Removal(PostType::Question, id) => ("question_removal", id),
            Source::Removal(PostType::Answer, id) => ("answer_removal", id),
        }
    }
}

/// The post an event is about, and the category it counts in.
#[derive(Debug, Clone, Copy)]
pub struct PostRef {
    pub post_type: PostType,
    pub post_id: i64,
    pub category_id: i64,
}

fn day_of(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// Gives `user_id` the points of `reason`, within the cap and the floor.
pub fn award(
    conn: &mut DbConn,
    table: &ReputationPoints,
    user_id: i64,
    reason: Reason,
    source: Source,
    post: PostRef,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let points = reason.points(table);
    let day = day_of(at);
    let current = store::reputation::lock_reputation(conn, user_id)?;
    let mut applied = points;
    if points > 0 && CAPPED.contains(&reason.as_str()) {
        let used = store::reputation::sum_for_day(conn, user_id, &day, &CAPPED)?;
        let room = (i64::from(table.daily_vote_cap) - used).max(0);
        applied = applied.min(room as i32);
    }
    applied = applied.max(1 - current);
    record(conn, user_id, applied, points, reason.as_str(), source, post, &day, None, at)
}

/// Reverses every event of `source` still in force.
pub fn reverse(conn: &mut DbConn, source: Source, at: NaiveDateTime) -> ApiResult<()> {
    let (source_type, source_id) = source.key();
    for event in store::reputation::active_for_source(conn, source_type, source_id)? {
        reverse_event(conn, source, &event, at)?;
    }
    Ok(())
}

fn reverse_event(conn: &mut DbConn, source: Source, event: &ReputationEvent, at: NaiveDateTime) -> ApiResult<()> {
    let current = store::reputation::lock_reputation(conn, event.user_id)?;
    let applied = (-event.delta).max(1 - current);
    let post_type = match event.post_type.as_deref() {
        Some("answer") => PostType::Answer,
        _ => PostType::Question,
    };
    let post = PostRef {
        post_type,
        post_id: event.post_id.unwrap_or_default(),
        category_id: event.category_id.unwrap_or_default(),
    };
    // The reversal counts against the cap day of the event it undoes.
    record(conn, event.user_id, applied, -event.points, &event.reason, source, post, &event.day, Some(event.id), at)
}

#[allow(clippy::too_many_arguments)]
fn record(
    conn: &mut DbConn,
    user_id: i64,
    delta: i32,
    points: i32,
    reason: &str,
    source: Source,
    post: PostRef,
    day: &str,
    reverses_id: Option<i64>,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let (source_type, source_id) = source.key();
    store::reputation::insert(
        conn,
        &ReputationEventInsertForm {
            user_id,
            delta,
            points,
            reason,
            source_type,
            source_id,
            post_type: Some(post.post_type.as_str()),
            post_id: Some(post.post_id),
            category_id: Some(post.category_id),
            day,
            reverses_id,
            created_at: at,
        },
    )?;
    if delta != 0 {
        store::reputation::add_to_user(conn, user_id, delta)?;
    }
    store::reputation::add_to_category(conn, user_id, post.category_id, delta)?;
    Ok(())
}

/// Whether `source` has events in force (e.g. a post already penalised).
pub fn is_active(conn: &mut DbConn, source: Source) -> ApiResult<bool> {
    let (source_type, source_id) = source.key();
    Ok(!store::reputation::active_for_source(conn, source_type, source_id)?.is_empty())
}

/// A vote moved from one value to another: reverse what the old value
/// gave, then apply the new value's events.
pub struct VoteEvents {
    pub vote_id: i64,
    pub voter_id: i64,
    pub author_id: i64,
    pub value: i32,
    pub post: PostRef,
    pub at: NaiveDateTime,
}

pub fn on_vote(conn: &mut DbConn, table: &ReputationPoints, vote: &VoteEvents) -> ApiResult<()> {
    let source = Source::Vote(vote.vote_id);
    reverse(conn, source, vote.at)?;
    let is_answer = vote.post.post_type == PostType::Answer;
    match vote.value {
        1 => {
            let reason = if is_answer { Reason::AnswerUpvoted } else { Reason::QuestionUpvoted };
            award(conn, table, vote.author_id, reason, source, vote.post, vote.at)
        }
        -1 => {
            award(conn, table, vote.author_id, Reason::PostDownvoted, source, vote.post, vote.at)?;
            if is_answer {
                award(conn, table, vote.voter_id, Reason::DownvotedAnAnswer, source, vote.post, vote.at)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The accepted answer changed from `previous_answer_id` to `accepted`
/// (answer id, answerer id). Self-answers earn nothing: neither the +15
/// nor the asker's +2.
pub fn on_acceptance(
    conn: &mut DbConn,
    table: &ReputationPoints,
    asker_id: i64,
    previous_answer_id: Option<i64>,
    accepted: Option<(i64, i64)>,
    category_id: i64,
    at: NaiveDateTime,
) -> ApiResult<()> {
    if let Some(answer_id) = previous_answer_id {
        reverse(conn, Source::Acceptance(answer_id), at)?;
    }
    let Some((answer_id, answerer_id)) = accepted else {
        return Ok(());
    };
    if answerer_id == asker_id {
        return Ok(());
    }
    let post = PostRef { post_type: PostType::Answer, post_id: answer_id, category_id };
    let source = Source::Acceptance(answer_id);
    award(conn, table, answerer_id, Reason::AnswerAccepted, source, post, at)?;
    award(conn, table, asker_id, Reason::AcceptedAnAnswer, source, post, at)
}

/// Differences between the cached reputations and the ledger.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// (user id, cached, ledger)
    pub users: Vec<(i64, i32, i64)>,
    /// (user id, category id, cached, ledger)
    pub categories: Vec<(i64, i64, i32, i64)>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.users.is_empty() && self.categories.is_empty()
    }
}

/// Recomputes every user's reputation (and per-category reputation) from
/// the ledger; with `repair`, makes the cached values agree.
pub fn check(conn: &mut DbConn, repair: bool) -> ApiResult<CheckReport> {
    let report = CheckReport {
        users: store::reputation::mismatches(conn)?,
        categories: store::reputation::category_mismatches(conn)?,
    };
    if repair {
        store::write_transaction(conn, |conn| -> ApiResult<()> {
            for &(user_id, _, ledger) in &report.users {
                store::reputation::set_user_reputation(conn, user_id, ledger as i32)?;
            }
            for &(user_id, category_id, _, ledger) in &report.categories {
                store::reputation::set_category_reputation(conn, user_id, category_id, ledger as i32)?;
            }
            Ok(())
        })?;
    }
    Ok(report)
}

/// A moderator removed a post as spam or abuse: its author loses the
/// removal points, once per post however often it is removed.
pub fn penalise_removal(conn: &mut DbConn, ctx: &Context, post_type: PostType, post_id: i64) -> ApiResult<()> {
    let at = ctx.clock.now();
    let table = ctx.rules(conn)?.reputation.clone();
    store::write_transaction(conn, |conn| {
        let (author_id, question_id) = match post_type {
            PostType::Question => {
                let q = store::questions::find(conn, post_id)?
                    .ok_or_else(|| crate::error::ApiError::not_found("question"))?;
                (q.author_id, q.id)
            }
            PostType::Answer => {
                let a =
                    store::answers::find(conn, post_id)?.ok_or_else(|| crate::error::ApiError::not_found("answer"))?;
                (a.author_id, a.question_id)
            }
        };
        let source = Source::Removal(post_type, post_id);
        if is_active(conn, source)? {
            return Ok(());
        }
        let question =
            store::questions::find(conn, question_id)?.ok_or_else(|| crate::error::ApiError::not_found("question"))?;
        let post = PostRef { post_type, post_id, category_id: question.category_id };
        award(conn, &table, author_id, Reason::RemovedAsSpam, source, post, at)
    })
}
