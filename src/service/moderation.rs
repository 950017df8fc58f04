//! Moderation (API.md "Moderation"): flags and the review queue, closing,
//! locking, hiding and merging questions, suspensions and roles. Every
//! moderator and admin action is written to the audit log in the same
//! transaction as the action itself.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::domain::Role;
use crate::error::{ApiError, ApiResult};
use crate::service::audit::{self, Action};
use crate::service::notifications::{self, Event, Kind};
use crate::service::pagination::{CursorCodec, KeyPosition, Page};
use crate::service::posts::{Caller, PostType, UserView, UserViews};
use crate::service::privileges::Privilege;
use crate::service::{answers, experts, pii, questions, reputation};
use crate::state::AppState;
use crate::store::flags::{Flag, FlagInsertForm};
use crate::store::questions::Question;
use crate::store::{self, DbConn, write_transaction};

/// Flags from this many distinct users for spam or abuse hide a post until
/// a moderator reviews it.
pub const AUTO_HIDE_FLAGS: usize = 3;

pub fn require_moderator(caller: &Caller) -> ApiResult<()> {
    if caller.is_moderator() {
        return Ok(());
    }
    Err(ApiError::forbidden("this needs a moderator"))
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

/// What moderation needs to know about a post.
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

impl PostState {
    fn snapshot(&self) -> Value {
        json!({"hidden": self.hidden_at.is_some(), "deleted": self.deleted_at.is_some()})
    }
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

fn flag_view(f: Flag) -> FlagView {
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
    state: &AppState,
    caller: &Caller,
    target: Target,
    reason: &str,
    note: Option<&str>,
) -> ApiResult<FlagView> {
    let rules = state.rules(conn)?;
    caller.require(&rules.privileges, Privilege::Flag)?;
    let now = state.clock.now();
    write_transaction(conn, |conn| {
        lock_post(conn, target)?;
        let post = load_post(conn, target)?;
        if post.deleted_at.is_some()
            || (post.hidden_at.is_some() && !caller.is_moderator() && post.author_id != caller.id)
        {
            return Err(ApiError::not_found(target.kind()));
        }
        if post.author_id == caller.id {
            return Err(ApiError::Forbidden { code: "own_post", detail: "you cannot flag your own post".into() });
        }
        if store::flags::by_reporter(conn, caller.id, target.kind(), target.id())?.is_some() {
            return Err(ApiError::Conflict {
                code: "already_flagged",
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
        if matches!(reason, "spam" | "abusive") && post.hidden_at.is_none() {
            auto_hide_if_flagged(conn, &post, now)?;
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

fn auto_hide_if_flagged(conn: &mut DbConn, post: &PostState, now: NaiveDateTime) -> ApiResult<()> {
    let serious = store::flags::pending_for(conn, post.target.kind(), post.target.id())?
        .into_iter()
        .filter(|f| matches!(f.reason.as_str(), "spam" | "abusive"))
        .filter_map(|f| f.reporter_id)
        .collect::<std::collections::BTreeSet<i64>>();
    if serious.len() < AUTO_HIDE_FLAGS {
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
            reason: Some("three spam or abuse flags from different users"),
            before: Some(post.snapshot()),
            after: Some(json!({"hidden": true, "deleted": post.deleted_at.is_some()})),
            at: now,
        },
    )?;
    tell_author(conn, post, None, now)
}

/// The personal-information guard: a post that looks like it carries
/// personal details gets a `personal_info` flag from the system (once
/// while one is pending).
pub fn guard_personal_info(conn: &mut DbConn, target: Target, text: &str, now: NaiveDateTime) -> ApiResult<()> {
    let findings = pii::scan(text);
    if findings.is_empty() {
        return Ok(());
    }
    let pending = store::flags::pending_for(conn, target.kind(), target.id())?;
    if pending.iter().any(|f| f.reporter_id.is_none() && f.reason == "personal_info") {
        return Ok(());
    }
    let post = load_post(conn, target)?;
    store::flags::insert(
        conn,
        &FlagInsertForm {
            reporter_id: None,
            target_type: target.kind(),
            target_id: target.id(),
            question_id: post.question_id,
            target_author_id: post.author_id,
            reason: "personal_info",
            note: Some(&pii::describe(&findings)),
            created_at: now,
        },
    )?;
    Ok(())
}

/// Hides or unhides a post, keeping counts, the question's state and the
/// search index in step.
fn set_hidden(conn: &mut DbConn, post: &PostState, hidden: bool, now: NaiveDateTime) -> ApiResult<()> {
    if post.hidden_at.is_some() == hidden {
        return Ok(());
    }
    let at = hidden.then_some(now);
    match post.target {
        Target::Question(id) => {
            store::moderation::set_question_hidden(conn, id, at)?;
            if post.deleted_at.is_none() {
                let delta = if hidden { -1 } else { 1 };
                let question = store::questions::find(conn, id)?.ok_or_else(|| ApiError::not_found("question"))?;
                store::categories::adjust_count(conn, question.category_id, delta)?;
                let tag_ids = store::tags::ids_of_question(conn, id)?;
                store::tags::adjust_counts(conn, &tag_ids, delta)?;
            }
        }
        Target::Answer(id) => {
            store::moderation::set_answer_hidden(conn, id, at)?;
            let question =
                store::questions::find(conn, post.question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
            questions::refresh_state(conn, &question)?;
            experts::refresh_answer_stats(conn, post.author_id, question.category_id, now)?;
        }
        Target::Comment(id) => store::moderation::set_comment_hidden(conn, id, at)?,
    }
    store::outbox::enqueue(conn, post.question_id, if hidden { "hidden" } else { "unhidden" }, now)?;
    Ok(())
}

/// Tells a post's author a moderator acted on it.
fn tell_author(conn: &mut DbConn, post: &PostState, actor_id: Option<i64>, now: NaiveDateTime) -> ApiResult<()> {
    let answer_id = match post.target {
        Target::Answer(id) => Some(id),
        _ => None,
    };
    let comment_id = match post.target {
        Target::Comment(id) => Some(id),
        _ => None,
    };
    let event =
        Event { kind: Kind::ModeratorAction, question_id: post.question_id, answer_id, comment_id, actor_id, at: now };
    notifications::notify(conn, &[post.author_id], event)
}

/// Hides or unhides a post (moderators).
pub fn hide(conn: &mut DbConn, state: &AppState, caller: &Caller, target: Target, hidden: bool) -> ApiResult<()> {
    require_moderator(caller)?;
    let now = state.clock.now();
    write_transaction(conn, |conn| {
        let post = load_post(conn, target)?;
        if post.deleted_at.is_some() {
            return Err(ApiError::not_found(target.kind()));
        }
        if post.hidden_at.is_some() == hidden {
            return Ok(());
        }
        set_hidden(conn, &post, hidden, now)?;
        let action = if hidden { "hide" } else { "unhide" };
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action,
                target_type: target.kind(),
                target_id: Some(target.id()),
                reason: None,
                before: Some(post.snapshot()),
                after: Some(json!({"hidden": hidden, "deleted": false})),
                at: now,
            },
        )?;
        if hidden { tell_author(conn, &post, Some(caller.id), now) } else { Ok(()) }
    })
}

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
    require_moderator(caller)?;
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
    state: &AppState,
    caller: &Caller,
    flag_id: i64,
    resolution: Resolution,
    note: Option<&str>,
) -> ApiResult<Resolved> {
    require_moderator(caller)?;
    let now = state.clock.now();
    let points = state.rules(conn)?.reputation.clone();
    write_transaction(conn, |conn| {
        let flag = store::flags::find(conn, flag_id)?.ok_or_else(|| ApiError::not_found("flag"))?;
        if flag.status != "pending" {
            return Err(ApiError::Conflict {
                code: "already_resolved",
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
                before: Some(post.snapshot()),
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

fn question_snapshot(q: &Question) -> Value {
    json!({
        "closed": q.closed_at.is_some(),
        "close_reason": q.close_reason,
        "duplicate_of": q.duplicate_of,
        "locked": q.locked_at.is_some(),
    })
}

/// What a moderator does to a question.
#[derive(Debug, Clone)]
pub enum QuestionAction {
    Close { reason: String, duplicate_of: Option<i64> },
    Reopen,
    Lock,
    Unlock,
}

/// Closes (optionally as a duplicate), reopens, locks or unlocks a
/// question. Repeating an action is harmless.
pub fn act_on_question(
    conn: &mut DbConn,
    state: &AppState,
    caller: &Caller,
    id: i64,
    action: QuestionAction,
) -> ApiResult<()> {
    require_moderator(caller)?;
    let now = state.clock.now();
    write_transaction(conn, |conn| {
        let question = questions::visible(conn, Some(caller), id)?;
        if question.deleted_at.is_some() {
            return Err(ApiError::not_found("question"));
        }
        let before = question_snapshot(&question);
        let (name, reason) = match &action {
            QuestionAction::Close { reason, duplicate_of } => {
                if let Some(target) = duplicate_of {
                    check_duplicate_target(conn, caller, id, *target)?;
                }
                store::questions::set_closed(conn, id, Some(now), Some(reason), *duplicate_of)?;
                ("close", Some(reason.as_str()))
            }
            QuestionAction::Reopen => {
                if question.close_reason.as_deref() == Some(store::questions::MERGED) {
                    return Err(ApiError::Conflict {
                        code: "merged",
                        detail: "a merged question stays closed; its answers live on in the target".into(),
                    });
                }
                store::questions::set_closed(conn, id, None, None, None)?;
                ("reopen", None)
            }
            QuestionAction::Lock => {
                store::questions::set_locked(conn, id, Some(question.locked_at.unwrap_or(now)))?;
                ("lock", None)
            }
            QuestionAction::Unlock => {
                store::questions::set_locked(conn, id, None)?;
                ("unlock", None)
            }
        };
        let after = store::questions::find(conn, id)?.ok_or_else(|| ApiError::not_found("question"))?;
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: name,
                target_type: "question",
                target_id: Some(id),
                reason,
                before: Some(before),
                after: Some(question_snapshot(&after)),
                at: now,
            },
        )?;
        store::outbox::enqueue(conn, id, name, now)?;
        let post = load_post(conn, Target::Question(id))?;
        if matches!(action, QuestionAction::Close { .. } | QuestionAction::Lock) {
            tell_author(conn, &post, Some(caller.id), now)?;
        }
        Ok(())
    })
}

/// A duplicate must point at another live question that does not itself
/// point back (no cycles).
fn check_duplicate_target(conn: &mut DbConn, caller: &Caller, id: i64, target: i64) -> ApiResult<Question> {
    if target == id {
        return Err(ApiError::validation("duplicate_of", "a question cannot duplicate itself"));
    }
    let canonical = questions::visible(conn, Some(caller), target)
        .map_err(|_| ApiError::validation("duplicate_of", "no such question"))?;
    if canonical.deleted_at.is_some() || canonical.duplicate_of == Some(id) {
        return Err(ApiError::validation(
            "duplicate_of",
            "must be a live question that is not a duplicate of this one",
        ));
    }
    Ok(canonical)
}

#[derive(Debug, Serialize)]
pub struct Merged {
    pub source_id: i64,
    pub target_id: i64,
    pub answers_moved: usize,
    pub comments_moved: usize,
    pub followers_moved: usize,
}

/// Merges a question into another: its answers, comments and followers
/// move to the target; the source stays as a closed duplicate pointing at
/// it. Counts, states, reputation statistics and the index follow.
pub fn merge(
    conn: &mut DbConn,
    state: &AppState,
    caller: &Caller,
    source_id: i64,
    target_id: i64,
) -> ApiResult<Merged> {
    require_moderator(caller)?;
    let now = state.clock.now();
    let points = state.rules(conn)?.reputation.clone();
    write_transaction(conn, |conn| {
        let source = questions::visible(conn, Some(caller), source_id)?;
        if source.deleted_at.is_some() {
            return Err(ApiError::not_found("question"));
        }
        if source.close_reason.as_deref() == Some(store::questions::MERGED) {
            return Err(ApiError::Conflict { code: "merged", detail: "this question was already merged".into() });
        }
        let target = check_duplicate_target(conn, caller, source_id, target_id)?;
        // The source's acceptance cannot follow its answer to a question
        // someone else asked.
        if source.accepted_answer_id.is_some() {
            reputation::on_acceptance(
                conn,
                &points,
                source.author_id,
                source.accepted_answer_id,
                None,
                source.category_id,
                now,
            )?;
        }
        let moved = store::moderation::move_posts(conn, source_id, target_id, now)?;
        store::flags::move_question(conn, source_id, target_id)?;
        store::questions::set_closed(conn, source_id, Some(now), Some(store::questions::MERGED), Some(target_id))?;
        // The source leaves lists and counts.
        if source.hidden_at.is_none() {
            store::categories::adjust_count(conn, source.category_id, -1)?;
            let tag_ids = store::tags::ids_of_question(conn, source_id)?;
            store::tags::adjust_counts(conn, &tag_ids, -1)?;
        }
        let cleared = Question { accepted_answer_id: None, ..source.clone() };
        questions::refresh_state(conn, &cleared)?;
        questions::refresh_state(conn, &target)?;
        store::questions::touch(conn, target_id, now)?;
        for author in store::moderation::answer_authors(conn, target_id)? {
            experts::refresh_answer_stats(conn, author, source.category_id, now)?;
            experts::refresh_answer_stats(conn, author, target.category_id, now)?;
        }
        store::outbox::enqueue(conn, source_id, "merged", now)?;
        store::outbox::enqueue(conn, target_id, "merged", now)?;
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: "merge",
                target_type: "question",
                target_id: Some(source_id),
                reason: None,
                before: Some(question_snapshot(&source)),
                after: Some(
                    json!({"merged_into": target_id, "answers_moved": moved.0, "comments_moved": moved.1, "followers_moved": moved.2}),
                ),
                at: now,
            },
        )?;
        let post = load_post(conn, Target::Question(source_id))?;
        tell_author(conn, &post, Some(caller.id), now)?;
        Ok(Merged { source_id, target_id, answers_moved: moved.0, comments_moved: moved.1, followers_moved: moved.2 })
    })
}

/// Longest a suspension may run.
const MAX_SUSPENSION_DAYS: i64 = 3650;

/// Suspends a user until `until`: every live token stops working at once
/// and every login's refresh tokens are revoked. Moderators cannot suspend
/// moderators or admins; nobody suspends themselves.
pub fn suspend(
    conn: &mut DbConn,
    state: &AppState,
    caller: &Caller,
    user_id: i64,
    until: NaiveDateTime,
    reason: &str,
) -> ApiResult<()> {
    require_moderator(caller)?;
    let now = state.clock.now();
    if until <= now {
        return Err(ApiError::validation("until", "must be in the future"));
    }
    if until > now + chrono::Duration::days(MAX_SUSPENSION_DAYS) {
        return Err(ApiError::validation("until", "must be within ten years"));
    }
    write_transaction(conn, |conn| {
        let user = store::users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        guard_user_action(conn, caller, user_id)?;
        store::users::set_suspension(conn, user_id, Some(until), Some(reason), now)?;
        store::refresh_tokens::revoke_all_for_user(conn, user_id, None, now)?;
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: "suspend",
                target_type: "user",
                target_id: Some(user_id),
                reason: Some(reason),
                before: Some(json!({"suspended_until": user.suspended_until.map(|t| rfc3339::format(&t))})),
                after: Some(json!({"suspended_until": rfc3339::format(&until)})),
                at: now,
            },
        )
    })
}

pub fn unsuspend(conn: &mut DbConn, state: &AppState, caller: &Caller, user_id: i64) -> ApiResult<()> {
    require_moderator(caller)?;
    let now = state.clock.now();
    write_transaction(conn, |conn| {
        let user = store::users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        guard_user_action(conn, caller, user_id)?;
        if user.suspended_until.is_none() {
            return Ok(());
        }
        store::users::set_suspension(conn, user_id, None, None, now)?;
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: "unsuspend",
                target_type: "user",
                target_id: Some(user_id),
                reason: None,
                before: Some(json!({"suspended_until": user.suspended_until.map(|t| rfc3339::format(&t))})),
                after: Some(json!({"suspended_until": null})),
                at: now,
            },
        )
    })
}

fn guard_user_action(conn: &mut DbConn, caller: &Caller, user_id: i64) -> ApiResult<()> {
    if user_id == caller.id {
        return Err(ApiError::forbidden("you cannot do this to your own account"));
    }
    let roles = store::users::roles(conn, user_id)?;
    let protected = roles.contains(&Role::Admin) || roles.contains(&Role::Moderator);
    if protected && !caller.has_role(Role::Admin) {
        return Err(ApiError::forbidden("only an admin can do this to a moderator or admin"));
    }
    Ok(())
}

/// Replaces a user's roles (admins). Everyone stays a resident; an admin
/// cannot remove their own admin role (so the site is never left without
/// one by accident).
pub fn set_roles(
    conn: &mut DbConn,
    state: &AppState,
    caller: &Caller,
    user_id: i64,
    roles: &[Role],
) -> ApiResult<Vec<Role>> {
    if !caller.has_role(Role::Admin) {
        return Err(ApiError::forbidden("this needs the admin role"));
    }
    let now = state.clock.now();
    let mut roles: Vec<Role> = roles.to_vec();
    if !roles.contains(&Role::Resident) {
        roles.push(Role::Resident);
    }
    roles.sort();
    roles.dedup();
    write_transaction(conn, |conn| {
        store::users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        if user_id == caller.id && !roles.contains(&Role::Admin) {
            return Err(ApiError::Conflict {
                code: "last_admin_guard",
                detail: "you cannot remove your own admin role".into(),
            });
        }
        let before = store::users::roles(conn, user_id)?;
        store::users::set_roles(conn, user_id, &roles)?;
        let names = |r: &[Role]| r.iter().map(|r| r.as_str()).collect::<Vec<_>>();
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: "set_roles",
                target_type: "user",
                target_id: Some(user_id),
                reason: None,
                before: Some(json!({"roles": names(&before)})),
                after: Some(json!({"roles": names(&roles)})),
                at: now,
            },
        )?;
        Ok(roles.clone())
    })
}

/// Moderators' deletions of someone else's questions, answers and
/// comments through the ordinary endpoints are moderation too: record them.
pub fn record_moderator_delete(
    conn: &mut DbConn,
    caller: &Caller,
    target: Target,
    author_id: i64,
    now: NaiveDateTime,
) -> ApiResult<()> {
    if !caller.is_moderator() || author_id == caller.id {
        return Ok(());
    }
    audit::record(
        conn,
        Action {
            actor_id: Some(caller.id),
            action: "delete",
            target_type: target.kind(),
            target_id: Some(target.id()),
            reason: None,
            before: Some(json!({"deleted": false})),
            after: Some(json!({"deleted": true})),
            at: now,
        },
    )
}

/// Edits of someone else's post by a moderator (including redactions).
pub fn record_moderator_edit(
    conn: &mut DbConn,
    caller: &Caller,
    target: Target,
    author_id: i64,
    redacted: bool,
    now: NaiveDateTime,
) -> ApiResult<()> {
    if !caller.is_moderator() || author_id == caller.id {
        return Ok(());
    }
    audit::record(
        conn,
        Action {
            actor_id: Some(caller.id),
            action: if redacted { "redact" } else { "edit" },
            target_type: target.kind(),
            target_id: Some(target.id()),
            reason: None,
            before: None,
            after: Some(json!({"redacted": redacted})),
            at: now,
        },
    )
}

/// Marks every revision of a post before the newest as redacted: their
/// text stays for admins and is hidden from everyone else.
pub fn redact_history(conn: &mut DbConn, post_type: PostType, post_id: i64, now: NaiveDateTime) -> ApiResult<()> {
    store::moderation::redact_revisions(conn, post_type.as_str(), post_id, now)?;
    Ok(())
}
