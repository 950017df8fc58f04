//! The review queue and how a moderator resolves a flag.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;

use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::Context;
use crate::service::audit::{self, Action};
use crate::service::community::answers;
use crate::service::community::questions;
use crate::service::pagination::{CursorCodec, KeyPosition, Page};
use crate::service::posts::{PostType, UserView, UserViews};
use crate::service::reputation;
use crate::store::flags::Flag;
use crate::store::{self, DbConn, write_transaction};

use super::flags::{FlagView, flag_view};
use super::{set_hidden, snapshot, tell_author};
use crate::service::posts::{PostState, Target, load_post};

/// A flag in the review queue, with its post, the author's history and
/// every flag on the post.
#[derive(Debug, Serialize)]
pub struct ReviewItem {
    pub flag: FlagView,
    pub post: PostView,
    pub author_history: AuthorHistory,
    pub flags: Vec<FlagView>,
}

#[derive(Debug, Serialize)]
pub struct PostView {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: i64,
    pub question_id: i64,
    pub title: Option<String>,
    pub body: String,
    pub author: UserView,
    pub hidden: bool,
    pub deleted: bool,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Serialize)]
pub struct AuthorHistory {
    pub questions: i64,
    pub answers: i64,
    pub reputation: i32,
    pub pending_flags: i64,
    /// Flags on their posts that moderators upheld (hide, delete, spam).
    pub upheld_flags: i64,
    #[serde(with = "rfc3339::option")]
    pub suspended_until: Option<NaiveDateTime>,
    #[serde(with = "rfc3339")]
    pub member_since: NaiveDateTime,
}

