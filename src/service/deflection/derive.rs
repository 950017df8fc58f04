//! The rules that turn counted events into derived state: which view is a
//! solved view, which survey answer is the latest, when a pair or intent is
//! confirmed, and the first contact after each of those. Each change also
//! moves the row's rollup contributions (`rollup`).
//!
//! The rules do not depend on the order events arrive in: every anchor
//! looks up the first contact after it among the events already stored, and
//! every contact moves the anchors before it. So replaying the raw events
//! (`rebuild`) gives the same state as receiving them live.

use crate::store::DbConn;
use crate::store::deflection::{
    self as store, CONTACT_ATTEMPTS, CONTACT_SUBMISSIONS, Intent, Pair, SELF_SERVICE, Session, StoredEvent, VisitorDay,
};
use diesel::QueryResult;

use super::rollup::{self, ANY_CATEGORY, Deltas, day_of};

/// Applies one counted event.
pub fn apply(conn: &mut DbConn, deltas: &mut Deltas, e: &StoredEvent) -> QueryResult<()> {
    let at = e.epoch();
    let visitor = e.visitor_id.as_str();
    let category = e.category.as_deref().unwrap_or("");
    if SELF_SERVICE.contains(&e.kind.as_str()) {
        self_service(conn, deltas, e, category, at)?;
    }
    let intent = e.intent_id.as_deref();
    match (e.kind.as_str(), e.question_id, intent) {
        ("question_viewed", Some(q), _) if e.question_solved == Some(true) => {
            solved_view(conn, deltas, visitor, q, category, at)
        }
        ("accepted_answer_viewed", Some(q), _) => solved_view(conn, deltas, visitor, q, category, at),
        ("helpful_vote", Some(q), _) => survey(conn, deltas, e, q, category, at, Survey::Helpful),
        ("would_have_contacted", Some(q), _) => survey(conn, deltas, e, q, category, at, Survey::WouldHaveContacted),
        ("contact_intent_started", _, Some(id)) => {
            intent_step(conn, deltas, id, visitor, category, Step::Started(at))?;
            contact(conn, deltas, visitor, at, Contact::Attempt)
        }
        ("contact_suggestions_shown", _, Some(id)) => intent_step(conn, deltas, id, visitor, category, Step::Shown),
        ("contact_suggestion_clicked", q, Some(id)) => {
            intent_step(conn, deltas, id, visitor, category, Step::Clicked(at, q))
        }
        ("contact_intent_confirmed_resolved", q, Some(id)) => {
            intent_step(conn, deltas, id, visitor, category, Step::Confirmed(at, q))
        }
        ("contact_submitted", _, id) => {
            if let Some(id) = id {
                intent_step(conn, deltas, id, visitor, category, Step::Submitted(at))?;
            }
            contact(conn, deltas, visitor, at, Contact::Submission)?;
            mark_day(conn, deltas, visitor, category, "submitted", at)
        }
        _ => Ok(()),
    }
}

/// Writes the rollup changes of a transaction.
pub fn flush(conn: &mut DbConn, deltas: Deltas) -> QueryResult<()> {
    for (cell, n) in deltas.into_changes() {
        store::add_to_rollup(conn, cell.day, &cell.category, cell.metric, cell.gap, cell.gap2, n)?;
    }
    Ok(())
}

fn put_pair(conn: &mut DbConn, deltas: &mut Deltas, before: Option<Pair>, after: Pair) -> QueryResult<()> {
    if before.as_ref() == Some(&after) {
        return Ok(());
    }
    deltas.replace(before.as_ref().map(rollup::pair_cells).unwrap_or_default(), rollup::pair_cells(&after));
    store::save_pair(conn, &after, before.is_some())
}

fn put_intent(conn: &mut DbConn, deltas: &mut Deltas, before: Option<Intent>, after: Intent) -> QueryResult<()> {
    if before.as_ref() == Some(&after) {
        return Ok(());
    }
    deltas.replace(before.as_ref().map(rollup::intent_cells).unwrap_or_default(), rollup::intent_cells(&after));
    store::save_intent(conn, &after, before.is_some())
}

fn pair_or_new(conn: &mut DbConn, visitor: &str, question: i64, category: &str) -> QueryResult<(Option<Pair>, Pair)> {
    let before = store::load_pair(conn, visitor, question)?;
    let mut pair = before.clone().unwrap_or_else(|| Pair::new(visitor, question, category));
    if pair.category.is_empty() {
        pair.category = category.to_owned();
    }
    Ok((before, pair))
}

