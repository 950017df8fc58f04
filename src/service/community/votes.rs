//! Votes on questions and answers: PUT semantics (the value replaces the
//! caller's vote; 0 removes it), no self-votes, a daily limit.

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::Context;
use crate::service::posts::{self, PostType};
use crate::service::privileges::Privilege;
use crate::service::reputation::badges;
use crate::service::reputation::{self, PostRef, VoteEvents};
use crate::service::settings::ReputationPoints;
use crate::store::votes::Vote;
use crate::store::{self, DbConn, write_transaction};

#[derive(Debug, Serialize)]
pub struct VoteResult {
    pub post_type: &'static str,
    pub post_id: i64,
    pub score: i32,
    pub my_vote: i32,
}

/// A post being voted on.
struct Target {
    author_id: i64,
    question_id: i64,
    category_id: i64,
    score: i32,
    locked: bool,
}

fn target(conn: &mut DbConn, caller: &Caller, post_type: PostType, id: i64) -> ApiResult<Target> {
    match post_type {
        PostType::Question => {
            let q = posts::visible_question(conn, Some(caller), id)?;
            Ok(Target {
                author_id: q.author_id,
                question_id: q.id,
                category_id: q.category_id,
                score: q.score,
                locked: q.locked_at.is_some(),
            })
        }
        PostType::Answer => {
            let (a, q) = posts::visible_answer(conn, Some(caller), id)?;
            Ok(Target {
                author_id: a.author_id,
                question_id: q.id,
                category_id: q.category_id,
                score: a.score,
                locked: q.locked_at.is_some(),
            })
        }
    }
}

fn start_of_day(now: NaiveDateTime) -> NaiveDateTime {
    now.date().and_hms_opt(0, 0, 0).unwrap_or(now)
}

/// Sets the caller's vote on a post to `value` (1, -1 or 0). Repeating a
/// vote changes nothing.
pub fn cast(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    post_type: PostType,
    post_id: i64,
    value: i32,
) -> ApiResult<VoteResult> {
    let now = ctx.clock.now();
    let rules = ctx.rules(conn)?;
    match value {
        1 => caller.require(&rules.privileges, Privilege::VoteUp)?,
        -1 => caller.require(&rules.privileges, Privilege::VoteDown)?,
        0 => {}
        _ => return Err(ApiError::validation("value", "must be 1, -1 or 0")),
    }
    write_transaction(conn, |conn| {
        let target = target(conn, caller, post_type, post_id)?;
        if target.author_id == caller.id {
            return Err(ApiError::Forbidden {
                code: ErrorCode::SelfVote,
                detail: "you cannot vote on your own post".into(),
            });
        }
        if target.locked {
            return Err(ApiError::Conflict {
                code: ErrorCode::QuestionLocked,
                detail: "the question is locked".into(),
            });
        }
        let existing = store::votes::find(conn, caller.id, post_type.as_str(), post_id)?;
        if existing.as_ref().map_or(0, |v| v.value) == value {
            return Ok(VoteResult { post_type: post_type.as_str(), post_id, score: target.score, my_vote: value });
        }
        if existing.is_none() {
            check_daily_limit(conn, rules.community.daily_votes, caller.id, now)?;
        }
        let vote = VoteChange {
            voter_id: caller.id,
            author_id: target.author_id,
            post_type,
            post_id,
            question_id: target.question_id,
            category_id: target.category_id,
            value,
            at: now,
        };
        let delta = apply(conn, &rules.reputation, existing.as_ref(), &vote)?;
        Ok(VoteResult { post_type: post_type.as_str(), post_id, score: target.score + delta, my_vote: value })
    })
}

/// A vote to record, already authorised.
pub struct VoteChange {
    pub voter_id: i64,
    pub author_id: i64,
    pub post_type: PostType,
    pub post_id: i64,
    pub question_id: i64,
    pub category_id: i64,
    pub value: i32,
    pub at: NaiveDateTime,
}

/// Records a vote inside the caller's transaction, replacing `existing`
/// (the voter's current vote on the post), moves the post's score and the
/// author's (and voter's) reputation; returns the change in score. Shared
/// by the API, the demo seeder and importers.
pub fn apply(
    conn: &mut DbConn,
    points: &ReputationPoints,
    existing: Option<&Vote>,
    change: &VoteChange,
) -> ApiResult<i32> {
    // A withdrawn vote stays as a 0 row, so withdrawing and re-voting
    // cannot dodge the daily limit.
    let previous = existing.map_or(0, |v| v.value);
    let vote_id = match existing {
        Some(vote) => {
            store::votes::set_value(conn, vote.id, change.value, change.at)?;
            vote.id
        }
        None => {
            let post_type = change.post_type.as_str();
            store::votes::insert(conn, change.voter_id, post_type, change.post_id, change.value, change.at)?.id
        }
    };
    let post = PostRef { post_type: change.post_type, post_id: change.post_id, category_id: change.category_id };
    reputation::on_vote(
        conn,
        points,
        &VoteEvents {
            vote_id,
            voter_id: change.voter_id,
            author_id: change.author_id,
            value: change.value,
            post,
            at: change.at,
        },
    )?;
    let delta = change.value - previous;
    match change.post_type {
        PostType::Question => store::questions::add_to_score(conn, change.post_id, delta)?,
        PostType::Answer => {
            store::answers::add_to_score(conn, change.post_id, delta)?;
            badges::after_answer_vote(conn, change.author_id, change.at)?;
        }
    }
    store::outbox::enqueue(conn, change.question_id, "vote", change.at)?;
    Ok(delta)
}

/// At most `daily_votes` new votes per UTC day (the settings' `community`).
fn check_daily_limit(conn: &mut DbConn, daily_votes: i32, voter_id: i64, now: NaiveDateTime) -> ApiResult<()> {
    let day_start = start_of_day(now);
    if store::votes::count_cast_since(conn, voter_id, day_start)? < i64::from(daily_votes) {
        return Ok(());
    }
    let next_day = day_start + Duration::days(1);
    Err(ApiError::RateLimited {
        retry_after_secs: (next_day - now).num_seconds().max(1) as u64,
        detail: format!("you have used your {daily_votes} votes for today (UTC)"),
    })
}
