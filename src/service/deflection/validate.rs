//! A batch's events as a frontend sends them, and the checks each must
//! pass before the server decides whether it counts.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::Deserialize;

use super::{CLIENT_TYPES, intents};
use crate::error::FieldError;

const CHANNELS: [&str; 4] = ["phone", "online_form", "in_person", "email"];

/// One event as a frontend sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: String,
    pub visitor_id: String,
    pub session_id: Option<String>,
    pub question_id: Option<i64>,
    pub answer_id: Option<i64>,
    pub intent_id: Option<String>,
    pub query: Option<String>,
    pub result_ids: Option<Vec<i64>>,
    pub rank: Option<i64>,
    pub value: Option<String>,
    pub channel: Option<String>,
    pub category: Option<String>,
    /// A ward or neighbourhood: contact-form events and searches only (the
    /// others take their question's).
    pub area: Option<String>,
    /// `contact_*` events: the token `GET /questions/similar` gave for the
    /// intent (`intents`); without a valid one the event does not count.
    pub intent_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<EventInput>,
}

fn visible_id(value: &str, max: usize) -> bool {
    (1..=max).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Visitor, session and intent ids: 1-128 visible ASCII characters.
pub fn valid_id(value: &str) -> bool {
    visible_id(value, 128)
}

/// A valid event, before the server decides whether it counts.
pub(super) struct Valid {
    pub index: usize,
    pub event_id: String,
    pub kind: &'static str,
    pub occurred_at: NaiveDateTime,
    pub input: EventInput,
}

/// Checks one event; every problem is named `events[i].field`.
pub(super) fn validate(
    index: usize,
    input: EventInput,
    now: NaiveDateTime,
    errors: &mut Vec<FieldError>,
) -> Option<Valid> {
    let before = errors.len();
    let mut fail =
        |field: &str, message: &str| errors.push(FieldError::new(format!("events[{index}].{field}"), message));
    let event_id = uuid::Uuid::parse_str(&input.event_id).map(|u| u.hyphenated().to_string());
    if event_id.is_err() {
        fail("event_id", "must be a UUID");
    }
    let kind = CLIENT_TYPES.iter().copied().find(|t| *t == input.kind);
    if kind.is_none() {
        fail("type", "is not a known event type");
    }
    let occurred_at = DateTime::parse_from_rfc3339(&input.occurred_at).map(|t| t.with_timezone(&Utc).naive_utc());
    match occurred_at {
        Err(_) => fail("occurred_at", "must be an RFC 3339 time"),
        Ok(t) if t > now + Duration::hours(24) => fail("occurred_at", "is more than 24 hours in the future"),
        Ok(t) if t < now - Duration::days(30) => fail("occurred_at", "is more than 30 days in the past"),
        Ok(_) => {}
    }
    if !visible_id(&input.visitor_id, 128) {
        fail("visitor_id", "must be 1-128 visible ASCII characters");
    } else if input.visitor_id.starts_with(crate::store::retention::PSEUDONYM_PREFIX) {
        fail("visitor_id", "must not start with 'anon:' (it marks ids replaced under retention)");
    }
    if input.session_id.as_deref().is_some_and(|s| !visible_id(s, 128)) {
        fail("session_id", "must be 1-128 visible ASCII characters");
    }
    if input.intent_id.as_deref().is_some_and(|s| !visible_id(s, 128)) {
        fail("intent_id", "must be 1-128 visible ASCII characters");
    }
    for (field, id) in [("question_id", input.question_id), ("answer_id", input.answer_id)] {
        if id.is_some_and(|id| id <= 0) {
            fail(field, "must be a positive id");
        }
    }
    if input.query.as_deref().is_some_and(|q| q.chars().count() > 500 || q.trim().is_empty()) {
        fail("query", "must be 1-500 characters");
    }
    if input.result_ids.as_ref().is_some_and(|ids| ids.len() > 100) {
        fail("result_ids", "at most 100 ids");
    }
    if input.rank.is_some_and(|r| !(1..=1000).contains(&r)) {
        fail("rank", "must be 1-1000");
    }
    if input.category.as_deref().is_some_and(|c| crate::domain::post::parse_slug(c).is_err()) {
        fail("category", "must be a category slug");
    }
    if input.channel.as_deref().is_some_and(|c| !CHANNELS.contains(&c)) {
        fail("channel", "must be phone, online_form, in_person or email");
    }
    let area = input.area.as_deref().map(crate::domain::post::parse_area).transpose();
    if let Err(message) = &area {
        fail("area", message);
    }
    if let Some(kind) = kind {
        check_type_fields(kind, &input, &mut fail);
    }
    let input = EventInput { area: area.ok().flatten(), ..input };
    match (errors.len() == before, event_id, kind, occurred_at) {
        (true, Ok(event_id), Some(kind), Ok(occurred_at)) => Some(Valid { index, event_id, kind, occurred_at, input }),
        _ => None,
    }
}

/// The fields each type needs (and the values it allows).
fn check_type_fields(kind: &str, e: &EventInput, fail: &mut impl FnMut(&str, &str)) {
    let needs_question = matches!(
        kind,
        "question_viewed"
            | "accepted_answer_viewed"
            | "helpful_vote"
            | "would_have_contacted"
            | "search_result_clicked"
    );
    if needs_question && e.question_id.is_none() {
        fail("question_id", "is required for this type");
    }
    if kind.starts_with("contact_") && e.intent_id.is_none() {
        fail("intent_id", "is required for contact events");
    }
    if e.intent_token.is_some() && !kind.starts_with("contact_") {
        fail("intent_token", "is only for contact_* events");
    }
    if e.intent_token.as_ref().is_some_and(|t| t.len() > intents::MAX_TOKEN_CHARS) {
        fail("intent_token", "must be at most 512 characters");
    }
    if kind == "search_performed" && e.query.is_none() {
        fail("query", "is required for search_performed");
    }
    // An event about a question is counted in the question's area.
    if e.area.is_some() && !(kind.starts_with("contact_") || kind == "search_performed") {
        fail("area", "is only for contact_* and search_performed events (the others take their question's)");
    }
    let allowed: &[&str] = match kind {
        "helpful_vote" => &["yes", "no"],
        "would_have_contacted" => &["yes", "no", "unsure"],
        _ => &[],
    };
    match (&e.value, allowed.is_empty()) {
        (Some(v), false) if !allowed.contains(&v.as_str()) => {
            fail("value", &format!("must be one of {}", allowed.join(", ")))
        }
        (None, false) => fail("value", "is required for this type"),
        (Some(_), true) => fail("value", "is not used by this type"),
        _ => {}
    }
}