/// The visitor could have served themselves from a solved question: keep
/// the first such view and the first contact attempt at or after it.
fn solved_view(
    conn: &mut DbConn,
    deltas: &mut Deltas,
    visitor: &str,
    question: i64,
    category: &str,
    at: i64,
) -> QueryResult<()> {
    let (before, mut pair) = pair_or_new(conn, visitor, question, category)?;
    if pair.solved_view_at.is_none_or(|first| at < first) {
        pair.solved_view_at = Some(at);
        pair.first_attempt_after_view_at = store::first_at_or_after(conn, visitor, &CONTACT_ATTEMPTS, at)?;
    }
    put_pair(conn, deltas, before, pair)
}

#[derive(Clone, Copy)]
enum Survey {
    Helpful,
    WouldHaveContacted,
}

/// A survey answer; the visitor's latest per question counts (by time,
/// then by arrival).
fn survey(
    conn: &mut DbConn,
    deltas: &mut Deltas,
    e: &StoredEvent,
    question: i64,
    category: &str,
    at: i64,
    which: Survey,
) -> QueryResult<()> {
    let (before, mut pair) = pair_or_new(conn, &e.visitor_id, question, category)?;
    let (value, value_at, event) = match which {
        Survey::Helpful => (&mut pair.helpful, &mut pair.helpful_at, &mut pair.helpful_event),
        Survey::WouldHaveContacted => (&mut pair.would, &mut pair.would_at, &mut pair.would_event),
    };
    let latest = match (*value_at, *event) {
        (Some(t), Some(id)) => at > t || (at == t && e.id > id),
        _ => true,
    };
    if latest {
        *value = e.value.clone();
        *value_at = Some(at);
        *event = Some(e.id);
        settle_confirmation(conn, &mut pair)?;
    }
    put_pair(conn, deltas, before, pair)
}

/// A pair is confirmed from the earlier of: both latest survey answers yes
/// (as of the later one), or an intent confirmed resolved with the question.
fn settle_confirmation(conn: &mut DbConn, pair: &mut Pair) -> QueryResult<()> {
    let by_survey = match (pair.helpful.as_deref(), pair.would.as_deref(), pair.helpful_at, pair.would_at) {
        (Some("yes"), Some("yes"), Some(h), Some(w)) => Some(h.max(w)),
        _ => None,
    };
    let confirmed = [by_survey, pair.intent_confirmed_at].into_iter().flatten().min();
    if confirmed != pair.confirmed_at {
        pair.confirmed_at = confirmed;
        pair.first_contact_after_confirm_at = match confirmed {
            Some(at) => store::first_at_or_after(conn, &pair.visitor_id, &CONTACT_SUBMISSIONS, at)?,
            None => None,
        };
    }
    Ok(())
}

enum Step {
    Started(i64),
    Shown,
    Clicked(i64, Option<i64>),
    Confirmed(i64, Option<i64>),
    Submitted(i64),
}

