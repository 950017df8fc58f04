//! Rebuilding the derived state and rollups from the raw events, and
//! checking that the rollups agree with the rows they sum.

use std::collections::BTreeMap;

use diesel::QueryResult;

use super::rollup::{self, Deltas};
use super::{STATE_VERSION, derive, gaps, pending};
use crate::store::deflection as events;
use crate::store::{DbConn, write_transaction};

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
