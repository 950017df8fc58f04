//! What the council's systems hear: the event types, the deliveries the
//! causes enqueue (inside their own transactions), and the body each
//! becomes at send time.
//!
//! A delivery stores only the event's ids (its subject). Titles, links and
//! states are read when it is sent, so content hidden or deleted since is
//! not sent, and nothing but ids sits in the queue. Bodies carry ids,
//! titles, links and states: never an email address, a post's body or a
//! flag's note.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::rfc3339::format as rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::service::Context;
use crate::service::mail::compose::link;
use crate::service::posts::Target;
use crate::store::webhooks::{Delivery, NewEvent};
use crate::store::{self, DbConn};

/// Every event type an endpoint may subscribe to.
pub const EVENT_TYPES: [&str; 9] = [
    "question.created",
    "answer.created",
    "question.solved",
    "answer.verified",
    "flag.created",
    "post.hidden",
    "question.escalated",
    "escalation.updated",
    "user.suspended",
];

/// The test event, sent only on request.
pub const PING: &str = "ping";

/// Bodies stay under this, so no receiver's request limit refuses them
/// (titles and names are bounded far below it; this is the backstop).
pub const MAX_BODY_BYTES: usize = 20_000;

/// The ids an event is about; what else its body says is read at send time.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_reason: Option<String>,
    /// The post a flag or a hiding is about: its type and id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<(String, i64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<i64>,
}

/// A fresh idempotency key: receivers drop a `webhook-id` they have seen.
pub fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// Queues an event for every endpoint subscribed to it (none: a cheap
/// statement that inserts nothing).
fn emit(conn: &mut DbConn, event_type: &str, subject: &Subject, at: NaiveDateTime) -> ApiResult<()> {
    let subject = serde_json::to_string(subject).map_err(ApiError::internal)?;
    let id = message_id();
    store::webhooks::enqueue(conn, &NewEvent { message_id: &id, event_type, subject: &subject, at })?;
    Ok(())
}

pub fn question_created(conn: &mut DbConn, question_id: i64, at: NaiveDateTime) -> ApiResult<()> {
    emit(conn, "question.created", &Subject { question_id: Some(question_id), ..Subject::default() }, at)
}

pub fn answer_created(conn: &mut DbConn, question_id: i64, answer_id: i64, at: NaiveDateTime) -> ApiResult<()> {
    let subject = Subject { question_id: Some(question_id), answer_id: Some(answer_id), ..Subject::default() };
    emit(conn, "answer.created", &subject, at)
}

pub fn question_solved(conn: &mut DbConn, question_id: i64, answer_id: i64, at: NaiveDateTime) -> ApiResult<()> {
    let subject = Subject { question_id: Some(question_id), answer_id: Some(answer_id), ..Subject::default() };
    emit(conn, "question.solved", &subject, at)
}

pub fn answer_verified(
    conn: &mut DbConn,
    question_id: i64,
    answer_id: i64,
    verifier_id: i64,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let subject = Subject {
        question_id: Some(question_id),
        answer_id: Some(answer_id),
        user_id: Some(verifier_id),
        ..Subject::default()
    };
    emit(conn, "answer.verified", &subject, at)
}

pub fn flag_created(
    conn: &mut DbConn,
    flag_id: i64,
    reason: &str,
    target: Target,
    question_id: i64,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let subject = Subject {
        question_id: Some(question_id),
        flag_id: Some(flag_id),
        flag_reason: Some(reason.to_owned()),
        post: Some((target.kind().to_owned(), target.id())),
        ..Subject::default()
    };
    emit(conn, "flag.created", &subject, at)
}

pub fn post_hidden(conn: &mut DbConn, target: Target, question_id: i64, at: NaiveDateTime) -> ApiResult<()> {
    let subject = Subject {
        question_id: Some(question_id),
        post: Some((target.kind().to_owned(), target.id())),
        ..Subject::default()
    };
    emit(conn, "post.hidden", &subject, at)
}

pub fn question_escalated(conn: &mut DbConn, question_id: i64, at: NaiveDateTime) -> ApiResult<()> {
    emit(conn, "question.escalated", &Subject { question_id: Some(question_id), ..Subject::default() }, at)
}

pub fn escalation_updated(conn: &mut DbConn, question_id: i64, at: NaiveDateTime) -> ApiResult<()> {
    emit(conn, "escalation.updated", &Subject { question_id: Some(question_id), ..Subject::default() }, at)
}

pub fn user_suspended(
    conn: &mut DbConn,
    user_id: i64,
    until: Option<NaiveDateTime>,
    at: NaiveDateTime,
) -> ApiResult<()> {
    emit(conn, "user.suspended", &Subject { user_id: Some(user_id), until, ..Subject::default() }, at)
}

/// The body of a delivery as it is to be sent now, or why it is not sent.
pub enum Body {
    Send(String),
    NotSent(String),
}

