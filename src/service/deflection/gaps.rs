//! The searches of the content-gap report (GET /deflection/gaps), from two
//! sources: searches the server answered itself (GET /search, logged in
//! `search_gaps` by the search service's recorder) and frontends'
//! `search_performed` events whose `result_ids` came back empty.
//!
//! The report counts searchers, not requests: a searcher's query counts
//! once per UTC day, whichever sources saw it. A searcher is the visitor
//! (the event's `visitor_id`, or GET /search's `X-Visitor-Id`), so a
//! frontend that both calls GET /search with `X-Visitor-Id` and reports
//! the search as an event counts it once; a server-seen search without
//! `X-Visitor-Id` is a searcher of its own. Each row says which sources saw
//! it, so the report can show both. Rows are kept per report cell, like
//! visitor-days, so a searcher counts once whatever the filter.

use chrono::NaiveDateTime;
use diesel::QueryResult;

use super::rollup::{day_of, report_cells};
use crate::store::DbConn;
use crate::store::deflection::{self as store, GapSearch, StoredEvent};
use crate::store::search::{self as log, SearchGap};

/// Searches that found nothing.
pub const ZERO_RESULTS: &str = "zero_results";
/// Searches that found questions, none of them solved (server-seen only:
/// events do not say whether their results were solved).
pub const NO_SOLVED_RESULT: &str = "no_solved_result";

/// Longest normalised query kept, in characters.
const MAX_QUERY_CHARS: usize = 200;

/// The form a query is counted under: words separated by single spaces,
/// lowercase, at most 200 characters. Both sources use it, so the same
/// search is the same query. Phone numbers, email addresses and reference
/// numbers are redacted first (`pii::redact`): the log is kept for months.
pub fn normalise_query(text: &str) -> String {
    let text = crate::service::pii::redact(text);
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    words.chars().take(MAX_QUERY_CHARS).collect()
}

/// Which source saw a search.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Server,
    Frontend,
}

/// One search seen by a source, before it is counted in its cells.
struct Seen<'a> {
    kind: &'a str,
    query: String,
    searcher: String,
    category: &'a str,
    area: &'a str,
    at: NaiveDateTime,
    source: Source,
}

fn count(conn: &mut DbConn, seen: Seen<'_>) -> QueryResult<()> {
    if seen.query.is_empty() {
        return Ok(());
    }
    let day = day_of(seen.at.and_utc().timestamp());
    for (category, area) in report_cells(seen.category, seen.area) {
        let row = GapSearch {
            kind: seen.kind.to_owned(),
            category: category.to_owned(),
            area: area.to_owned(),
            day,
            query: seen.query.clone(),
            searcher: seen.searcher.clone(),
            by_server: seen.source == Source::Server,
            by_frontend: seen.source == Source::Frontend,
        };
        store::add_gap_search(conn, &row)?;
    }
    Ok(())
}

/// Counts a counted `search_performed` event that found nothing (an empty
/// `result_ids`; without `result_ids` the frontend did not say).
pub fn frontend_search(conn: &mut DbConn, e: &StoredEvent) -> QueryResult<()> {
    let (Some("[]"), Some(query)) = (e.result_ids.as_deref(), e.query.as_deref()) else {
        return Ok(());
    };
    let seen = Seen {
        kind: ZERO_RESULTS,
        query: normalise_query(query),
        searcher: e.visitor_id.clone(),
        category: e.category.as_deref().unwrap_or(""),
        area: e.area.as_deref().unwrap_or(""),
        at: e.occurred_at,
        source: Source::Frontend,
    };
    count(conn, seen)
}

/// The searcher of a server-seen search: its visitor, or the search itself
/// (visitor ids have no spaces, so the two never meet).
fn server_searcher(id: i64, gap: &SearchGap) -> String {
    gap.visitor_id.clone().unwrap_or_else(|| format!("search {id}"))
}

fn count_logged(conn: &mut DbConn, id: i64, gap: &SearchGap) -> QueryResult<()> {
    let seen = Seen {
        kind: &gap.kind,
        query: gap.query.clone(),
        searcher: server_searcher(id, gap),
        category: gap.category.as_deref().unwrap_or(""),
        area: gap.area.as_deref().unwrap_or(""),
        at: gap.created_at,
        source: Source::Server,
    };
    count(conn, seen)
}

/// Logs server-seen searches and counts them, inside the caller's
/// transaction (the search service's recorder; only searches that count).
pub fn record_server_searches(conn: &mut DbConn, gaps: &[SearchGap]) -> QueryResult<()> {
    for gap in gaps {
        let id = log::record_gap(conn, gap)?;
        count_logged(conn, id, gap)?;
    }
    Ok(())
}

/// Counts the whole search-gap log again (after the derived state was
/// cleared), a batch per transaction.
pub fn replay_server_searches(conn: &mut DbConn) -> QueryResult<u64> {
    let mut after = 0;
    let mut replayed = 0;
    loop {
        let batch = log::gaps_after(conn, after, 2_000)?;
        let Some(last) = batch.last().map(|(id, _)| *id) else { return Ok(replayed) };
        crate::store::write_transaction(conn, |conn| {
            batch.iter().try_for_each(|(id, gap)| count_logged(conn, *id, gap))
        })?;
        replayed += batch.len() as u64;
        after = last;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_counted_lowercase_with_single_spaces() {
        assert_eq!(normalise_query("  Allotment\t WAITING\nlist "), "allotment waiting list");
        assert_eq!(normalise_query("Ärger MIT Müll"), "ärger mit müll");
        assert_eq!(normalise_query(&"x".repeat(250)).len(), 200);
        assert_eq!(normalise_query("   "), "");
    }
}
