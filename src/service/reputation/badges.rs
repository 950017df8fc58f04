//! Badges: awarded when their condition first holds, never taken away.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::store::{self, DbConn};

/// Every badge and what earns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Badge {
    FirstAnswer,
    FirstAcceptedAnswer,
    TenAcceptedAnswers,
    FiftyAcceptedAnswers,
    FirstVerifiedAnswer,
    TenGoodAnswers,
}

impl Badge {
    pub fn as_str(self) -> &'static str {
        match self {
            Badge::FirstAnswer => "first_answer",
            Badge::FirstAcceptedAnswer => "first_accepted_answer",
            Badge::TenAcceptedAnswers => "accepted_answers_10",
            Badge::FiftyAcceptedAnswers => "accepted_answers_50",
            Badge::FirstVerifiedAnswer => "first_verified_answer",
            Badge::TenGoodAnswers => "good_answers_10",
        }
    }
}

/// An answer score that counts as good.
pub const GOOD_ANSWER_SCORE: i32 = 5;

#[derive(Debug, Serialize)]
pub struct BadgeView {
    pub badge: String,
    #[serde(with = "rfc3339")]
    pub awarded_at: NaiveDateTime,
}

pub fn of_user(conn: &mut DbConn, user_id: i64) -> ApiResult<Vec<BadgeView>> {
    Ok(store::badges::of_user(conn, user_id)?
        .into_iter()
        .map(|(badge, awarded_at)| BadgeView { badge, awarded_at })
        .collect())
}

fn award(conn: &mut DbConn, user_id: i64, badge: Badge, at: NaiveDateTime) -> ApiResult<()> {
    store::badges::award(conn, user_id, badge.as_str(), at)?;
    Ok(())
}

/// After a user posts an answer.
pub fn after_answer(conn: &mut DbConn, user_id: i64, at: NaiveDateTime) -> ApiResult<()> {
    award(conn, user_id, Badge::FirstAnswer, at)
}

/// After a user's accepted-answer count changed (it is already recounted).
pub fn after_acceptance(conn: &mut DbConn, user_id: i64, accepted_answers: i32, at: NaiveDateTime) -> ApiResult<()> {
    for (threshold, badge) in
        [(1, Badge::FirstAcceptedAnswer), (10, Badge::TenAcceptedAnswers), (50, Badge::FiftyAcceptedAnswers)]
    {
        if accepted_answers >= threshold {
            award(conn, user_id, badge, at)?;
        }
    }
    Ok(())
}

pub fn after_verification(conn: &mut DbConn, user_id: i64, at: NaiveDateTime) -> ApiResult<()> {
    award(conn, user_id, Badge::FirstVerifiedAnswer, at)
}

/// After a vote on one of the user's answers.
pub fn after_answer_vote(conn: &mut DbConn, user_id: i64, at: NaiveDateTime) -> ApiResult<()> {
    if store::badges::answers_scoring_at_least(conn, user_id, GOOD_ANSWER_SCORE)? >= 10 {
        award(conn, user_id, Badge::TenGoodAnswers, at)?;
    }
    Ok(())
}
