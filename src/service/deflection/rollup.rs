//! What each row of derived state contributes to the daily rollups.
//!
//! A rollup cell is (day, category, area, metric, gap, gap2) → count.
//! Every change to a derived row removes the row's old contributions and
//! adds its new ones, so the rollups always equal the sum over the rows —
//! which `check_rollups` verifies.
//!
//! A row counts once, in its own category and area ('' for none), so a
//! report sums the rows its filter matches. Distinct visitors cannot be
//! summed that way (one visitor in two areas would count twice), so their
//! days are kept per report cell instead: each (category, area) a filter can
//! ask for, `*` standing for any (`report_cells`).

use std::collections::BTreeMap;

use crate::store::deflection::{Intent, Pair, RollupKey, Session, VisitorDay};

/// `gap` when there was no contact at all: beyond any window.
pub const NEVER: i64 = 1_000_000;
/// `gap2` of a viewed pair that is not confirmed.
pub const UNCONFIRMED: i64 = -1;
/// The category of visitor counts over every category.
pub const ANY_CATEGORY: &str = "*";
/// The area of visitor counts over every area (never an area: see
/// `domain::post::parse_area`).
pub const ANY_AREA: &str = "*";

/// Metrics. Tiers and intents use `gap` = days to the first contact.
pub const CONFIRMED_PAIR: &str = "confirmed_pair";
pub const CONFIRMED_INTENT: &str = "confirmed_intent";
/// Intents that saw suggestions, clicked one, and neither submitted nor
/// confirmed (yet): probable once 30 minutes have passed.
pub const PROBABLE: &str = "probable";
/// Views of solved questions; `gap2` is the pair's confirmation gap, or
/// `UNCONFIRMED`.
pub const VIEWER: &str = "viewer";
/// Survey answers: `gap` 1 = yes.
pub const HELPFUL: &str = "helpful";
pub const WOULD_HAVE_CONTACTED: &str = "would_have_contacted";
/// Intents started; `gap` = days since the visitor's last self-service.
pub const INTENT: &str = "intent";
/// Intents in each arm of the hold-out; `gap` = days to their submission.
pub const ARM_HOLDOUT: &str = "arm_holdout";
pub const ARM_TREATMENT: &str = "arm_treatment";
/// Self-service sessions; `gap` 1 = ended with a helpful yes.
pub const SESSION: &str = "session";
/// Visitor-days; `gap` = days since the visitor's previous such day.
pub const SELF_SERVICE_VISITOR: &str = "self_service_visitor";
pub const SUBMITTING_VISITOR: &str = "submitting_visitor";
/// The metrics kept per report cell (distinct visitors), not per row.
pub const PER_CELL_METRICS: [&str; 2] = [SELF_SERVICE_VISITOR, SUBMITTING_VISITOR];

pub const SECS_PER_DAY: i64 = 86_400;

/// UTC day number of a Unix time.
pub fn day_of(at: i64) -> i64 {
    at.div_euclid(SECS_PER_DAY)
}

/// Whole days, rounded up, from an anchor to a later contact; for an
/// integer window of W days, "no contact within the window" is `gap > W`
/// exactly (a contact at anchor + W days is within it).
pub fn gap_days(anchor: i64, contact: Option<i64>) -> i64 {
    match contact {
        None => NEVER,
        Some(at) => ((at - anchor).max(0) + SECS_PER_DAY - 1) / SECS_PER_DAY,
    }
}

/// A rollup cell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub day: i64,
    pub category: String,
    pub area: String,
    pub metric: &'static str,
    pub gap: i64,
    pub gap2: i64,
}

/// The report cells an event with this category and area ('' for none)
/// counts in: any category and area, and each of its own, alone and
/// together. A filter reads exactly one of them, so a visitor counts once
/// whatever the filter.
pub fn report_cells<'a>(category: &'a str, area: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut cells = vec![(ANY_CATEGORY, ANY_AREA)];
    if !category.is_empty() {
        cells.push((category, ANY_AREA));
    }
    if !area.is_empty() {
        cells.push((ANY_CATEGORY, area));
    }
    if !category.is_empty() && !area.is_empty() {
        cells.push((category, area));
    }
    cells
}

/// Where a derived row counts: its category and area ('' for none).
#[derive(Clone, Copy)]
struct Place<'a> {
    category: &'a str,
    area: &'a str,
}

fn cell(at: i64, place: Place<'_>, metric: &'static str, gap: i64, gap2: i64) -> Cell {
    Cell { day: day_of(at), category: place.category.to_owned(), area: place.area.to_owned(), metric, gap, gap2 }
}

impl Cell {
    pub fn key(&self) -> RollupKey<'_> {
        (self.day, &self.category, &self.area, self.metric, self.gap, self.gap2)
    }
}

fn yes(value: Option<&str>) -> i64 {
    i64::from(value == Some("yes"))
}

pub fn pair_cells(p: &Pair) -> Vec<Cell> {
    let place = Place { category: &p.category, area: &p.area };
    let mut cells = Vec::new();
    let confirmation = p.confirmed_at.map(|at| gap_days(at, p.first_contact_after_confirm_at));
    if let (Some(at), Some(gap)) = (p.confirmed_at, confirmation) {
        cells.push(cell(at, place, CONFIRMED_PAIR, gap, 0));
    }
    if let Some(at) = p.solved_view_at {
        let gap = gap_days(at, p.first_attempt_after_view_at);
        cells.push(cell(at, place, VIEWER, gap, confirmation.unwrap_or(UNCONFIRMED)));
    }
    if let Some(at) = p.helpful_at {
        cells.push(cell(at, place, HELPFUL, yes(p.helpful.as_deref()), 0));
    }
    if let Some(at) = p.would_at {
        cells.push(cell(at, place, WOULD_HAVE_CONTACTED, yes(p.would.as_deref()), 0));
    }
    cells
}