pub fn queue(
    conn: &mut DbConn,
    codec: &CursorCodec,
    caller: &Caller,
    status: &str,
    cursor: Option<&str>,
    limit: i64,
) -> ApiResult<Page<ReviewItem>> {
    caller.require_moderator()?;
    let scope = format!("flags:{status}");
    let after: Option<KeyPosition<NaiveDateTime>> = cursor.map(|c| codec.decode(&scope, c)).transpose()?;
    let rows = store::flags::queue(conn, status, after.map(|p| (p.k, p.id)), limit + 1)?;
    let has_more = rows.len() as i64 > limit;
    let rows: Vec<Flag> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = if has_more {
        rows.last().map(|f| codec.encode(&scope, &KeyPosition { k: f.created_at, id: f.id }))
    } else {
        None
    };
    let targets: Vec<(String, i64)> = rows.iter().map(|f| (f.target_type.clone(), f.target_id)).collect();
    let all_flags = store::flags::for_targets(conn, &targets)?;
    let mut items = Vec::with_capacity(rows.len());
    for flag in rows {
        let Some(target) = Target::parse(&flag.target_type, flag.target_id) else { continue };
        let post = load_post(conn, target)?;
        let author = store::users::find(conn, post.author_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        let (questions, answers, _) = store::users::post_counts(conn, author.id)?;
        let (pending_flags, upheld_flags) = store::flags::author_history(conn, author.id)?;
        let users = UserViews::load(conn, &[author.id])?;
        let author_ref = store::users::UserRef {
            id: author.id,
            username: author.username.clone(),
            display_name: author.display_name.clone(),
            reputation: author.reputation,
        };
        let flags = all_flags
            .iter()
            .filter(|f| f.target_type == flag.target_type && f.target_id == flag.target_id)
            .cloned()
            .map(flag_view)
            .collect();
        items.push(ReviewItem {
            post: PostView {
                kind: target.kind().to_owned(),
                id: target.id(),
                question_id: post.question_id,
                title: post.title,
                body: post.body,
                author: users.view(author_ref),
                hidden: post.hidden_at.is_some(),
                deleted: post.deleted_at.is_some(),
                created_at: post.created_at,
            },
            author_history: AuthorHistory {
                questions,
                answers,
                reputation: author.reputation,
                pending_flags,
                upheld_flags,
                suspended_until: author.suspended_until,
                member_since: author.created_at,
            },
            flags,
            flag: flag_view(flag),
        });
    }
    Ok(Page { items, next_cursor, has_more })
}

/// How a moderator resolves a flag (and every pending flag on its post).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Nothing wrong: an auto-hidden post comes back.
    Dismiss,
    Hide,
    Delete,
    /// Deleted, and its author loses the removal points (once per post).
    RemoveAsSpam,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Dismiss => "dismiss",
            Resolution::Hide => "hide",
            Resolution::Delete => "delete",
            Resolution::RemoveAsSpam => "remove_as_spam",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Resolved {
    pub flag_id: i64,
    pub resolution: &'static str,
    pub flags_resolved: usize,
    pub post_hidden: bool,
    pub post_deleted: bool,
}

pub fn resolve(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    flag_id: i64,
    resolution: Resolution,
    note: Option<&str>,
) -> ApiResult<Resolved> {
    caller.require_moderator()?;
    let now = ctx.clock.now();
    let points = ctx.rules(conn)?.reputation.clone();
    write_transaction(conn, |conn| {
        let flag = store::flags::find(conn, flag_id)?.ok_or_else(|| ApiError::not_found("flag"))?;
        if flag.status != "pending" {
            return Err(ApiError::Conflict {
                code: ErrorCode::AlreadyResolved,
                detail: "this flag was already resolved".into(),
            });
        }
        let target = Target::parse(&flag.target_type, flag.target_id).ok_or_else(|| ApiError::not_found("post"))?;
        let post = load_post(conn, target)?;
        match resolution {
            Resolution::Dismiss => set_hidden(conn, &post, false, now)?,
            Resolution::Hide => set_hidden(conn, &post, true, now)?,
            Resolution::Delete | Resolution::RemoveAsSpam => delete_post(conn, &post, now)?,
        }
        if resolution == Resolution::RemoveAsSpam {
            remove_as_spam(conn, &points, &post, now)?;
        }
        let resolved =
            store::flags::resolve_target(conn, target.kind(), target.id(), resolution.as_str(), caller.id, note, now)?;
        let after = load_post(conn, target)?;
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: "resolve_flag",
                target_type: target.kind(),
                target_id: Some(target.id()),
                reason: note.or(Some(resolution.as_str())),
                before: Some(snapshot(&post)),
                after: Some(
                    json!({"resolution": resolution.as_str(), "hidden": after.hidden_at.is_some(), "deleted": after.deleted_at.is_some()}),
                ),
                at: now,
            },
        )?;
        if resolution != Resolution::Dismiss {
            tell_author(conn, &post, Some(caller.id), now)?;
        }
        Ok(Resolved {
            flag_id,
            resolution: resolution.as_str(),
            flags_resolved: resolved,
            post_hidden: after.hidden_at.is_some(),
            post_deleted: after.deleted_at.is_some(),
        })
    })
}

fn remove_as_spam(
    conn: &mut DbConn,
    points: &crate::service::settings::ReputationPoints,
    post: &PostState,
    now: NaiveDateTime,
) -> ApiResult<()> {
    let post_type = match post.target {
        Target::Question(_) => PostType::Question,
        Target::Answer(_) => PostType::Answer,
        // Comments carry no reputation.
        Target::Comment(_) => return Ok(()),
    };
    let source = reputation::Source::Removal(post_type, post.target.id());
    if reputation::is_active(conn, source)? {
        return Ok(());
    }
    let question = store::questions::find(conn, post.question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
    let post_ref = reputation::PostRef { post_type, post_id: post.target.id(), category_id: question.category_id };
    reputation::award(conn, points, post.author_id, reputation::Reason::RemovedAsSpam, source, post_ref, now)
}

/// Soft-deletes a post as moderation, through the same functions as the
/// API's deletes (counts, state and index follow).
fn delete_post(conn: &mut DbConn, post: &PostState, now: NaiveDateTime) -> ApiResult<()> {
    let question = store::questions::find(conn, post.question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
    match post.target {
        Target::Question(_) => questions::soft_delete(conn, &question, now),
        Target::Answer(id) => {
            let answer = store::answers::find(conn, id)?.ok_or_else(|| ApiError::not_found("answer"))?;
            answers::soft_delete(conn, &answer, &question, now)
        }
        Target::Comment(id) => Ok(store::comments::set_deleted(conn, id, Some(now))?),
    }
}
