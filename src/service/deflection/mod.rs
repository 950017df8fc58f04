//! Deflection (openapi.yaml, tag "deflection"): events in — validated, deduplicated,
//! flagged when they come from bots, council staff or a post's author —
//! and the reports the council pays for out (`reports`), computed with the
//! formulas of `formulas`.

pub mod derive;
pub mod formulas;
pub mod gaps;
pub mod intents;
mod maintenance;
pub mod pending;
pub mod plausibility;
pub mod reports;
pub mod rollup;
mod server_events;
mod validate;

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::domain::Role;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::service::Caller;
use crate::store::deflection::{self as events, QuestionFacts, StoredEvent};
use crate::store::{DbConn, write_transaction};
use diesel::QueryResult;

pub use maintenance::{check_rollups, rebuild, rebuild_if_outdated};
pub use server_events::{
    ServerEvent, record_action, record_escalation, record_server_event, server_event_about, server_event_row,
};
pub use validate::{EventBatch, EventInput, valid_id};
use validate::{Valid, validate};

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

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct IngestResult {
    pub accepted: usize,
    pub duplicates: usize,
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

pub(super) fn is_staff(caller: &Caller) -> bool {
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
