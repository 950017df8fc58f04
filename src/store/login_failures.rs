//! Failed logins, kept for the length of the throttling window. Stored in
//! the database rather than in memory so several API nodes share one count.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::login_failures;

pub fn record(conn: &mut DbConn, account_key: &str, ip: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(login_failures::table)
        .values((
            login_failures::account_key.eq(account_key),
            login_failures::ip.eq(ip),
            login_failures::failed_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The times of the most recent failures for an account since `since`,
/// newest first, at most `limit`.
pub fn recent_for_account(
    conn: &mut DbConn,
    account_key: &str,
    since: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<NaiveDateTime>> {
    login_failures::table
        .filter(login_failures::account_key.eq(account_key))
        .filter(login_failures::failed_at.gt(since))
        .order(login_failures::failed_at.desc())
        .select(login_failures::failed_at)
        .limit(limit)
        .load(conn)
}

/// As `recent_for_account`, for a client address.
pub fn recent_for_ip(conn: &mut DbConn, ip: &str, since: NaiveDateTime, limit: i64) -> QueryResult<Vec<NaiveDateTime>> {
    login_failures::table
        .filter(login_failures::ip.eq(ip))
        .filter(login_failures::failed_at.gt(since))
        .order(login_failures::failed_at.desc())
        .select(login_failures::failed_at)
        .limit(limit)
        .load(conn)
}

pub fn clear_account(conn: &mut DbConn, account_key: &str) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::account_key.eq(account_key))).execute(conn)
}

pub fn delete_before(conn: &mut DbConn, cutoff: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(login_failures::failed_at.lt(cutoff))).execute(conn)
}
