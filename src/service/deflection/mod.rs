//! Deflection (openapi.yaml, tag "deflection"): events in — validated, deduplicated,
//! flagged when they come from bots, council staff or a post's author —
//! and the reports the council pays for out (`reports`), computed with the
//! formulas of `formulas`.

pub mod derive;
pub mod formulas;
pub mod gaps;
pub mod intents;
pub mod pending;
pub mod plausibility;
pub mod reports;
pub mod rollup;

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Role;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::service::Caller;
use crate::store::deflection::{self as events, QuestionFacts, StoredEvent};
use crate::store::{DbConn, write_transaction};
use diesel::QueryResult;
use rollup::Deltas;

/// Most events one request may carry.
pub const MAX_BATCH: usize = 100;
/// A contact intent with neither a submission nor a confirmation this long
/// after it started is abandoned.
pub const ABANDON_AFTER_SECS: i64 = 30 * 60;

/// Event types frontends send.
pub const CLIENT_TYPES: [&str; 12] = [
    "search_performed",
    "search_result_clicked",
    "question_viewed",
    "accepted_answer_viewed",
    "helpful_vote",
    "would_have_contacted",
    "still_need_help_clicked",
    "contact_intent_started",
    "contact_suggestions_shown",
    "contact_suggestion_clicked",
    "contact_intent_confirmed_resolved",
    "contact_submitted",
];

/// Event types only the server records.
pub const SERVER_TYPES: [&str; 6] =
    ["question_posted", "answer_posted", "answer_accepted", "answer_verified", "question_viewed", "question_escalated"];

const CHANNELS: [&str; 4] = ["phone", "online_form", "in_person", "email"];

static BOTS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    include_str!("bots.txt").lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
});

/// The version of the rules the derived state is built by: a start that
/// finds a state built by older rules rebuilds it (`rebuild_if_outdated`).
/// Raise it when a rule changes what the same events derive. 1: the first
/// recorded, with areas and the content-gap report's searches.
pub const STATE_VERSION: i32 = 1;

/// Whether a User-Agent belongs to an automated client (or is missing).
pub fn is_bot(user_agent: Option<&str>) -> bool {
    match user_agent.map(str::to_lowercase) {
        None => true,
        Some(ua) if ua.trim().is_empty() => true,
        Some(ua) => BOTS.iter().any(|pattern| ua.contains(pattern)),
    }
}

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

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct IngestResult {
    pub accepted: usize,
    pub duplicates: usize,
}

