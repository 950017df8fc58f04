//! Token buckets in the shared database (PostgreSQL), for rate limits that
//! hold across nodes.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Double, Text};

use super::cached_sql::cached_sql;
use super::{DbConn, MultiBackend};

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Double)]
    tokens: f64,
    #[diesel(sql_type = Bool)]
    allowed: bool,
}

/// Refills the bucket for the time since its last use (at `rate` tokens a
/// second, up to `capacity`) and takes one token if there is one, in one
/// statement, so concurrent requests on any node serialise on the row.
/// Returns (whether a token was taken, tokens left). The database's clock
/// is the one clock every node shares.
pub fn take(conn: &mut DbConn, bucket: &str, capacity: f64, rate: f64) -> QueryResult<(bool, f64)> {
    // The refilled count, once per use: a placeholder is bound once, so the
    // capacity and the rate are bound again for each (the statement's text
    // is fixed, so it stays prepared: every rate-limited request runs it).
    let refill = "LEAST(?, b.tokens + EXTRACT(EPOCH FROM (clock_timestamp()::timestamp - b.updated_at)) * ?)";
    let sql = format!(
        "INSERT INTO rate_limit_buckets AS b (bucket, tokens, allowed, updated_at)
         VALUES (?, ? - 1, TRUE, clock_timestamp()::timestamp)
         ON CONFLICT (bucket) DO UPDATE SET
             tokens = CASE WHEN {refill} >= 1 THEN {refill} - 1 ELSE {refill} END,
             allowed = {refill} >= 1,
             updated_at = clock_timestamp()::timestamp
         RETURNING tokens, allowed"
    );
    let mut query = cached_sql::<MultiBackend>(sql).bind::<Text, _>(bucket).bind::<Double, _>(capacity);
    for _ in 0..4 {
        query = query.bind::<Double, _>(capacity).bind::<Double, _>(rate);
    }
    let taken: Taken = query.get_result(conn)?;
    Ok((taken.allowed, taken.tokens))
}

/// Forgets buckets idle for ten minutes (full again by then for any limit
/// of at least one request a minute per ten of burst).
pub fn sweep(conn: &mut DbConn) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM rate_limit_buckets WHERE updated_at < clock_timestamp()::timestamp - INTERVAL '10 minutes'",
    )
    .execute(conn)
}
