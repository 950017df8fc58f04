//! The rules that turn counted events into derived state: which view is a
//! solved view, which survey answer is the latest, when a pair or intent is
//! confirmed, and the first contact after each of those. Each change also
//! moves the row's rollup contributions (`rollup`).
//!
//! The rules do not depend on the order events arrive in: every anchor
//! looks up the first contact after it among the events already stored, and
//! every contact moves the anchors before it; a row's category and area are
//! its earliest events'. So replaying the raw events (`rebuild`) gives the
//! same state as receiving them live.

use crate::store::DbConn;
use crate::store::deflection::{
    self as store, CONTACT_ATTEMPTS, CONTACT_SUBMISSIONS, Intent, Pair, SELF_SERVICE, Session, StoredEvent, VisitorDay,
};
use diesel::QueryResult;

use super::gaps;
use super::pending::Pending;
use super::rollup::{self, day_of, report_cells};

/// Where and when an event counts: its category and area ('' for none).
#[derive(Clone, Copy)]
struct Labels<'a> {
    category: &'a str,
    area: &'a str,
    at: i64,
}

impl Labels<'_> {
    /// The same time, with no category or area to give a row.
    fn none(self) -> Self {
        Labels { category: "", area: "", ..self }
    }
}

/// Applies one counted event.
pub fn apply(conn: &mut DbConn, pending: &mut Pending, e: &StoredEvent) -> QueryResult<()> {
    let at = e.epoch();
    let visitor = e.visitor_id.as_str();
    let labels = Labels { category: e.category.as_deref().unwrap_or(""), area: e.area.as_deref().unwrap_or(""), at };
    if SELF_SERVICE.contains(&e.kind.as_str()) {
        self_service(conn, pending, e, labels)?;
    }
    let intent = e.intent_id.as_deref();
    match (e.kind.as_str(), e.question_id, intent) {
        ("search_performed", _, _) => gaps::frontend_search(conn, e),
        ("question_viewed", Some(q), _) if e.question_solved == Some(true) => {
            solved_view(conn, pending, visitor, q, labels)
        }
        ("accepted_answer_viewed", Some(q), _) => solved_view(conn, pending, visitor, q, labels),
        ("helpful_vote", Some(q), _) => survey(conn, pending, e, q, labels, Survey::Helpful),
        ("would_have_contacted", Some(q), _) => survey(conn, pending, e, q, labels, Survey::WouldHaveContacted),
        ("contact_intent_started", _, Some(id)) => {
            intent_step(conn, pending, id, visitor, labels, Step::Started(at))?;
            contact(conn, pending, visitor, at, Contact::Attempt)
        }
        ("contact_suggestions_shown", _, Some(id)) => intent_step(conn, pending, id, visitor, labels, Step::Shown),
        ("contact_suggestion_clicked", q, Some(id)) => {
            intent_step(conn, pending, id, visitor, labels, Step::Clicked(at, q))
        }
        ("contact_intent_confirmed_resolved", q, Some(id)) => {
            intent_step(conn, pending, id, visitor, labels, Step::Confirmed(at, q))
        }
        ("question_escalated", _, _) => {
            contact(conn, pending, visitor, at, Contact::Submission)?;
            mark_day(conn, pending, visitor, labels, "submitted")
        }
        ("contact_submitted", _, id) => {
            if let Some(id) = id {
                intent_step(conn, pending, id, visitor, labels, Step::Submitted(at))?;
            }
            contact(conn, pending, visitor, at, Contact::Submission)?;
            mark_day(conn, pending, visitor, labels, "submitted")
        }
        _ => Ok(()),
    }
}

/// Writes what a transaction's derivations changed.
pub fn flush(conn: &mut DbConn, pending: Pending) -> QueryResult<()> {
    pending.flush(conn)
}

/// A row's category (or area) and when its event happened.
type Label<'r> = (&'r mut String, &'r mut Option<i64>);

