//! The notification inbox: who hears about what.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::service::mail;
use crate::service::pagination::{self, CursorCodec, Page};
use crate::store::notifications::{NotificationInsertForm, NotificationRow};
use crate::store::{self, DbConn};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new answer on a question the user follows, whose asker it names
    /// (their mail says so).
    AnswerPosted { asker_id: i64 },
    /// The user's answer was accepted.
    AnswerAccepted,
    /// A comment on the user's question or answer.
    CommentPosted,
    /// Council staff verified the user's answer.
    AnswerVerified,
    /// A new question in a category the user is an expert in (opt-in).
    ExpertQuestion,
    /// A moderator (or the flag threshold) acted on the user's post.
    ModeratorAction,
    /// The council's case for the question moved (Open311).
    EscalationUpdated,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AnswerPosted { .. } => "answer_posted",
            Kind::AnswerAccepted => "answer_accepted",
            Kind::CommentPosted => "comment_posted",
            Kind::AnswerVerified => "answer_verified",
            Kind::ExpertQuestion => "expert_question",
            Kind::ModeratorAction => "moderator_action",
            Kind::EscalationUpdated => "escalation_updated",
        }
    }
}

/// What happened, to which post, by whom.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub kind: Kind,
    pub question_id: i64,
    pub answer_id: Option<i64>,
    pub comment_id: Option<i64>,
    /// `None` when the system acted (e.g. hiding after three flags).
    pub actor_id: Option<i64>,
    pub at: NaiveDateTime,
}

/// Tells each recipient once; nobody is told about their own action. Those
/// who want this kind of news by mail at once get it queued here, in the
/// same transaction.
pub fn notify(conn: &mut DbConn, recipients: &[i64], event: Event) -> ApiResult<()> {
    let mut seen = Vec::with_capacity(recipients.len());
    // Mail tells the asker of a new answer apart from other followers.
    let asker = match event.kind {
        Kind::AnswerPosted { asker_id } => Some(asker_id),
        _ => None,
    };
    for &user_id in recipients {
        if Some(user_id) == event.actor_id || seen.contains(&user_id) {
            continue;
        }
        seen.push(user_id);
        let id = store::notifications::insert(
            conn,
            &NotificationInsertForm {
                user_id,
                kind: event.kind.as_str(),
                question_id: Some(event.question_id),
                answer_id: event.answer_id,
                comment_id: event.comment_id,
                actor_id: event.actor_id,
                created_at: event.at,
            },
        )?;
        mail::on_notification(conn, id, user_id, event.kind.as_str(), asker == Some(user_id), event.at)?;
    }
    Ok(())
}

/// Tells everyone who follows the question.
pub fn notify_followers(conn: &mut DbConn, event: Event) -> ApiResult<()> {
    let followers = store::follows::followers(conn, event.question_id)?;
    notify(conn, &followers, event)
}

#[derive(Debug, Serialize)]
pub struct NotificationView {
    pub id: i64,
    pub kind: String,
    pub question_id: Option<i64>,
    pub question_title: Option<String>,
    pub answer_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub read: bool,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

const SCOPE: &str = "notifications";

pub fn inbox(
    conn: &mut DbConn,
    codec: &CursorCodec,
    user_id: i64,
    unread_only: bool,
    cursor: Option<&str>,
    limit: i64,
) -> ApiResult<Page<NotificationView>> {
    let scope = format!("{SCOPE}:{user_id}:{unread_only}");
    let before: Option<i64> = cursor.map(|c| codec.decode(&scope, c)).transpose()?;
    let rows = store::notifications::list(conn, user_id, unread_only, before, limit + 1)?;
    Ok(pagination::page(rows, limit, |(n, _, _)| codec.encode(&scope, &n.id), view))
}

fn view((n, question_title, actor_name): NotificationRow) -> NotificationView {
    NotificationView {
        id: n.id,
        kind: n.kind,
        question_id: n.question_id,
        question_title,
        answer_id: n.answer_id,
        comment_id: n.comment_id,
        actor_id: n.actor_id,
        actor_name,
        read: n.read_at.is_some(),
        created_at: n.created_at,
    }
}

/// Marks some (or all) of the user's notifications read; returns how many
/// changed.
pub fn mark_read(conn: &mut DbConn, user_id: i64, ids: Option<&[i64]>, now: NaiveDateTime) -> ApiResult<usize> {
    Ok(store::notifications::mark_read(conn, user_id, ids, now)?)
}