fn intent_step(
    conn: &mut DbConn,
    deltas: &mut Deltas,
    id: &str,
    visitor: &str,
    category: &str,
    step: Step,
) -> QueryResult<()> {
    let before = store::load_intent(conn, id)?;
    let mut intent = match &before {
        Some(existing) => existing.clone(),
        None => Intent::new(id, visitor, category, store::arm_of(conn, id)?),
    };
    if intent.category.is_empty() {
        intent.category = category.to_owned();
    }
    let owner = intent.visitor_id.clone();
    let earlier = |current: Option<i64>, at: i64| current.is_none_or(|c| at < c);
    let mut reconfirmed = None;
    match step {
        Step::Started(at) if earlier(intent.started_at, at) => {
            intent.started_at = Some(at);
            intent.first_contact_after_start_at = store::first_at_or_after(conn, &owner, &CONTACT_SUBMISSIONS, at)?;
            intent.last_self_service_before_start_at = store::last_before(conn, &owner, &SELF_SERVICE, at)?;
        }
        Step::Shown => intent.suggestions_shown = true,
        Step::Clicked(at, question) if earlier(intent.clicked_at, at) => {
            intent.clicked_at = Some(at);
            intent.clicked_question_id = question;
        }
        Step::Confirmed(at, question) if earlier(intent.confirmed_at, at) => {
            reconfirmed = Some((intent.confirmed_question_id, question));
            intent.confirmed_at = Some(at);
            intent.confirmed_question_id = question;
            intent.first_contact_after_confirm_at = store::first_at_or_after(conn, &owner, &CONTACT_SUBMISSIONS, at)?;
        }
        Step::Submitted(at) if earlier(intent.submitted_at, at) => intent.submitted_at = Some(at),
        _ => {}
    }
    let category = intent.category.clone();
    put_intent(conn, deltas, before, intent)?;
    // The questions whose earliest intent confirmation may have moved.
    if let Some((old, new)) = reconfirmed {
        for question in [old, new].into_iter().flatten() {
            let (before, mut pair) = pair_or_new(conn, &owner, question, &category)?;
            pair.intent_confirmed_at = store::earliest_intent_confirmation(conn, &owner, question)?;
            settle_confirmation(conn, &mut pair)?;
            put_pair(conn, deltas, before, pair)?;
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contact {
    /// A contact intent started: an attempt, which ends a solved view's
    /// claim but not a confirmation.
    Attempt,
    Submission,
}

/// A contact at `at` is the first after every earlier anchor of the
/// visitor that had none (or a later one).
fn contact(conn: &mut DbConn, deltas: &mut Deltas, visitor: &str, at: i64, kind: Contact) -> QueryResult<()> {
    let submission = kind == Contact::Submission;
    let lower = |anchor: Option<i64>, first: &mut Option<i64>| {
        if anchor.is_some_and(|a| a <= at) && first.is_none_or(|f| f > at) {
            *first = Some(at);
        }
    };
    for before in store::pairs_moved_by_contact(conn, visitor, at, !submission)? {
        let mut pair = before.clone();
        lower(pair.solved_view_at, &mut pair.first_attempt_after_view_at);
        if submission {
            lower(pair.confirmed_at, &mut pair.first_contact_after_confirm_at);
        }
        put_pair(conn, deltas, Some(before), pair)?;
    }
    if submission {
        for before in store::intents_moved_by_contact(conn, visitor, at)? {
            let mut intent = before.clone();
            lower(intent.started_at, &mut intent.first_contact_after_start_at);
            lower(intent.confirmed_at, &mut intent.first_contact_after_confirm_at);
            put_intent(conn, deltas, Some(before), intent)?;
        }
    }
    Ok(())
}

/// A self-service event: its session, the visitor's day, and the intents
/// it now precedes.
fn self_service(conn: &mut DbConn, deltas: &mut Deltas, e: &StoredEvent, category: &str, at: i64) -> QueryResult<()> {
    let visitor = e.visitor_id.as_str();
    let key = match &e.session_id {
        Some(session) => format!("{visitor}/{session}"),
        None => format!("{visitor}/day-{}", day_of(at)),
    };
    let before = store::load_session(conn, &key)?;
    let mut session = before.clone().unwrap_or_else(|| Session {
        session_key: key,
        visitor_id: visitor.to_owned(),
        category: category.to_owned(),
        started_at: at,
        helpful_yes: false,
    });
    session.started_at = session.started_at.min(at);
    if session.category.is_empty() {
        session.category = category.to_owned();
    }
    session.helpful_yes |= e.kind == "helpful_vote" && e.value.as_deref() == Some("yes");
    if before.as_ref() != Some(&session) {
        deltas.replace(before.as_ref().map(rollup::session_cells).unwrap_or_default(), rollup::session_cells(&session));
        store::save_session(conn, &session, before.is_some())?;
    }
    mark_day(conn, deltas, visitor, category, "self_service", at)?;
    for before in store::intents_moved_by_self_service(conn, visitor, at)? {
        let mut intent = before.clone();
        intent.last_self_service_before_start_at = Some(at);
        put_intent(conn, deltas, Some(before), intent)?;
    }
    Ok(())
}

/// Marks a visitor's day (in any category, and in the event's), linking
/// it to their previous day of the same kind and their next to it.
fn mark_day(
    conn: &mut DbConn,
    deltas: &mut Deltas,
    visitor: &str,
    category: &str,
    kind: &str,
    at: i64,
) -> QueryResult<()> {
    let day = day_of(at);
    for cat in std::iter::once(ANY_CATEGORY).chain((!category.is_empty()).then_some(category)) {
        let days = store::visitor_days(conn, visitor, cat, kind)?;
        if days.iter().any(|d| d.day == day) {
            continue;
        }
        let previous = days.iter().filter(|d| d.day < day).map(|d| d.day).max();
        let next = days.into_iter().find(|d| d.day > day);
        let row = VisitorDay {
            visitor_id: visitor.to_owned(),
            category: cat.to_owned(),
            kind: kind.to_owned(),
            day,
            previous_day: previous,
        };
        deltas.replace(vec![], rollup::visitor_day_cells(&row));
        store::save_visitor_day(conn, &row, false)?;
        if let Some(next) = next {
            let moved = VisitorDay { previous_day: Some(day), ..next.clone() };
            deltas.replace(rollup::visitor_day_cells(&next), rollup::visitor_day_cells(&moved));
            store::save_visitor_day(conn, &moved, true)?;
        }
    }
    Ok(())
}

/// Records a newly assigned arm on an intent that already exists.
pub fn set_arm(conn: &mut DbConn, deltas: &mut Deltas, id: &str, arm: &str) -> QueryResult<()> {
    let Some(before) = store::load_intent(conn, id)? else { return Ok(()) };
    let intent = Intent { arm: Some(arm.to_owned()), ..before.clone() };
    put_intent(conn, deltas, Some(before), intent)
}