/// Builds `{type, timestamp, data}` from the database as it is now.
pub fn body(conn: &mut DbConn, ctx: &Context, delivery: &Delivery) -> ApiResult<Body> {
    let subject: Subject = serde_json::from_str(&delivery.subject)
        .map_err(|e| ApiError::internal(format!("webhook delivery {} subject: {e}", delivery.id)))?;
    let data = match data(conn, ctx, &delivery.event_type, &subject)? {
        Ok(data) => data,
        Err(reason) => return Ok(Body::NotSent(format!("not sent: {reason}"))),
    };
    let body = json!({"type": delivery.event_type, "timestamp": rfc3339(&delivery.created_at), "data": data});
    let body = body.to_string();
    if body.len() > MAX_BODY_BYTES {
        return Ok(Body::NotSent(format!("not sent: the body would be {} bytes, over {MAX_BODY_BYTES}", body.len())));
    }
    Ok(Body::Send(body))
}

type Data = Result<Value, &'static str>;

fn data(conn: &mut DbConn, ctx: &Context, event_type: &str, s: &Subject) -> ApiResult<Data> {
    let question = |conn: &mut DbConn| question(conn, ctx, s.question_id);
    let answer = |conn: &mut DbConn| answer(conn, ctx, s.question_id, s.answer_id);
    Ok(match event_type {
        "question.created" => question(conn)?.map(|q| json!({"question": q})),
        "answer.created" | "question.solved" => match (question(conn)?, answer(conn)?) {
            (Ok(q), Ok(a)) => Ok(json!({"question": q, "answer": a})),
            (Err(reason), _) | (_, Err(reason)) => Err(reason),
        },
        "answer.verified" => match (question(conn)?, answer(conn)?) {
            (Ok(q), Ok(a)) => Ok(json!({"question": q, "answer": a, "verified_by": person(conn, s.user_id)?})),
            (Err(reason), _) | (_, Err(reason)) => Err(reason),
        },
        "question.escalated" | "escalation.updated" => match question(conn)? {
            Ok(q) => Ok(json!({"question": q, "escalation": escalation(conn, s.question_id)?})),
            Err(reason) => Err(reason),
        },
        "flag.created" => Ok(json!({
            "flag": {"id": s.flag_id, "reason": s.flag_reason},
            "post": post(s),
        })),
        "post.hidden" => Ok(json!({"post": post(s)})),
        "user.suspended" => Ok(json!({
            "user": person(conn, s.user_id)?,
            "until": s.until.as_ref().map(rfc3339),
        })),
        PING => Ok(json!({"endpoint_id": s.endpoint_id, "message": "ping"})),
        _ => Err("unknown event type"),
    })
}

/// The council case as it stands: its state, never its location or the
/// asker's details.
fn escalation(conn: &mut DbConn, question_id: Option<i64>) -> ApiResult<Value> {
    let Some(e) = question_id.map(|id| store::escalations::of_question(conn, id)).transpose()?.flatten() else {
        return Ok(Value::Null);
    };
    Ok(json!({
        "status": e.status,
        "service_code": e.service_code,
        "service_request_id": e.service_request_id,
        "status_notes": e.status_notes,
        "updated_at": rfc3339(&e.updated_at),
    }))
}

/// A post by reference only: what was flagged or hidden is not repeated.
fn post(s: &Subject) -> Value {
    match &s.post {
        Some((kind, id)) => json!({"type": kind, "id": id, "question_id": s.question_id}),
        None => Value::Null,
    }
}

fn person(conn: &mut DbConn, user_id: Option<i64>) -> ApiResult<Value> {
    let Some(id) = user_id else { return Ok(Value::Null) };
    let username = store::users::find(conn, id)?.map(|u| u.username);
    Ok(json!({"id": id, "username": username}))
}

fn question(conn: &mut DbConn, ctx: &Context, id: Option<i64>) -> ApiResult<Data> {
    let Some(q) = id.map(|id| store::questions::find(conn, id)).transpose()?.flatten() else {
        return Ok(Err("the question is gone"));
    };
    if q.hidden_at.is_some() || q.deleted_at.is_some() {
        return Ok(Err("the question is hidden or deleted"));
    }
    let links = ctx.rules(conn)?.links.clone();
    let category = store::categories::find(conn, q.category_id)?.slug;
    Ok(Ok(json!({
        "id": q.id,
        "title": q.title,
        "url": link(ctx, &links.question, "{id}", &q.id.to_string()),
        "category": category,
        "state": q.status,
        "author": person(conn, Some(q.author_id))?,
        "created_at": rfc3339(&q.created_at),
    })))
}

fn answer(conn: &mut DbConn, ctx: &Context, question_id: Option<i64>, id: Option<i64>) -> ApiResult<Data> {
    let Some(a) = id.map(|id| store::answers::find(conn, id)).transpose()?.flatten() else {
        return Ok(Err("the answer is gone"));
    };
    if a.hidden_at.is_some() || a.deleted_at.is_some() {
        return Ok(Err("the answer is hidden or deleted"));
    }
    let links = ctx.rules(conn)?.links.clone();
    let question_url = link(ctx, &links.question, "{id}", &question_id.unwrap_or(a.question_id).to_string());
    Ok(Ok(json!({
        "id": a.id,
        "url": format!("{question_url}#answer-{}", a.id),
        "author": person(conn, Some(a.author_id))?,
        "created_at": rfc3339(&a.created_at),
    })))
}