pub fn intent_cells(i: &Intent) -> Vec<Cell> {
    let place = Place { category: &i.category, area: &i.area };
    let mut cells = Vec::new();
    // Confirmed with a question, it is counted once, on the pair.
    if let (Some(at), None) = (i.confirmed_at, i.confirmed_question_id) {
        cells.push(cell(at, place, CONFIRMED_INTENT, gap_days(at, i.first_contact_after_confirm_at), 0));
    }
    let Some(started) = i.started_at else { return cells };
    let since_self_service = i.last_self_service_before_start_at.map_or(NEVER, |l| gap_days(l, Some(started)));
    cells.push(cell(started, place, INTENT, since_self_service, 0));
    let candidate =
        i.suggestions_shown && i.clicked_at.is_some() && i.submitted_at.is_none() && i.confirmed_at.is_none();
    if candidate {
        cells.push(cell(started, place, PROBABLE, gap_days(started, i.first_contact_after_start_at), 0));
    }
    let arm = match i.arm.as_deref() {
        Some("holdout") => Some(ARM_HOLDOUT),
        Some("treatment") => Some(ARM_TREATMENT),
        _ => None,
    };
    if let Some(arm) = arm {
        cells.push(cell(started, place, arm, gap_days(started, i.submitted_at), 0));
    }
    cells
}

pub fn session_cells(s: &Session) -> Vec<Cell> {
    vec![cell(s.started_at, Place { category: &s.category, area: &s.area }, SESSION, i64::from(s.helpful_yes), 0)]
}

pub fn visitor_day_cells(v: &VisitorDay) -> Vec<Cell> {
    let metric = if v.kind == "submitted" { SUBMITTING_VISITOR } else { SELF_SERVICE_VISITOR };
    let gap = v.previous_day.map_or(NEVER, |p| v.day - p);
    vec![Cell { day: v.day, category: v.category.clone(), area: v.area.clone(), metric, gap, gap2: 0 }]
}

/// Pending changes to the rollups, applied once per transaction in key
/// order (so concurrent transactions lock cells in the same order).
#[derive(Debug, Default)]
pub struct Deltas(BTreeMap<Cell, i64>);

impl Deltas {
    /// Replaces a row's old contributions with its new ones.
    pub fn replace(&mut self, before: Vec<Cell>, after: Vec<Cell>) {
        for cell in before {
            *self.0.entry(cell).or_default() -= 1;
        }
        for cell in after {
            *self.0.entry(cell).or_default() += 1;
        }
    }

    /// The non-zero changes, in key order.
    pub fn into_changes(self) -> impl Iterator<Item = (Cell, i64)> {
        self.0.into_iter().filter(|(_, n)| *n != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_round_up_so_a_window_is_a_comparison() {
        assert_eq!(gap_days(1000, None), NEVER);
        assert_eq!(gap_days(1000, Some(1000)), 0);
        assert_eq!(gap_days(1000, Some(1001)), 1);
        // Exactly 7 days later is within a 7-day window: gap 7, not > 7.
        assert_eq!(gap_days(0, Some(7 * 86_400)), 7);
        assert_eq!(gap_days(0, Some(7 * 86_400 + 1)), 8);
    }

    #[test]
    fn days_are_utc_and_floor_before_1970() {
        assert_eq!(day_of(86_399), 0);
        assert_eq!(day_of(86_400), 1);
        assert_eq!(day_of(-1), -1);
    }

    #[test]
    fn a_pair_confirmed_with_an_intent_is_not_counted_again_on_the_intent() {
        let mut intent = Intent::new("i", "v", "bins", None);
        intent.confirmed_at = Some(100);
        intent.confirmed_question_id = Some(7);
        assert!(intent_cells(&intent).is_empty());
        intent.confirmed_question_id = None;
        assert_eq!(intent_cells(&intent)[0].metric, CONFIRMED_INTENT);
    }

    #[test]
    fn a_visitor_counts_in_every_cell_a_filter_can_ask_for_once() {
        assert_eq!(report_cells("", ""), vec![("*", "*")]);
        assert_eq!(report_cells("bins", ""), vec![("*", "*"), ("bins", "*")]);
        assert_eq!(report_cells("", "Northfield"), vec![("*", "*"), ("*", "Northfield")]);
        assert_eq!(
            report_cells("bins", "Northfield"),
            vec![("*", "*"), ("bins", "*"), ("*", "Northfield"), ("bins", "Northfield")]
        );
    }

    #[test]
    fn a_row_counts_in_its_own_category_and_area() {
        let mut session = Session {
            session_key: "v/s".into(),
            visitor_id: "v".into(),
            category: "bins".into(),
            category_at: Some(10),
            area: "Northfield".into(),
            area_at: Some(10),
            started_at: 10,
            helpful_yes: true,
        };
        let cell = &session_cells(&session)[0];
        assert_eq!((cell.category.as_str(), cell.area.as_str(), cell.gap), ("bins", "Northfield", 1));
        session.area = String::new();
        assert_eq!(session_cells(&session)[0].area, "");
    }

    #[test]
    fn deltas_cancel_out() {
        let mut pair = Pair::new("v", 1, "bins");
        pair.helpful_at = Some(10);
        pair.helpful = Some("no".into());
        let mut deltas = Deltas::default();
        deltas.replace(vec![], pair_cells(&pair));
        let before = pair_cells(&pair);
        pair.helpful = Some("yes".into());
        deltas.replace(before, pair_cells(&pair));
        let changes: Vec<_> = deltas.into_changes().collect();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].0.gap, 1);
        assert_eq!(changes[0].1, 1);
    }
}
