//! Community closing: users with the `close_vote` privilege vote to close a
//! question, and the settings' `moderation.close_votes` votes close it,
//! with the reason most voters gave. A moderator's vote closes it at once.
//! A reopening clears the votes, so closing again takes a fresh set.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;

use super::question_actions::{check_duplicate_target, question_snapshot};
use super::tell_author;
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::audit::{self, Action};
use crate::service::posts::{self, Target, load_post};
use crate::service::privileges::Privilege;
use crate::service::{Caller, Context};
use crate::store::close_votes::CloseVote;
use crate::store::questions::Question;
use crate::store::{self, DbConn, write_transaction};

/// Why a question should be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Asked before: `duplicate_of` names the question that has the answer.
    Duplicate,
    /// Not about the council's services.
    OffTopic,
    /// Cannot be answered as asked.
    Unclear,
    /// About one resident's own case: only the council can answer it.
    CaseSpecific,
}

impl CloseReason {
    pub const ALL: [CloseReason; 4] =
        [CloseReason::Duplicate, CloseReason::OffTopic, CloseReason::Unclear, CloseReason::CaseSpecific];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Duplicate => "duplicate",
            CloseReason::OffTopic => "off_topic",
            CloseReason::Unclear => "unclear",
            CloseReason::CaseSpecific => "case_specific",
        }
    }

    fn parse(stored: &str) -> Option<CloseReason> {
        CloseReason::ALL.into_iter().find(|r| r.as_str() == stored)
    }
}

/// A vote as its voter casts it.
#[derive(Debug, Clone, Copy)]
pub struct CloseVoteRequest {
    pub reason: CloseReason,
    pub duplicate_of: Option<i64>,
}

