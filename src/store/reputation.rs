//! The append-only reputation ledger and the per-category statistics that
//! follow it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{reputation_events, user_category_stats, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reputation_events)]
pub struct ReputationEvent {
    pub id: i64,
    pub user_id: i64,
    /// What was applied, after the daily cap and the floor.
    pub delta: i32,
    /// What the point table says.
    pub points: i32,
    pub reason: String,
    pub source_type: String,
    pub source_id: i64,
    pub post_type: Option<String>,
    pub post_id: Option<i64>,
    pub category_id: Option<i64>,
    /// The UTC day whose vote cap this event counts against.
    pub day: String,
    pub reverses_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = reputation_events)]
pub struct ReputationEventInsertForm<'a> {
    pub user_id: i64,
    pub delta: i32,
    pub points: i32,
    pub reason: &'a str,
    pub source_type: &'a str,
    pub source_id: i64,
    pub post_type: Option<&'a str>,
    pub post_id: Option<i64>,
    pub category_id: Option<i64>,
    pub day: &'a str,
    pub reverses_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, form: &ReputationEventInsertForm<'_>) -> QueryResult<()> {
    diesel::insert_into(reputation_events::table).values(form).execute(conn).map(|_| ())
}

/// Events of a source (a vote, an acceptance…) that are in force: neither
/// reversals nor already reversed.
pub fn active_for_source(conn: &mut DbConn, source_type: &str, source_id: i64) -> QueryResult<Vec<ReputationEvent>> {
    let events: Vec<ReputationEvent> = reputation_events::table
        .filter(reputation_events::source_type.eq(source_type))
        .filter(reputation_events::source_id.eq(source_id))
        .order(reputation_events::id.asc())
        .select(ReputationEvent::as_select())
        .load(conn)?;
    let reversed: Vec<i64> = events.iter().filter_map(|e| e.reverses_id).collect();
    Ok(events.into_iter().filter(|e| e.reverses_id.is_none() && !reversed.contains(&e.id)).collect())
}

/// Points a user has from the given reasons on a cap day (net of
/// reversals of those events).
pub fn sum_for_day(conn: &mut DbConn, user_id: i64, day: &str, reasons: &[&str]) -> QueryResult<i64> {
    let sum: Option<i64> = reputation_events::table
        .filter(reputation_events::user_id.eq(user_id))
        .filter(reputation_events::day.eq(day))
        .filter(reputation_events::reason.eq_any(reasons))
        .select(diesel::dsl::sum(reputation_events::delta))
        .first(conn)?;
    Ok(sum.unwrap_or(0))
}

/// Locks the user's row until the transaction ends (PostgreSQL; SQLite
/// transactions already hold the write lock) and reads the reputation.
pub fn lock_reputation(conn: &mut DbConn, user_id: i64) -> QueryResult<i32> {
    diesel::update(users::table.find(user_id))
        .set(users::reputation.eq(users::reputation))
        .returning(users::reputation)
        .get_result(conn)
}

pub fn add_to_user(conn: &mut DbConn, user_id: i64, delta: i32) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set(users::reputation.eq(users::reputation + delta))
        .execute(conn)
        .map(|_| ())
}

/// Adds to a user's reputation in a category, creating the row.
pub fn add_to_category(conn: &mut DbConn, user_id: i64, category_id: i64, delta: i32) -> QueryResult<()> {
    ensure_stats_row(conn, user_id, category_id)?;
    diesel::update(user_category_stats::table.find((user_id, category_id)))
        .set(user_category_stats::reputation.eq(user_category_stats::reputation + delta))
        .execute(conn)
        .map(|_| ())
}

/// Creates the (user, category) statistics row if missing. Callers hold
/// the user's row lock, so two transactions never race to create it.
pub fn ensure_stats_row(conn: &mut DbConn, user_id: i64, category_id: i64) -> QueryResult<()> {
    let exists: bool = diesel::select(diesel::dsl::exists(user_category_stats::table.find((user_id, category_id))))
        .get_result(conn)?;
    if !exists {
        diesel::insert_into(user_category_stats::table)
            .values((user_category_stats::user_id.eq(user_id), user_category_stats::category_id.eq(category_id)))
            .execute(conn)?;
    }
    Ok(())
}

/// (user id, cached reputation, 1 + sum of the ledger) for every user whose
/// two disagree.
pub fn mismatches(conn: &mut DbConn) -> QueryResult<Vec<(i64, i32, i64)>> {
    let sums: Vec<(i64, Option<i64>)> = reputation_events::table
        .group_by(reputation_events::user_id)
        .select((reputation_events::user_id, diesel::dsl::sum(reputation_events::delta)))
        .load(conn)?;
    let sums: std::collections::HashMap<i64, i64> = sums.into_iter().map(|(u, s)| (u, s.unwrap_or(0))).collect();
    let cached: Vec<(i64, i32)> = users::table.select((users::id, users::reputation)).load(conn)?;
    Ok(cached
        .into_iter()
        .map(|(id, reputation)| (id, reputation, 1 + sums.get(&id).copied().unwrap_or(0)))
        .filter(|&(_, cached, ledger)| i64::from(cached) != ledger)
        .collect())
}

/// (user, category, cached, ledger) for per-category reputation that
/// disagrees with the ledger.
pub fn category_mismatches(conn: &mut DbConn) -> QueryResult<Vec<(i64, i64, i32, i64)>> {
    let sums: Vec<(i64, Option<i64>, Option<i64>)> = reputation_events::table
        .filter(reputation_events::category_id.is_not_null())
        .group_by((reputation_events::user_id, reputation_events::category_id))
        .select((
            reputation_events::user_id,
            reputation_events::category_id,
            diesel::dsl::sum(reputation_events::delta),
        ))
        .load(conn)?;
    let mut ledger: std::collections::HashMap<(i64, i64), i64> = std::collections::HashMap::new();
    for (user_id, category_id, sum) in sums {
        if let Some(category_id) = category_id {
            ledger.insert((user_id, category_id), sum.unwrap_or(0));
        }
    }
    let cached: Vec<(i64, i64, i32)> = user_category_stats::table
        .select((user_category_stats::user_id, user_category_stats::category_id, user_category_stats::reputation))
        .load(conn)?;
    let mut out = Vec::new();
    for (user_id, category_id, reputation) in cached {
        let expected = ledger.remove(&(user_id, category_id)).unwrap_or(0);
        if i64::from(reputation) != expected {
            out.push((user_id, category_id, reputation, expected));
        }
    }
    out.extend(ledger.into_iter().filter(|&(_, v)| v != 0).map(|((u, c), v)| (u, c, 0, v)));
    Ok(out)
}

pub fn set_user_reputation(conn: &mut DbConn, user_id: i64, reputation: i32) -> QueryResult<()> {
    diesel::update(users::table.find(user_id)).set(users::reputation.eq(reputation)).execute(conn).map(|_| ())
}

pub fn set_category_reputation(conn: &mut DbConn, user_id: i64, category_id: i64, reputation: i32) -> QueryResult<()> {
    ensure_stats_row(conn, user_id, category_id)?;
    diesel::update(user_category_stats::table.find((user_id, category_id)))
        .set(user_category_stats::reputation.eq(reputation))
        .execute(conn)
        .map(|_| ())
}

/// A user's ledger, newest first (tests and audits).
pub fn for_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<ReputationEvent>> {
    reputation_events::table
        .filter(reputation_events::user_id.eq(user_id))
        .order(reputation_events::id.desc())
        .limit(10_000)
        .select(ReputationEvent::as_select())
        .load(conn)
}
