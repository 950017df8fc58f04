//! The search outbox: every write that changes what search shows enqueues
//! its question here in the same transaction; the indexer tails it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::search_outbox;

pub fn enqueue(conn: &mut DbConn, question_id: i64, reason: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(search_outbox::table)
        .values((
            search_outbox::question_id.eq(question_id),
            search_outbox::reason.eq(reason),
            search_outbox::created_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// (position, question id) of entries after `position`, oldest first.
pub fn after(conn: &mut DbConn, position: i64, limit: i64) -> QueryResult<Vec<(i64, i64)>> {
    search_outbox::table
        .filter(search_outbox::id.gt(position))
        .order(search_outbox::id.asc())
        .limit(limit)
        .select((search_outbox::id, search_outbox::question_id))
        .load(conn)
}

/// The entries at the positions `ids` that exist now: positions the
/// indexer passed over and waits on. No query when there are none.
pub fn with_ids(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(i64, i64)> = search_outbox::table
            .filter(search_outbox::id.eq_any(chunk))
            .select((search_outbox::id, search_outbox::question_id))
            .load(conn)?;
        found.extend(rows);
    }
    Ok(found)
}

/// How many entries lie after `position`, and when the oldest of them was
/// written: the indexer's lag.
pub fn pending_after(conn: &mut DbConn, position: i64) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    search_outbox::table
        .filter(search_outbox::id.gt(position))
        .select((diesel::dsl::count_star(), diesel::dsl::min(search_outbox::created_at)))
        .get_result(conn)
}

pub fn count_for(conn: &mut DbConn, question_id: i64) -> QueryResult<i64> {
    search_outbox::table.filter(search_outbox::question_id.eq(question_id)).count().get_result(conn)
}