/// The caller's own vote.
#[derive(Debug, Serialize)]
pub struct MyCloseVote {
    pub reason: CloseReason,
    pub duplicate_of: Option<i64>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

/// Where a question stands: votes cast, votes needed, and the caller's.
#[derive(Debug, Serialize)]
pub struct CloseVotes {
    pub question_id: i64,
    pub count: usize,
    pub needed: i32,
    pub closed: bool,
    /// `null` for anonymous callers and users who have not voted.
    pub my_vote: Option<MyCloseVote>,
}

/// Casts (or changes) the caller's vote; the vote that reaches the number
/// needed closes the question.
pub fn cast(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    question_id: i64,
    request: CloseVoteRequest,
) -> ApiResult<CloseVotes> {
    let rules = ctx.rules(conn)?;
    caller.require(&rules.privileges, Privilege::CloseVote)?;
    check_request(&request)?;
    let needed = rules.moderation.close_votes;
    let now = ctx.now();
    write_transaction(conn, |conn| {
        let question = open_question(conn, caller, question_id)?;
        if let Some(target) = request.duplicate_of {
            check_duplicate_target(conn, caller, question_id, target)?;
        }
        let vote = CloseVote {
            question_id,
            voter_id: caller.id,
            reason: request.reason.as_str().to_owned(),
            duplicate_of: request.duplicate_of,
            created_at: now,
        };
        store::close_votes::upsert(conn, &vote)?;
        let votes = store::close_votes::for_question(conn, question_id)?;
        if caller.is_moderator() {
            close(conn, &question, Closing::ByModerator(caller.id, &vote), now)?;
        } else if votes.len() >= needed as usize {
            close(conn, &question, Closing::ByVotes(&votes), now)?;
        }
        summary_of(conn, Some(caller), question_id, needed)
    })
}

/// Takes the caller's vote back while the question is still open.
pub fn retract(conn: &mut DbConn, ctx: &Context, caller: &Caller, question_id: i64) -> ApiResult<CloseVotes> {
    let needed = ctx.rules(conn)?.moderation.close_votes;
    write_transaction(conn, |conn| {
        open_question(conn, caller, question_id)?;
        store::close_votes::delete(conn, question_id, caller.id)?;
        summary_of(conn, Some(caller), question_id, needed)
    })
}

/// Where the question stands, for anyone who may see it.
pub fn summary(conn: &mut DbConn, ctx: &Context, viewer: Option<&Caller>, question_id: i64) -> ApiResult<CloseVotes> {
    let needed = ctx.rules(conn)?.moderation.close_votes;
    posts::visible_question(conn, viewer, question_id)?;
    summary_of(conn, viewer, question_id, needed)
}

/// A reopened question starts again from no votes.
pub(super) fn clear(conn: &mut DbConn, question_id: i64) -> ApiResult<()> {
    store::close_votes::clear(conn, question_id)?;
    Ok(())
}

fn check_request(request: &CloseVoteRequest) -> ApiResult<()> {
    match (request.reason, request.duplicate_of) {
        (CloseReason::Duplicate, None) => {
            Err(ApiError::validation("duplicate_of", "names the question this one duplicates"))
        }
        (reason, Some(_)) if reason != CloseReason::Duplicate => {
            Err(ApiError::validation("duplicate_of", "is only for the reason duplicate"))
        }
        _ => Ok(()),
    }
}

/// The question, locked for this transaction (so simultaneous votes are
/// counted one after the other), if it can still be voted on.
fn open_question(conn: &mut DbConn, caller: &Caller, question_id: i64) -> ApiResult<Question> {
    store::moderation::lock_question(conn, question_id)?;
    let question = posts::visible_question(conn, Some(caller), question_id)?;
    if question.deleted_at.is_some() {
        return Err(ApiError::not_found("question"));
    }
    if question.locked_at.is_some() {
        return Err(ApiError::conflicting(ErrorCode::QuestionLocked, "the question is locked"));
    }
    if question.closed_at.is_some() {
        return Err(ApiError::conflicting(ErrorCode::QuestionClosed, "the question is already closed"));
    }
    Ok(question)
}

fn summary_of(conn: &mut DbConn, viewer: Option<&Caller>, question_id: i64, needed: i32) -> ApiResult<CloseVotes> {
    let question = store::questions::find(conn, question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
    let votes = store::close_votes::for_question(conn, question_id)?;
    let my_vote = viewer.and_then(|v| votes.iter().find(|vote| vote.voter_id == v.id)).and_then(|vote| {
        Some(MyCloseVote {
            reason: CloseReason::parse(&vote.reason)?,
            duplicate_of: vote.duplicate_of,
            created_at: vote.created_at,
        })
    });
    Ok(CloseVotes { question_id, count: votes.len(), needed, closed: question.closed_at.is_some(), my_vote })
}

enum Closing<'a> {
    ByModerator(i64, &'a CloseVote),
    ByVotes(&'a [CloseVote]),
}

/// Closes the question as the votes (or the moderator) say, with the audit
/// entry, the index update and the asker told.
fn close(conn: &mut DbConn, question: &Question, closing: Closing<'_>, now: NaiveDateTime) -> ApiResult<()> {
    let (actor_id, reason, duplicate_of, voters) = match closing {
        Closing::ByModerator(moderator, vote) => {
            (Some(moderator), vote.reason.clone(), vote.duplicate_of, vec![moderator])
        }
        Closing::ByVotes(votes) => {
            let (reason, duplicate_of) = verdict(votes);
            (None, reason, duplicate_of, votes.iter().map(|v| v.voter_id).collect())
        }
    };
    store::questions::set_closed(conn, question.id, Some(now), Some(&reason), duplicate_of)?;
    let after = store::questions::find(conn, question.id)?.ok_or_else(|| ApiError::not_found("question"))?;
    let mut after_state = question_snapshot(&after);
    after_state["close_voters"] = json!(voters);
    let why = format!("{reason} ({} close vote{})", voters.len(), if voters.len() == 1 { "" } else { "s" });
    audit::record(
        conn,
        Action {
            actor_id,
            action: "close",
            target_type: "question",
            target_id: Some(question.id),
            reason: Some(&why),
            before: Some(question_snapshot(question)),
            after: Some(after_state),
            at: now,
        },
    )?;
    store::outbox::enqueue(conn, question.id, "close", now)?;
    let post = load_post(conn, Target::Question(question.id))?;
    tell_author(conn, &post, actor_id, now)
}

/// The reason most voters gave (a tie goes to the reason voted first) and,
/// when it is `duplicate`, the target most of them named (likewise).
fn verdict(votes: &[CloseVote]) -> (String, Option<i64>) {
    let reason = most_common(votes.iter().map(|v| v.reason.clone())).unwrap_or_default();
    let duplicate_of = if reason == CloseReason::Duplicate.as_str() {
        most_common(votes.iter().filter_map(|v| v.duplicate_of))
    } else {
        None
    };
    (reason, duplicate_of)
}

/// The most frequent value; among equally frequent ones, the first seen.
fn most_common<T: PartialEq>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut counted: Vec<(T, usize)> = Vec::new();
    for value in values {
        match counted.iter_mut().find(|(seen, _)| *seen == value) {
            Some((_, n)) => *n += 1,
            None => counted.push((value, 1)),
        }
    }
    let best = counted.iter().map(|(_, n)| *n).max()?;
    counted.into_iter().find(|(_, n)| *n == best).map(|(value, _)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(voter_id: i64, reason: CloseReason, duplicate_of: Option<i64>) -> CloseVote {
        CloseVote {
            question_id: 1,
            voter_id,
            reason: reason.as_str().to_owned(),
            duplicate_of,
            created_at: NaiveDateTime::default(),
        }
    }

    #[test]
    fn the_verdict_is_the_most_common_reason_ties_going_to_the_first() {
        use CloseReason::*;
        let votes = [vote(1, Unclear, None), vote(2, OffTopic, None), vote(3, OffTopic, None)];
        assert_eq!(verdict(&votes), ("off_topic".to_owned(), None));
        let tied = [vote(1, Unclear, None), vote(2, OffTopic, None), vote(3, CaseSpecific, None)];
        assert_eq!(verdict(&tied), ("unclear".to_owned(), None));
        let duplicates = [vote(1, Duplicate, Some(7)), vote(2, Duplicate, Some(9)), vote(3, Duplicate, Some(9))];
        assert_eq!(verdict(&duplicates), ("duplicate".to_owned(), Some(9)));
        let mixed = [vote(1, Duplicate, Some(7)), vote(2, Unclear, None), vote(3, Duplicate, Some(8))];
        assert_eq!(verdict(&mixed), ("duplicate".to_owned(), Some(7)));
    }

    #[test]
    fn a_duplicate_names_its_target_and_nothing_else_does() {
        let request = |reason, duplicate_of| CloseVoteRequest { reason, duplicate_of };
        assert!(check_request(&request(CloseReason::Duplicate, Some(3))).is_ok());
        assert!(check_request(&request(CloseReason::Duplicate, None)).is_err());
        assert!(check_request(&request(CloseReason::OffTopic, Some(3))).is_err());
        assert!(check_request(&request(CloseReason::Unclear, None)).is_ok());
    }
}
