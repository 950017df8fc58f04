//! Comments on questions and answers.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::domain::CommentBody;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::Context;
use crate::service::markdown;
use crate::service::notifications::{self, Event, Kind};
use crate::service::posts::{self, PostType, Target, UserView, UserViews};
use crate::service::privileges::Privilege;
use crate::store::comments::CommentInsertForm;
use crate::store::{self, DbConn, write_transaction};

#[derive(Debug, Serialize)]
pub struct CreatedComment {
    pub id: i64,
    pub question_id: i64,
    pub answer_id: Option<i64>,
    pub body: String,
    pub body_html: String,
    pub author: UserView,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

/// Comments on a question or an answer. Anyone with `comment` may; the
/// asker may always comment on their question and its answers, and an
/// author on their own post, so clarifications never need reputation.
pub fn create(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    post_type: PostType,
    post_id: i64,
    body: CommentBody,
) -> ApiResult<CreatedComment> {
    let now = ctx.clock.now();
    let body_html = markdown::render(body.as_str());
    write_transaction(conn, |conn| {
        let (question, answer) = match post_type {
            PostType::Question => (posts::visible_question(conn, Some(caller), post_id)?, None),
            PostType::Answer => {
                let (answer, question) = posts::visible_answer(conn, Some(caller), post_id)?;
                (question, Some(answer))
            }
        };
        let post_author = answer.as_ref().map_or(question.author_id, |a| a.author_id);
        let involved = caller.id == post_author || caller.id == question.author_id;
        if !involved {
            caller.require(&ctx.rules(conn)?.privileges, Privilege::Comment)?;
        }
        if question.locked_at.is_some() && !caller.is_moderator() {
            return Err(ApiError::Conflict {
                code: ErrorCode::QuestionLocked,
                detail: "the question is locked".into(),
            });
        }
        let comment = store::comments::insert(
            conn,
            &CommentInsertForm {
                question_id: question.id,
                answer_id: answer.as_ref().map(|a| a.id),
                author_id: caller.id,
                body: body.as_str(),
                body_html: &body_html,
                created_at: now,
            },
        )?;
        posts::personal_info::guard(conn, Target::Comment(comment.id), body.as_str(), now)?;
        notifications::notify(
            conn,
            &[post_author],
            Event {
                kind: Kind::CommentPosted,
                question_id: question.id,
                answer_id: comment.answer_id,
                comment_id: Some(comment.id),
                actor_id: Some(caller.id),
                at: now,
            },
        )?;
        let author = store::users::refs(conn, &[caller.id])?.pop().ok_or_else(|| ApiError::not_found("user"))?;
        let users = UserViews::load(conn, &[caller.id])?;
        Ok(CreatedComment {
            id: comment.id,
            question_id: comment.question_id,
            answer_id: comment.answer_id,
            body: comment.body,
            body_html: comment.body_html,
            author: users.view(author),
            created_at: comment.created_at,
        })
    })
}

/// Soft-deletes a comment (its author or a moderator; a moderator's
/// delete of someone else's comment is recorded in the audit log).
pub fn delete(conn: &mut DbConn, ctx: &Context, caller: &Caller, id: i64) -> ApiResult<()> {
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        let comment = store::comments::find(conn, id)?
            .filter(|c| posts::can_see(Some(caller), c.author_id, c.hidden_at, c.deleted_at))
            .ok_or_else(|| ApiError::not_found("comment"))?;
        posts::visible_question(conn, Some(caller), comment.question_id).map_err(|_| ApiError::not_found("comment"))?;
        if comment.author_id != caller.id && !caller.is_moderator() {
            return Err(ApiError::forbidden("only the author or a moderator may delete this comment"));
        }
        if comment.deleted_at.is_some() {
            return Ok(());
        }
        store::comments::set_deleted(conn, id, Some(now))?;
        posts::moderator_edits::record_moderator_delete(conn, caller, Target::Comment(id), comment.author_id, now)
    })
}