fn visible_id(value: &str, max: usize) -> bool {
    (1..=max).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Visitor, session and intent ids: 1-128 visible ASCII characters.
pub fn valid_id(value: &str) -> bool {
    visible_id(value, 128)
}

/// A valid event, before the server decides whether it counts.
struct Valid {
    index: usize,
    event_id: String,
    kind: &'static str,
    occurred_at: NaiveDateTime,
    input: EventInput,
}

/// Checks one event; every problem is named `events[i].field`.
fn validate(index: usize, input: EventInput, now: NaiveDateTime, errors: &mut Vec<FieldError>) -> Option<Valid> {
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

/// Who sent a batch, for deciding which events count.
pub struct Sender<'a> {
    pub caller: Option<&'a Caller>,
    pub user_agent: Option<&'a str>,
    /// The client's address (never stored: only a keyed hash of it and the
    /// day, for the plausibility limits).
    pub address: Option<&'a str>,
}

/// A keyed hash of an address and a UTC day: the same for a day's events
/// from one address, unrelated from one day to the next.
fn address_key(ctx: &crate::service::Context, address: &str, at: NaiveDateTime) -> String {
    let day = at.and_utc().timestamp().div_euclid(86_400);
    ctx.pseudonyms.digest(&[b"address", address.as_bytes(), &day.to_be_bytes()])
}

fn is_staff(caller: &Caller) -> bool {
    [Role::Staff, Role::Moderator, Role::Admin, Role::Analyst].iter().any(|r| caller.has_role(*r))
}

/// Whether what a caller does can count in the reports at all: not when
/// it comes from a bot, or from council staff, moderators, admins or
/// analysts.
pub fn counts_in_reports(caller: Option<&Caller>, user_agent: Option<&str>) -> bool {
    !is_bot(user_agent) && !caller.is_some_and(is_staff)
}

/// Stores a batch: all or nothing. One invalid event makes the whole
/// batch a 422 naming every problem; duplicates (by `event_id`, also
/// within the batch) are counted and skipped.
pub fn ingest(
    conn: &mut DbConn,
    ctx: &crate::service::Context,
    sender: &Sender<'_>,
    batch: EventBatch,
) -> ApiResult<IngestResult> {
    let now = ctx.clock.now();
    if batch.events.is_empty() || batch.events.len() > MAX_BATCH {
        return Err(ApiError::validation("events", &format!("must hold 1 to {MAX_BATCH} events")));
    }
    let mut errors = Vec::new();
    let valid: Vec<Valid> =
        batch.events.into_iter().enumerate().filter_map(|(i, e)| validate(i, e, now, &mut errors)).collect();
    if valid.iter().any(|v| v.input.category.is_some()) {
        let known: Vec<String> = crate::store::categories::list(conn)?.into_iter().map(|c| c.slug).collect();
        for v in valid.iter().filter(|v| v.input.category.as_ref().is_some_and(|c| !known.contains(c))) {
            errors.push(FieldError::new(format!("events[{}].category", v.index), "is not a category"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let bot = is_bot(sender.user_agent);
    let parameters = ctx.rules(conn)?.deflection.clone();
    let limits = plausibility::Limits {
        per_visitor_day: parameters.plausible_per_visitor_day.max(1) as usize,
        visitors_per_address_day: parameters.plausible_visitors_per_address_day.max(1) as usize,
    };
    write_transaction(conn, |conn| {
        // Batches from one address that can confirm anything are counted
        // one after another, so two arriving together cannot both stay
        // under its limit. Views and searches, most of the traffic, take no
        // such lock.
        let confirming = valid.iter().any(|v| events::CONFIRMING.contains(&v.kind));
        if let (Some(address), true) = (sender.address, confirming) {
            lock_visitor(conn, &format!("address {address}"))?;
        }
        let facts = FactsCache(events::questions_facts(conn, valid.iter().filter_map(|v| v.input.question_id))?);
        let mut groups = plausibility::Groups::default();
        let mut rows = Vec::with_capacity(valid.len());
        for event in valid {
            let mut row = classify(conn, ctx, &facts, sender, bot, event, now)?;
            if !row.excluded && !groups.admit(conn, limits, &row)? {
                row.excluded = true;
                row.exclusion_reason = Some("implausible".to_owned());
            }
            rows.push(row);
        }
        let result = store_events(conn, rows)?;
        groups.settle(conn, limits)?;
        Ok(result)
    })
}

/// Stores events and applies the counted ones, inside the caller's
/// transaction. Shared by the API, server-side events and the benchmark.
pub fn store_events(conn: &mut DbConn, rows: Vec<StoredEvent>) -> QueryResult<IngestResult> {
    let mut keys: Vec<i64> = rows.iter().filter(|r| !r.excluded).map(|r| lock_key(&r.visitor_id)).collect();
    keys.sort_unstable();
    keys.dedup();
    events::lock_visitors(conn, &keys)?;
    let mut pending = pending::Pending::default();
    let mut result = IngestResult { accepted: 0, duplicates: 0 };
    for statement in insert_statements(rows) {
        let ids = events::insert_many(conn, &statement)?;
        for (mut row, id) in statement.into_iter().zip(ids) {
            match id {
                Some(id) => {
                    result.accepted += 1;
                    row.id = id;
                    if !row.excluded {
                        derive::apply(conn, &mut pending, &row)?;
                    }
                }
                None => result.duplicates += 1,
            }
        }
    }
    derive::flush(conn, pending)?;
    Ok(result)
}

/// Splits rows, in order, into groups each stored by one INSERT and then
/// derived row by row, such that every row is derived with exactly the
/// rows before it stored, as when they were inserted one at a time.
/// Deriving a row reads a visitor's stored contact events (and, for the
/// start of a contact intent, their self-service events), so a row of a
/// kind that a derivation before it in its group could read starts a new
/// group. A batch of views and searches is one group.
fn insert_statements(rows: Vec<StoredEvent>) -> Vec<Vec<StoredEvent>> {
    let mut groups: Vec<Vec<StoredEvent>> = Vec::new();
    let mut intent_started = false;
    for row in rows {
        let kind = row.kind.as_str();
        let contact = events::CONTACT_ATTEMPTS.contains(&kind) || events::CONTACT_SUBMISSIONS.contains(&kind);
        let read_by_an_earlier_row = contact || (intent_started && events::SELF_SERVICE.contains(&kind));
        if read_by_an_earlier_row || groups.is_empty() {
            groups.push(Vec::new());
            intent_started = false;
        }
        intent_started |= kind == "contact_intent_started";
        groups.last_mut().expect("a group was pushed").push(row);
    }
    groups
}

/// The facts of a batch's questions, read together.
struct FactsCache(HashMap<i64, QuestionFacts>);

impl FactsCache {
    fn get(&self, question: i64) -> Option<QuestionFacts> {
        self.0.get(&question).cloned()
    }
}

/// Decides whether an event counts (bots, staff and a post's own author
/// do not) and fixes, at ingest, its category, its area and whether its
/// question was solved.
fn classify(
    conn: &mut DbConn,
    ctx: &crate::service::Context,
    facts: &FactsCache,
    sender: &Sender<'_>,
    bot: bool,
    event: Valid,
    now: NaiveDateTime,
) -> ApiResult<StoredEvent> {
    let e = event.input;
    // A contact form's event counts only with the server's token for its
    // intent (`intents`).
    let unverified = event.kind.starts_with("contact_")
        && !match (&e.intent_token, &e.intent_id) {
            (Some(token), Some(intent)) => intents::verifies(&ctx.cursors, token, intent, event.occurred_at),
            _ => false,
        };
    let question = match e.question_id {
        Some(id) => facts.get(id),
        None => None,
    };
    let author = match (e.answer_id, &question) {
        (Some(answer), _) => events::answer_author(conn, answer)?,
        (None, Some(q)) => Some(q.author_id),
        _ => None,
    };
    let exclusion_reason = if bot { Some("bot") } else { exclusion_for(sender.caller, author) }
        .or(unverified.then_some("unverified_intent"));
    Ok(StoredEvent {
        // Only the plausibility limits read it, and only on confirming
        // events: the others stay out of its index.
        address_key: sender
            .address
            .filter(|_| events::CONFIRMING.contains(&event.kind))
            .map(|a| address_key(ctx, a, event.occurred_at)),
        received_at: now,
        session_id: e.session_id,
        user_id: sender.caller.map(|c| c.id),
        question_id: e.question_id,
        answer_id: e.answer_id,
        intent_id: e.intent_id,
        // Search text is kept without the numbers that name someone.
        query: e.query.map(|q| crate::service::pii::redact(q.trim())),
        result_ids: e.result_ids.map(|ids| serde_json::to_string(&ids).unwrap_or_default()),
        rank: e.rank.map(|r| r as i32),
        value: e.value,
        channel: e.channel,
        question_solved: (event.kind == "question_viewed").then(|| question.as_ref().is_some_and(|q| q.solved)),
        area: e.area.or_else(|| question.as_ref().and_then(|q| q.area.clone())),
        category: e.category.or_else(|| question.map(|q| q.category)),
        excluded: exclusion_reason.is_some(),
        exclusion_reason: exclusion_reason.map(str::to_owned),
        ..StoredEvent::new(event.event_id, event.kind, event.occurred_at, e.visitor_id)
    })
}

/// Why an event from a signed-in caller does not count: council staff
/// roles, or acting on their own post.
pub fn exclusion_for(caller: Option<&Caller>, author_id: Option<i64>) -> Option<&'static str> {
    match caller {
        Some(c) if is_staff(c) => Some("staff"),
        Some(c) if author_id == Some(c.id) => Some("author"),
        _ => None,
    }
}

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

/// The hold-out arm of an intent: assigned once, by its bucket
/// (`arm_bucket`), `holdout_percent` in a hundred to the hold-out.
pub fn arm_for(
    conn: &mut DbConn,
    intent_id: &str,
    bucket: u32,
    holdout_percent: i32,
    now: NaiveDateTime,
) -> ApiResult<&'static str> {
    // A contact form asks again with each draft its resident types: once
    // the arm is assigned and the intent (if it exists yet) carries it, it
    // is only read, without queueing for the writer. An intent made by an
    // event racing the assignment may lack it: then the write below
    // records it, as the first request's would have.
    if let Some(arm) = events::arm_of(conn, intent_id)? {
        let recorded = events::intent_arm(conn, intent_id)?;
        if recorded.is_none_or(|on_intent| on_intent.as_deref() == Some(arm.as_str())) {
            return Ok(if arm == "holdout" { "holdout" } else { "treatment" });
        }
    }
    write_transaction(conn, |conn| {
        let proposed = if (bucket as i32) < holdout_percent { "holdout" } else { "treatment" };
        let arm =
            if events::assign_arm(conn, intent_id, proposed, now)? == "holdout" { "holdout" } else { "treatment" };
        if let Some(owner) = events::load_intent(conn, intent_id)?.map(|i| i.visitor_id) {
            events::lock_visitors(conn, &[lock_key(&owner)])?;
            let mut pending = pending::Pending::default();
            derive::set_arm(conn, &mut pending, intent_id, arm)?;
            derive::flush(conn, pending)?;
        }
        Ok(arm)
    })
}

/// Recomputes the derived state and rollups from the raw events, in the
/// order they arrived, and the content-gap searches from the search-gap
/// log; returns the events applied. For maintenance with writers stopped;
/// the result equals what live ingestion built.
pub fn rebuild(conn: &mut DbConn) -> QueryResult<u64> {
    write_transaction(conn, events::clear_derived)?;
    let mut after = 0;
    let mut applied = 0;
    loop {
        let batch = events::counted_events_after(conn, after, 2_000)?;
        let Some(last) = batch.last().map(|e| e.id) else { break };
        write_transaction(conn, |conn| {
            let mut pending = pending::Pending::default();
            for event in &batch {
                derive::apply(conn, &mut pending, event)?;
            }
            derive::flush(conn, pending)
        })?;
        applied += batch.len() as u64;
        after = last;
    }
    gaps::replay_server_searches(conn)?;
    write_transaction(conn, |conn| events::set_state_version(conn, STATE_VERSION))?;
    Ok(applied)
}

/// Rebuilds the derived state when it was built by older rules, or a
/// rebuild did not finish (`STATE_VERSION`); returns the events applied
/// when it rebuilt. Run at start, before serving: on PostgreSQL one node at
/// a time, and a node that waited finds the work done.
pub fn rebuild_if_outdated(conn: &mut DbConn) -> QueryResult<Option<u64>> {
    if events::state_version(conn)? >= STATE_VERSION {
        return Ok(None);
    }
    events::lock_rebuild(conn, true)?;
    let rebuilt = match events::state_version(conn) {
        Ok(version) if version >= STATE_VERSION => Ok(None),
        Ok(_) => rebuild(conn).map(Some),
        Err(e) => Err(e),
    };
    events::lock_rebuild(conn, false)?;
    rebuilt
}

/// Rollup cells that differ from the sum over the derived rows (empty when
/// they agree): (cell, in the rollups, summed from the rows).
pub fn check_rollups(conn: &mut DbConn) -> QueryResult<Vec<(String, i64, i64)>> {
    let mut expected = Deltas::default();
    for pair in events::all_pairs(conn)? {
        expected.replace(vec![], rollup::pair_cells(&pair));
    }
    for intent in events::all_intents(conn)? {
        expected.replace(vec![], rollup::intent_cells(&intent));
    }
    for session in events::all_sessions(conn)? {
        expected.replace(vec![], rollup::session_cells(&session));
    }
    for day in events::all_visitor_days(conn)? {
        expected.replace(vec![], rollup::visitor_day_cells(&day));
    }
    let expected: BTreeMap<_, _> = expected
        .into_changes()
        .map(|(c, n)| ((c.day, c.category, c.area, c.metric.to_owned(), c.gap, c.gap2), n))
        .collect();
    let actual: BTreeMap<_, _> =
        events::all_rollups(conn)?.into_iter().map(|(d, c, a, m, g, g2, n)| ((d, c, a, m, g, g2), n)).collect();
    let keys: std::collections::BTreeSet<_> = expected.keys().chain(actual.keys()).cloned().collect();
    Ok(keys
        .into_iter()
        .filter_map(|key| {
            let (a, e) = (actual.get(&key).copied().unwrap_or(0), expected.get(&key).copied().unwrap_or(0));
            (a != e).then(|| (format!("{key:?}"), a, e))
        })
        .collect())
}

/// The advisory-lock key of a visitor.
/// Takes the visitor's lock for the rest of the transaction (PostgreSQL;
/// SQLite has one writer anyway), as ingest does before it touches their
/// state.
pub fn lock_visitor(conn: &mut DbConn, visitor: &str) -> QueryResult<()> {
    events::lock_visitors(conn, &[lock_key(visitor)])
}

pub(crate) fn lock_key(visitor: &str) -> i64 {
    fnv1a(visitor) as i64
}

fn fnv1a(id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The hold-out bucket of an intent, in 0..100: a keyed hash of its id
/// under the server's secret, the same on every node and every run but
/// not computable by a client, who could otherwise pick ids that land in
/// the arm it wants.
pub fn arm_bucket(ctx: &crate::service::Context, intent_id: &str) -> u32 {
    ctx.arms.bucket(intent_id.as_bytes(), 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bots_are_recognised() {
        assert!(is_bot(Some("Mozilla/5.0 (compatible; Googlebot/2.1)")));
        assert!(is_bot(Some("curl/8.1.2")));
        assert!(is_bot(None));
        assert!(!is_bot(Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
        )));
    }

    #[test]
    fn arms_are_stable_spread_and_keyed() {
        let keys = crate::service::tokens::KeyedHash::new(b"secret", "agora holdout arm v1");
        assert_eq!(keys.bucket(b"intent-1", 100), keys.bucket(b"intent-1", 100));
        let in_first_half = (0..1000).filter(|i| keys.bucket(format!("intent-{i}").as_bytes(), 100) < 50).count();
        assert!((400..600).contains(&in_first_half), "{in_first_half}");
        let other = crate::service::tokens::KeyedHash::new(b"another secret", "agora holdout arm v1");
        let differ = (0..100).filter(|i| {
            let id = format!("intent-{i}");
            keys.bucket(id.as_bytes(), 100) != other.bucket(id.as_bytes(), 100)
        });
        assert!(differ.count() > 80, "the bucket depends on the secret");
    }

    fn kinds_of_groups(kinds: &[&str]) -> Vec<Vec<String>> {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap().naive_utc();
        let rows = kinds.iter().enumerate().map(|(i, k)| StoredEvent::new(format!("e{i}"), k, at, "v".to_owned()));
        insert_statements(rows.collect()).into_iter().map(|g| g.into_iter().map(|r| r.kind).collect()).collect()
    }

    #[test]
    fn a_batch_is_split_only_where_a_derivation_could_read_a_later_row() {
        // Views and searches: one INSERT.
        let views = ["question_viewed", "search_performed", "question_viewed", "accepted_answer_viewed"];
        assert_eq!(kinds_of_groups(&views).len(), 1);
        // A solved view reads later contact attempts: each contact event
        // starts a group (the rows after it join it).
        assert_eq!(
            kinds_of_groups(&["question_viewed", "contact_submitted", "question_viewed", "question_escalated"]),
            vec![vec!["question_viewed"], vec!["contact_submitted", "question_viewed"], vec!["question_escalated"]]
        );
        // The start of an intent reads self-service events too.
        assert_eq!(
            kinds_of_groups(&["contact_intent_started", "contact_suggestions_shown", "search_performed"]),
            vec![vec!["contact_intent_started", "contact_suggestions_shown"], vec!["search_performed"]]
        );
    }
}
