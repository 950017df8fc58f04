//! What a transaction's derivations have yet to write: the rollup changes,
//! and the sessions and visitor days they read and changed.
//!
//! A frontend sends a visitor's events ten at a time, and every one of
//! them reads and rewrites the same session and the same days (the load
//! bench's profile: most of an event's statements were those). Held here,
//! each is read once and written once, at [`Pending::flush`]. Only the
//! derivations read these rows inside an ingest, so nothing sees them
//! unwritten; every derivation that starts a `Pending` flushes it before
//! its transaction ends.

use std::collections::HashMap;

use diesel::QueryResult;

use super::rollup::{ANY_AREA, ANY_CATEGORY, Deltas};
use crate::store::DbConn;
use crate::store::deflection::{self as store, Session, VisitorDay};

/// A row as read (or first made) in this transaction.
struct Held<T> {
    row: T,
    /// Whether the table has it (an update) or not yet (an insert).
    stored: bool,
    changed: bool,
}

/// A visitor's days of one kind in one report cell: visitor, kind,
/// category, area.
type DayCell = (String, String, String, String);

#[derive(Default)]
pub struct Pending {
    pub deltas: Deltas,
    sessions: HashMap<String, Option<Held<Session>>>,
    /// Each cell's days, by day.
    days: HashMap<DayCell, Vec<Held<VisitorDay>>>,
    /// Whether a visitor has any contact intent.
    has_intents: HashMap<String, bool>,
}

fn cell(visitor: &str, kind: &str, category: &str, area: &str) -> DayCell {
    (visitor.to_owned(), kind.to_owned(), category.to_owned(), area.to_owned())
}

impl Pending {
    pub fn session(&mut self, conn: &mut DbConn, key: &str) -> QueryResult<Option<Session>> {
        if !self.sessions.contains_key(key) {
            let stored = store::load_session(conn, key)?.map(|row| Held { row, stored: true, changed: false });
            self.sessions.insert(key.to_owned(), stored);
        }
        Ok(self.sessions[key].as_ref().map(|held| held.row.clone()))
    }

    /// Keeps a session's new state, read first with [`Pending::session`].
    pub fn put_session(&mut self, session: Session) {
        let slot = self.sessions.entry(session.session_key.clone()).or_default();
        match slot {
            Some(held) => {
                held.row = session;
                held.changed = true;
            }
            None => *slot = Some(Held { row: session, stored: false, changed: true }),
        }
    }

    /// A visitor's days of `kind` in the cells that pair "any" or
    /// `category` with "any" or `area` ('' for none), each cell's by day.
    pub fn days(
        &mut self,
        conn: &mut DbConn,
        visitor: &str,
        (category, area): (&str, &str),
        kind: &str,
    ) -> QueryResult<Vec<VisitorDay>> {
        let category = if category.is_empty() { ANY_CATEGORY } else { category };
        let area = if area.is_empty() { ANY_AREA } else { area };
        let mut cells: Vec<DayCell> =
            [(ANY_CATEGORY, ANY_AREA), (category, ANY_AREA), (ANY_CATEGORY, area), (category, area)]
                .iter()
                .map(|(c, a)| cell(visitor, kind, c, a))
                .collect();
        cells.sort_unstable();
        cells.dedup();
        if cells.iter().any(|c| !self.days.contains_key(c)) {
            let mut read: HashMap<DayCell, Vec<Held<VisitorDay>>> = HashMap::new();
            for row in store::visitor_days(conn, visitor, ([ANY_CATEGORY, category], [ANY_AREA, area]), kind)? {
                let key = cell(visitor, kind, &row.category, &row.area);
                read.entry(key).or_default().push(Held { row, stored: true, changed: false });
            }
            // A cell already held may have changed since: it stays as held.
            for key in &cells {
                if !self.days.contains_key(key) {
                    self.days.insert(key.clone(), read.remove(key).unwrap_or_default());
                }
            }
        }
        Ok(cells.iter().flat_map(|c| self.days[c].iter().map(|held| held.row.clone())).collect())
    }

    /// Keeps a new or changed day, read first with [`Pending::days`].
    pub fn put_day(&mut self, day: VisitorDay) {
        let days = self.days.entry(cell(&day.visitor_id, &day.kind, &day.category, &day.area)).or_default();
        match days.binary_search_by_key(&day.day, |held| held.row.day) {
            Ok(at) => {
                days[at].row = day;
                days[at].changed = true;
            }
            Err(at) => days.insert(at, Held { row: day, stored: false, changed: true }),
        }
    }

    /// Whether the visitor may have contact intents (false only when known
    /// to have none): most visitors never start one, and then a
    /// self-service event has none to move.
    pub fn may_have_intents(&mut self, conn: &mut DbConn, visitor: &str) -> QueryResult<bool> {
        if let Some(&known) = self.has_intents.get(visitor) {
            return Ok(known);
        }
        let has = store::has_intents(conn, visitor)?;
        self.has_intents.insert(visitor.to_owned(), has);
        Ok(has)
    }

    /// Notes that the visitor now has an intent.
    pub fn intent_kept(&mut self, visitor: &str) {
        self.has_intents.insert(visitor.to_owned(), true);
    }

    /// Writes what changed: the sessions and days, then the rollups.
    pub fn flush(self, conn: &mut DbConn) -> QueryResult<()> {
        for held in self.sessions.into_values().flatten().filter(|h| h.changed) {
            store::save_session(conn, &held.row, held.stored)?;
        }
        let mut new_days = Vec::new();
        for held in self.days.into_values().flatten().filter(|h| h.changed) {
            if held.stored {
                store::save_visitor_day(conn, &held.row, true)?;
            } else {
                new_days.push(held.row);
            }
        }
        store::insert_visitor_days(conn, &new_days)?;
        let changes: Vec<_> = self.deltas.into_changes().collect();
        let keyed: Vec<_> = changes.iter().map(|(cell, n)| (cell.key(), *n)).collect();
        store::add_to_rollups(conn, &keyed)
    }
}