/// A row counts in the category and the area of its earliest events that
/// have one (the smaller value on a tie): the order events arrive in cannot
/// change them.
fn take_labels([category, area]: [Label<'_>; 2], labels: Labels<'_>) {
    for ((value, value_at), candidate) in [(category, labels.category), (area, labels.area)] {
        if !candidate.is_empty() && value_at.is_none_or(|at| (labels.at, candidate) < (at, value.as_str())) {
            *value = candidate.to_owned();
            *value_at = Some(labels.at);
        }
    }
}

fn put_pair(conn: &mut DbConn, pending: &mut Pending, before: Option<Pair>, after: Pair) -> QueryResult<()> {
    if before.as_ref() == Some(&after) {
        return Ok(());
    }
    pending.deltas.replace(before.as_ref().map(rollup::pair_cells).unwrap_or_default(), rollup::pair_cells(&after));
    store::save_pair(conn, &after, before.is_some())
}

fn put_intent(conn: &mut DbConn, pending: &mut Pending, before: Option<Intent>, after: Intent) -> QueryResult<()> {
    if before.as_ref() == Some(&after) {
        return Ok(());
    }
    pending.deltas.replace(before.as_ref().map(rollup::intent_cells).unwrap_or_default(), rollup::intent_cells(&after));
    pending.intent_kept(&after.visitor_id);
    store::save_intent(conn, &after, before.is_some())
}

fn pair_or_new(
    conn: &mut DbConn,
    visitor: &str,
    question: i64,
    labels: Labels<'_>,
) -> QueryResult<(Option<Pair>, Pair)> {
    let before = store::load_pair(conn, visitor, question)?;
    let mut pair = before.clone().unwrap_or_else(|| Pair::new(visitor, question, ""));
    take_labels([(&mut pair.category, &mut pair.category_at), (&mut pair.area, &mut pair.area_at)], labels);
    Ok((before, pair))
}

/// The visitor could have served themselves from a solved question: keep
/// the first such view and the first contact attempt at or after it.
fn solved_view(
    conn: &mut DbConn,
    pending: &mut Pending,
    visitor: &str,
    question: i64,
    labels: Labels<'_>,
) -> QueryResult<()> {
    let at = labels.at;
    let (before, mut pair) = pair_or_new(conn, visitor, question, labels)?;
    if pair.solved_view_at.is_none_or(|first| at < first) {
        pair.solved_view_at = Some(at);
        pair.first_attempt_after_view_at = store::first_at_or_after(conn, visitor, &CONTACT_ATTEMPTS, at)?;
    }
    put_pair(conn, pending, before, pair)
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
    pending: &mut Pending,
    e: &StoredEvent,
    question: i64,
    labels: Labels<'_>,
    which: Survey,
) -> QueryResult<()> {
    let at = labels.at;
    let (before, mut pair) = pair_or_new(conn, &e.visitor_id, question, labels)?;
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
    put_pair(conn, pending, before, pair)
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
    pending: &mut Pending,
    id: &str,
    visitor: &str,
    labels: Labels<'_>,
    step: Step,
) -> QueryResult<()> {
    let before = store::load_intent(conn, id)?;
    let mut intent = match &before {
        Some(existing) => existing.clone(),
        None => Intent::new(id, visitor, "", store::arm_of(conn, id)?),
    };
    take_labels([(&mut intent.category, &mut intent.category_at), (&mut intent.area, &mut intent.area_at)], labels);
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
    put_intent(conn, pending, before, intent)?;
    // The questions whose earliest intent confirmation may have moved; the
    // confirming event gives its labels to the question it names.
    if let Some((old, new)) = reconfirmed {
        for (question, labels) in [(old, labels.none()), (new, labels)] {
            let Some(question) = question else { continue };
            let (before, mut pair) = pair_or_new(conn, &owner, question, labels)?;
            pair.intent_confirmed_at = store::earliest_intent_confirmation(conn, &owner, question)?;
            settle_confirmation(conn, &mut pair)?;
            put_pair(conn, pending, before, pair)?;
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
fn contact(conn: &mut DbConn, pending: &mut Pending, visitor: &str, at: i64, kind: Contact) -> QueryResult<()> {
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
        put_pair(conn, pending, Some(before), pair)?;
    }
    if submission {
        for before in store::intents_moved_by_contact(conn, visitor, at)? {
            let mut intent = before.clone();
            lower(intent.started_at, &mut intent.first_contact_after_start_at);
            lower(intent.confirmed_at, &mut intent.first_contact_after_confirm_at);
            put_intent(conn, pending, Some(before), intent)?;
        }
    }
    Ok(())
}

/// A self-service event: its session, the visitor's day, and the intents
/// it now precedes.
fn self_service(conn: &mut DbConn, pending: &mut Pending, e: &StoredEvent, labels: Labels<'_>) -> QueryResult<()> {
    let (visitor, at) = (e.visitor_id.as_str(), labels.at);
    let key = match &e.session_id {
        Some(session) => format!("{visitor}/{session}"),
        None => format!("{visitor}/day-{}", day_of(at)),
    };
    let before = pending.session(conn, &key)?;
    let mut session = before.clone().unwrap_or_else(|| Session {
        session_key: key,
        visitor_id: visitor.to_owned(),
        category: String::new(),
        category_at: None,
        area: String::new(),
        area_at: None,
        started_at: at,
        helpful_yes: false,
    });
    session.started_at = session.started_at.min(at);
    take_labels([(&mut session.category, &mut session.category_at), (&mut session.area, &mut session.area_at)], labels);
    session.helpful_yes |= e.kind == "helpful_vote" && e.value.as_deref() == Some("yes");
    if before.as_ref() != Some(&session) {
        pending
            .deltas
            .replace(before.as_ref().map(rollup::session_cells).unwrap_or_default(), rollup::session_cells(&session));
        pending.put_session(session);
    }
    mark_day(conn, pending, visitor, labels, "self_service")?;
    if !pending.may_have_intents(conn, visitor)? {
        return Ok(());
    }
    for before in store::intents_moved_by_self_service(conn, visitor, at)? {
        let mut intent = before.clone();
        intent.last_self_service_before_start_at = Some(at);
        put_intent(conn, pending, Some(before), intent)?;
    }
    Ok(())
}

/// Marks a visitor's day in each report cell the event counts in, linking
/// it to their previous day of the same kind there and their next to it.
fn mark_day(
    conn: &mut DbConn,
    pending: &mut Pending,
    visitor: &str,
    labels: Labels<'_>,
    kind: &str,
) -> QueryResult<()> {
    let day = day_of(labels.at);
    let known = pending.days(conn, visitor, (labels.category, labels.area), kind)?;
    for (category, area) in report_cells(labels.category, labels.area) {
        let days = known.iter().filter(|d| d.category == category && d.area == area);
        if days.clone().any(|d| d.day == day) {
            continue;
        }
        let previous = days.clone().filter(|d| d.day < day).map(|d| d.day).max();
        let next = days.clone().find(|d| d.day > day).cloned();
        let row = VisitorDay {
            visitor_id: visitor.to_owned(),
            category: category.to_owned(),
            area: area.to_owned(),
            kind: kind.to_owned(),
            day,
            previous_day: previous,
        };
        pending.deltas.replace(vec![], rollup::visitor_day_cells(&row));
        pending.put_day(row);
        if let Some(next) = next {
            let moved = VisitorDay { previous_day: Some(day), ..next.clone() };
            pending.deltas.replace(rollup::visitor_day_cells(&next), rollup::visitor_day_cells(&moved));
            pending.put_day(moved);
        }
    }
    Ok(())
}

/// Records a newly assigned arm on an intent that already exists.
pub fn set_arm(conn: &mut DbConn, pending: &mut Pending, id: &str, arm: &str) -> QueryResult<()> {
    let Some(before) = store::load_intent(conn, id)? else { return Ok(()) };
    let intent = Intent { arm: Some(arm.to_owned()), ..before.clone() };
    put_intent(conn, pending, Some(before), intent)
}
