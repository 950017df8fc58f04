//! Retention (`service::privacy::retention`): finding visitors gone quiet
//! and replacing their id everywhere it is held, and deleting old search
//! text.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::schema::{
    deflection_events as de, deflection_intents as di, deflection_pairs as dp, deflection_search_gaps as dg,
    deflection_sessions as ds, deflection_visitor_days as dv, search_gaps,
};
use super::{DbConn, MultiBackend, portable_sql};

/// Ids already replaced start with this; ingest refuses it from clients.
pub const PSEUDONYM_PREFIX: &str = "anon:";

#[derive(QueryableByName)]
struct VisitorRow {
    #[diesel(sql_type = Text)]
    visitor_id: String,
}

/// Visitors whose latest event happened before `cutoff_epoch` (seconds)
/// and whose id was not replaced yet, at most `limit`.
pub fn quiet_visitors(conn: &mut DbConn, cutoff_epoch: i64, limit: i64) -> QueryResult<Vec<String>> {
    let sql = portable_sql(
        conn,
        "SELECT visitor_id FROM deflection_events WHERE visitor_id NOT LIKE 'anon:%'
         GROUP BY visitor_id HAVING MAX(occurred_epoch) < ? LIMIT ?",
    );
    let rows: Vec<VisitorRow> = diesel::sql_query(sql)
        .into_boxed::<MultiBackend>()
        .bind::<BigInt, _>(cutoff_epoch)
        .bind::<BigInt, _>(limit)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| r.visitor_id).collect())
}

/// The visitor's first and latest event (seconds).
pub fn event_span(conn: &mut DbConn, visitor: &str) -> QueryResult<(Option<i64>, Option<i64>)> {
    de::table
        .filter(de::visitor_id.eq(visitor))
        .select((diesel::dsl::min(de::occurred_epoch), diesel::dsl::max(de::occurred_epoch)))
        .first(conn)
}

/// Replaces `visitor` by `pseudonym` in the raw events, every derived row
/// and the search-gap log. The derived rows' keys hold the id too, so the
/// state stays what a rebuild from the raw events would give.
pub fn replace_visitor(conn: &mut DbConn, visitor: &str, pseudonym: &str) -> QueryResult<()> {
    diesel::update(de::table.filter(de::visitor_id.eq(visitor))).set(de::visitor_id.eq(pseudonym)).execute(conn)?;
    diesel::update(dp::table.filter(dp::visitor_id.eq(visitor))).set(dp::visitor_id.eq(pseudonym)).execute(conn)?;
    diesel::update(di::table.filter(di::visitor_id.eq(visitor))).set(di::visitor_id.eq(pseudonym)).execute(conn)?;
    diesel::update(dv::table.filter(dv::visitor_id.eq(visitor))).set(dv::visitor_id.eq(pseudonym)).execute(conn)?;
    diesel::update(dg::table.filter(dg::searcher.eq(visitor))).set(dg::searcher.eq(pseudonym)).execute(conn)?;
    diesel::update(search_gaps::table.filter(search_gaps::visitor_id.eq(visitor)))
        .set(search_gaps::visitor_id.eq(pseudonym))
        .execute(conn)?;
    // A session's key is "<visitor>/<session>".
    let prefix = format!("{visitor}/");
    let sessions: Vec<String> = ds::table.filter(ds::visitor_id.eq(visitor)).select(ds::session_key).load(conn)?;
    for key in sessions {
        let rest = key.strip_prefix(&prefix).unwrap_or(&key);
        diesel::update(ds::table.find(&key))
            .set((ds::session_key.eq(format!("{pseudonym}/{rest}")), ds::visitor_id.eq(pseudonym)))
            .execute(conn)?;
    }
    Ok(())
}

/// Deletes search text from before `cutoff`: the text of events (kept,
/// they still count) and the gap log's rows and their derived counts.
/// Returns how many texts went.
pub fn delete_search_text(conn: &mut DbConn, cutoff: NaiveDateTime, batch: i64) -> QueryResult<usize> {
    let cutoff_epoch = cutoff.and_utc().timestamp();
    let mut deleted = 0;
    loop {
        let ids: Vec<i64> = de::table
            .filter(de::occurred_epoch.lt(cutoff_epoch))
            .filter(de::query.is_not_null())
            .select(de::id)
            .limit(batch)
            .load(conn)?;
        if ids.is_empty() {
            break;
        }
        deleted +=
            diesel::update(de::table.filter(de::id.eq_any(&ids))).set(de::query.eq(None::<String>)).execute(conn)?;
    }
    deleted += diesel::delete(search_gaps::table.filter(search_gaps::created_at.lt(cutoff))).execute(conn)?;
    // The derived counts' day is a day number (days since 1970).
    let cutoff_day = cutoff_epoch.div_euclid(86_400);
    diesel::delete(dg::table.filter(dg::day.lt(cutoff_day))).execute(conn)?;
    Ok(deleted)
}

/// The keyed address of events only matters on its own day (plausibility).
pub fn clear_address_keys_before(conn: &mut DbConn, cutoff_epoch: i64) -> QueryResult<usize> {
    diesel::update(de::table.filter(de::address_key.is_not_null()).filter(de::occurred_epoch.lt(cutoff_epoch)))
        .set(de::address_key.eq(None::<String>))
        .execute(conn)
}
