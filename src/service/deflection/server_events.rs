//! Events the server records itself: posts, acceptances, verifications,
//! escalations, and page views of `GET /questions/{id}` with `X-Visitor-Id`.

use chrono::NaiveDateTime;

use super::{exclusion_for, is_bot, is_staff, store_events};
use crate::error::ApiResult;
use crate::service::Caller;
use crate::store::DbConn;
use crate::store::deflection::{self as events, QuestionFacts, StoredEvent};

/// An event the server records itself (posts, acceptances, verifications,
/// and views of GET /questions/{id} with `X-Visitor-Id`).
pub struct ServerEvent<'a> {
    pub kind: &'static str,
    /// `X-Visitor-Id`, or `user:{id}` for signed-in actions without one.
    pub visitor_id: String,
    pub caller: Option<&'a Caller>,
    pub user_agent: Option<&'a str>,
    pub question_id: i64,
    pub answer_id: Option<i64>,
    pub at: NaiveDateTime,
}

/// Records a server-side event inside the caller's transaction.
pub fn record_server_event(conn: &mut DbConn, event: ServerEvent<'_>) -> ApiResult<()> {
    if let Some(row) = server_event_row(conn, event)? {
        store_events(conn, vec![row])?;
    }
    Ok(())
}

/// The row a server-side event is stored as, classified now (whether it
/// counts, its question's category, area and solved state); `None` when
/// the question is gone. Reads only: a page view is classified when it is
/// seen and stored with the next batch (`community::views`).
pub fn server_event_row(conn: &mut DbConn, event: ServerEvent<'_>) -> ApiResult<Option<StoredEvent>> {
    let Some(question) = events::question_facts(conn, event.question_id)? else {
        return Ok(None);
    };
    // Only a view is judged by whose post it is (`server_event_about`).
    let author = match event.answer_id {
        _ if event.kind != "question_viewed" => None,
        Some(answer) => events::answer_author(conn, answer)?,
        None => Some(question.author_id),
    };
    Ok(Some(server_event_about(&question, author, event)))
}

/// The row of a server-side event about a question whose facts the caller
/// has read already; `author` is the author of the post it is about (only
/// a view's exclusion depends on it).
pub fn server_event_about(question: &QuestionFacts, author: Option<i64>, event: ServerEvent<'_>) -> StoredEvent {
    // Posting, accepting and verifying are the caller's own actions; only
    // views are judged as a resident's.
    let exclusion_reason = match event.kind {
        "question_viewed" if is_bot(event.user_agent) => Some("bot"),
        "question_viewed" => exclusion_for(event.caller, author),
        _ => event.caller.filter(|c| is_staff(c)).map(|_| "staff"),
    };
    StoredEvent {
        user_id: event.caller.map(|c| c.id),
        question_id: Some(event.question_id),
        answer_id: event.answer_id,
        category: Some(question.category.clone()),
        area: question.area.clone(),
        question_solved: (event.kind == "question_viewed").then_some(question.solved),
        source: "server".to_owned(),
        excluded: exclusion_reason.is_some(),
        exclusion_reason: exclusion_reason.map(str::to_owned),
        ..StoredEvent::new(uuid::Uuid::new_v4().to_string(), event.kind, event.at, event.visitor_id)
    }
}

/// Records a signed-in action (a post, an acceptance, a verification)
/// inside the caller's transaction.
pub fn record_action(
    conn: &mut DbConn,
    kind: &'static str,
    caller: &Caller,
    question_id: i64,
    answer_id: Option<i64>,
    at: NaiveDateTime,
) -> ApiResult<()> {
    let visitor_id = format!("user:{}", caller.id);
    let event = ServerEvent { kind, visitor_id, caller: Some(caller), user_agent: None, question_id, answer_id, at };
    record_server_event(conn, event)
}

/// Records that the asker's question became a council case (inside the
/// escalation's transaction): a contact the community did not deflect.
pub fn record_escalation(conn: &mut DbConn, question_id: i64, at: NaiveDateTime) -> ApiResult<()> {
    let Some(question) = crate::store::questions::find(conn, question_id)? else { return Ok(()) };
    let visitor_id = format!("user:{}", question.author_id);
    let event = ServerEvent {
        kind: "question_escalated",
        visitor_id,
        caller: None,
        user_agent: None,
        question_id,
        answer_id: None,
        at,
    };
    record_server_event(conn, event)
}
