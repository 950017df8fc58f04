//! What questions, answers and comments share, below every capability that
//! touches them: who may see and change a post, loading a post of any kind,
//! a question's state (counts and the status rule), the personal-information
//! guard, the audit of moderators' ordinary edits, and the JSON shapes of
//! authors and comments.

pub mod moderator_edits;
pub mod personal_info;
pub mod state;
pub mod views;

pub use views::{CommentView, UserView, UserViews};

use chrono::NaiveDateTime;

use crate::error::{ApiError, ApiResult};
use crate::service::Caller;
use crate::service::privileges::Privilege;
use crate::service::privileges::Thresholds;
use crate::store::answers::Answer;
use crate::store::questions::Question;
use crate::store::{self, DbConn};

/// Whether a post can be seen: live posts by everyone, hidden ones by
/// moderators and their author, deleted ones by moderators only.
pub fn can_see(
    viewer: Option<&Caller>,
    author_id: i64,
    hidden_at: Option<NaiveDateTime>,
    deleted_at: Option<NaiveDateTime>,
) -> bool {
    let moderator = viewer.is_some_and(Caller::is_moderator);
    let author = viewer.is_some_and(|v| v.id == author_id);
    match (hidden_at, deleted_at) {
        (None, None) => true,
        (_, Some(_)) => moderator,
        (Some(_), None) => moderator || author,
    }
}

/// Loads a question the viewer may see, or 404.
pub fn visible_question(conn: &mut DbConn, viewer: Option<&Caller>, id: i64) -> ApiResult<Question> {
    let question = store::questions::find(conn, id)?.ok_or_else(|| ApiError::not_found("question"))?;
    if !can_see(viewer, question.author_id, question.hidden_at, question.deleted_at) {
        return Err(ApiError::not_found("question"));
    }
    Ok(question)
}

/// An answer the viewer may see, with its question, or 404.
pub fn visible_answer(conn: &mut DbConn, viewer: Option<&Caller>, id: i64) -> ApiResult<(Answer, Question)> {
    let answer = store::answers::find(conn, id)?.ok_or_else(|| ApiError::not_found("answer"))?;
    if !can_see(viewer, answer.author_id, answer.hidden_at, answer.deleted_at) {
        return Err(ApiError::not_found("answer"));
    }
    let question = visible_question(conn, viewer, answer.question_id).map_err(|_| ApiError::not_found("answer"))?;
    Ok((answer, question))
}

/// Editing someone's post: its author, `edit_others`, or a moderator.
pub fn require_editor(caller: &Caller, thresholds: &Thresholds, author_id: i64) -> ApiResult<()> {
    if caller.id == author_id || caller.is_moderator() || caller.has(thresholds, Privilege::EditOthers) {
        return Ok(());
    }
    Err(ApiError::forbidden("only the author, a moderator or a user with edit_others may edit this post"))
}

pub const STATUS_UNANSWERED: &str = "unanswered";
pub const STATUS_ANSWERED: &str = "answered";
pub const STATUS_SOLVED: &str = "solved";

/// Solved with an accepted or a council-verified answer, answered
/// with any answer, else unanswered.
pub fn question_status(visible_answers: i64, accepted: bool, verified: bool) -> &'static str {
    if accepted || verified {
        STATUS_SOLVED
    } else if visible_answers > 0 {
        STATUS_ANSWERED
    } else {
        STATUS_UNANSWERED
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostType {
    Question,
    Answer,
}

impl PostType {
    pub fn as_str(self) -> &'static str {
        match self {
            PostType::Question => "question",
            PostType::Answer => "answer",
        }
    }
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

/// What moderation and the guards need to know about a post of any kind.
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
