//! Plausibility limits (settings `deflection.plausible_*`): a visitor with
//! more intents and surveyed questions in a UTC day than a resident could
//! have, or an address from which more visitors confirm or contact in a
//! day than an office would hold, is a script. Every confirming event of
//! that visitor-day or address-day, those already counted included, moves
//! to `excluded.implausible`, and the visitors' derived state is rebuilt
//! without them, so a flood changes no figure however it is paced.

use std::collections::{BTreeSet, HashMap};

use diesel::QueryResult;

use super::derive;
use super::pending::Pending;
use super::rollup;
use crate::store::DbConn;
use crate::store::deflection::StoredEvent;
use crate::store::plausibility::{self as events, CONFIRMING};

const DAY_SECS: i64 = 86_400;

/// The limits, from the settings.
#[derive(Clone, Copy)]
pub struct Limits {
    pub per_visitor_day: usize,
    pub visitors_per_address_day: usize,
}

/// The visitor-days and address-days a batch touches: what each already
/// holds (read once), and what the batch adds.
#[derive(Default)]
pub struct Groups {
    visitor_days: HashMap<(String, i64), BTreeSet<String>>,
    address_days: HashMap<String, BTreeSet<String>>,
}

impl Groups {
    /// Whether a counted event keeps counting: false once its group is over
    /// a limit. Events that cannot confirm anything are not watched.
    pub fn admit(&mut self, conn: &mut DbConn, limits: Limits, e: &StoredEvent) -> QueryResult<bool> {
        if !CONFIRMING.contains(&e.kind.as_str()) {
            return Ok(true);
        }
        let mut plausible = true;
        let unit = match (&e.intent_id, e.question_id) {
            (Some(intent), _) => Some(format!("i:{intent}")),
            (None, Some(question)) => Some(format!("q:{question}")),
            _ => None,
        };
        if let Some(unit) = unit {
            let day = e.epoch().div_euclid(DAY_SECS);
            let key = (e.visitor_id.clone(), day);
            if !self.visitor_days.contains_key(&key) {
                let stored = events::visitor_day_units(conn, &e.visitor_id, day * DAY_SECS, (day + 1) * DAY_SECS)?;
                self.visitor_days.insert(key.clone(), stored.into_iter().collect());
            }
            let units = self.visitor_days.entry(key).or_default();
            units.insert(unit);
            plausible &= units.len() <= limits.per_visitor_day;
        }
        if let Some(address) = &e.address_key {
            if !self.address_days.contains_key(address) {
                let stored = events::address_day_visitors(conn, address)?;
                self.address_days.insert(address.clone(), stored.into_iter().collect());
            }
            let visitors = self.address_days.entry(address.clone()).or_default();
            visitors.insert(e.visitor_id.clone());
            plausible &= visitors.len() <= limits.visitors_per_address_day;
        }
        Ok(plausible)
    }

    /// After the batch is stored: moves what was counted in a group that
    /// went over a limit, and rebuilds the state of the visitors it held.
    pub fn settle(self, conn: &mut DbConn, limits: Limits) -> QueryResult<()> {
        let mut visitors = BTreeSet::new();
        for ((visitor, day), units) in &self.visitor_days {
            if units.len() > limits.per_visitor_day {
                let group = Some((visitor.as_str(), day * DAY_SECS, (day + 1) * DAY_SECS));
                visitors.extend(events::move_to_implausible(conn, group, None)?);
            }
        }
        for (address, senders) in &self.address_days {
            if senders.len() > limits.visitors_per_address_day {
                visitors.extend(events::move_to_implausible(conn, None, Some(address))?);
            }
        }
        if visitors.is_empty() {
            return Ok(());
        }
        let keys: Vec<i64> = visitors.iter().map(|v| super::lock_key(v)).collect();
        crate::store::deflection::lock_visitors(conn, &keys)?;
        let mut pending = Pending::default();
        for visitor in &visitors {
            rebuild_visitor(conn, &mut pending, visitor)?;
        }
        derive::flush(conn, pending)
    }
}

/// Recomputes one visitor's derived state from their counted events, moving
/// the rollups with it: every derived row belongs to one visitor, so this
/// gives what a full rebuild would. `pending` must hold nothing of this
/// visitor's: their state is read from the tables.
pub fn rebuild_visitor(conn: &mut DbConn, pending: &mut Pending, visitor: &str) -> QueryResult<()> {
    let state = events::state_of_visitor(conn, visitor)?;
    for pair in &state.pairs {
        pending.deltas.replace(rollup::pair_cells(pair), Vec::new());
    }
    for intent in &state.intents {
        pending.deltas.replace(rollup::intent_cells(intent), Vec::new());
    }
    for session in &state.sessions {
        pending.deltas.replace(rollup::session_cells(session), Vec::new());
    }
    for day in &state.days {
        pending.deltas.replace(rollup::visitor_day_cells(day), Vec::new());
    }
    events::delete_state_of_visitor(conn, visitor)?;
    for event in events::counted_events_of(conn, visitor)? {
        derive::apply(conn, pending, &event)?;
    }
    Ok(())
}
