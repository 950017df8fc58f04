//! Flags: residents flag posts, enough spam or abuse flags hide one, and
//! the personal-information guard flags posts for review.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;

use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::Context;
use crate::service::audit::{self, Action};
use crate::service::privileges::Privilege;
use crate::service::webhooks;
use crate::store::flags::{Flag, FlagInsertForm};
use crate::store::{self, DbConn, write_transaction};

use super::{set_hidden, snapshot, tell_author};
use crate::service::posts::{PostState, Target, load_post};

#[derive(Debug, Serialize)]
pub struct FlagView {
    pub id: i64,
    pub target_type: String,
    pub target_id: i64,
    pub question_id: i64,
    /// `null` for flags the system raised.
    pub reporter_id: Option<i64>,
    pub reason: String,
    pub note: Option<String>,
    pub status: String,
    pub resolution: Option<String>,
    pub resolved_by: Option<i64>,
    #[serde(with = "rfc3339::option")]
    pub resolved_at: Option<NaiveDateTime>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

pub(super) fn flag_view(f: Flag) -> FlagView {
    FlagView {
        id: f.id,
        target_type: f.target_type,
        target_id: f.target_id,
        question_id: f.question_id,
        reporter_id: f.reporter_id,
        reason: f.reason,
        note: f.note,
        status: f.status,
        resolution: f.resolution,
        resolved_by: f.resolved_by,
        resolved_at: f.resolved_at,
        created_at: f.created_at,
    }
}

pub const FLAG_REASONS: [&str; 6] = ["spam", "abusive", "off_topic", "duplicate", "personal_info", "other"];

/// A user flags a post (once per post). Three spam or abuse flags from
/// distinct users hide it until a moderator reviews it.
pub fn flag(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    target: Target,
    reason: &str,
    note: Option<&str>,
) -> ApiResult<FlagView> {
    let rules = ctx.rules(conn)?;
    caller.require(&rules.privileges, Privilege::Flag)?;
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        lock_post(conn, target)?;
        let post = load_post(conn, target)?;
        if post.deleted_at.is_some()
            || (post.hidden_at.is_some() && !caller.is_moderator() && post.author_id != caller.id)
        {
            return Err(ApiError::not_found(target.kind()));
        }
        if post.author_id == caller.id {
            return Err(ApiError::Forbidden {
                code: ErrorCode::OwnPost,
                detail: "you cannot flag your own post".into(),
            });
        }
        if store::flags::by_reporter(conn, caller.id, target.kind(), target.id())?.is_some() {
            return Err(ApiError::Conflict {
                code: ErrorCode::AlreadyFlagged,
                detail: "you have already flagged this post".into(),
            });
        }
        let flag = store::flags::insert(
            conn,
            &FlagInsertForm {
                reporter_id: Some(caller.id),
                target_type: target.kind(),
                target_id: target.id(),
                question_id: post.question_id,
                target_author_id: post.author_id,
                reason,
                note,
                created_at: now,
            },
        )?;
        webhooks::events::flag_created(conn, flag.id, reason, target, post.question_id, now)?;
        if matches!(reason, "spam" | "abusive") && post.hidden_at.is_none() {
            auto_hide_if_flagged(conn, &post, rules.moderation.auto_hide_flags, now)?;
        }
        Ok(flag_view(flag))
    })
}

/// Serialises flags on one post: under PostgreSQL's read committed, three
/// flags arriving at once would each count the pending flags before the
/// others commit, see fewer than three, and never hide the post.
fn lock_post(conn: &mut DbConn, target: Target) -> ApiResult<()> {
    let found = match target {
        Target::Question(id) => store::moderation::lock_question(conn, id)?,
        Target::Answer(id) => store::moderation::lock_answer(conn, id)?,
        Target::Comment(id) => store::moderation::lock_comment(conn, id)?,
    };
    if found { Ok(()) } else { Err(ApiError::not_found(target.kind())) }
}

/// Hides a post once `needed` distinct users have flagged it as spam or
/// abuse (the settings' `moderation.auto_hide_flags`).
fn auto_hide_if_flagged(conn: &mut DbConn, post: &PostState, needed: i32, now: NaiveDateTime) -> ApiResult<()> {
    let serious = store::flags::pending_for(conn, post.target.kind(), post.target.id())?
        .into_iter()
        .filter(|f| matches!(f.reason.as_str(), "spam" | "abusive"))
        .filter_map(|f| f.reporter_id)
        .collect::<std::collections::BTreeSet<i64>>();
    if serious.len() < needed as usize {
        return Ok(());
    }
    set_hidden(conn, post, true, now)?;
    audit::record(
        conn,
        Action {
            actor_id: None,
            action: "auto_hide",
            target_type: post.target.kind(),
            target_id: Some(post.target.id()),
            reason: Some("spam or abuse flags from enough different users"),
            before: Some(snapshot(post)),
            after: Some(json!({"hidden": true, "deleted": post.deleted_at.is_some()})),
            at: now,
        },
    )?;
    tell_author(conn, post, None, now)
}
