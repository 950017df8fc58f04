//! What operations asks of a node: whether its database takes writes, and
//! how much of the search outbox its index has still to apply.

use chrono::NaiveDateTime;

use crate::error::ApiResult;
use crate::store::{self, DbConn, outbox};

/// A write the database must accept (SQLite: the write lock can be taken;
/// PostgreSQL: the connection is not read-only).
pub fn database_writable(conn: &mut DbConn) -> ApiResult<()> {
    Ok(store::probe_writable(conn)?)
}

/// Outbox entries after `position` and how long the oldest of them has
/// waited, in seconds.
pub fn index_lag(conn: &mut DbConn, position: i64, now: NaiveDateTime) -> ApiResult<(i64, f64)> {
    let (entries, oldest) = outbox::pending_after(conn, position)?;
    let seconds = oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
    Ok((entries, seconds))
}

/// Mails waiting (all nodes), and the age in seconds of the oldest.
pub fn mail_queue(conn: &mut DbConn, now: NaiveDateTime) -> ApiResult<(i64, f64)> {
    let (by_status, oldest) = crate::store::mail::counts(conn)?;
    let queued = by_status.iter().filter(|(s, _)| s == "pending" || s == "sending").map(|(_, n)| n).sum();
    let seconds = oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
    Ok((queued, seconds))
}
