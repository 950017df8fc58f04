//! The plausibility limits' queries (`service::deflection::plausibility`):
//! what one visitor or one address confirmed on a day, moving a flood of
//! confirmations to `implausible`, and one visitor's derived state, to be
//! rebuilt from the events that still count.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::cached_sql::cached_sql;
use super::deflection::{Intent, Pair, Session, StoredEvent, VisitorDay};
use super::schema::{
    deflection_events as de, deflection_intents as di, deflection_pairs as dp, deflection_sessions as ds,
    deflection_visitor_days as dv,
};
use super::{DbConn, MultiBackend};

/// The event types that can confirm a deflection, which the plausibility
/// limits watch.
pub const CONFIRMING: [&str; 7] = [
    "helpful_vote",
    "would_have_contacted",
    "contact_intent_started",
    "contact_suggestions_shown",
    "contact_suggestion_clicked",
    "contact_intent_confirmed_resolved",
    "contact_submitted",
];

fn confirming_list() -> String {
    CONFIRMING.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(", ")
}

/// What a visitor confirmed-or-contacted on a day (seconds [from, to)):
/// distinct intents and surveyed questions, counted or moved as implausible.
pub fn visitor_day_units(conn: &mut DbConn, visitor: &str, from: i64, to: i64) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Unit {
        #[diesel(sql_type = Text)]
        unit: String,
    }
    let sql = format!(
        "SELECT DISTINCT COALESCE('i:' || intent_id, 'q:' || CAST(question_id AS TEXT)) AS unit FROM deflection_events
         WHERE visitor_id = ? AND type IN ({}) AND occurred_epoch >= ? AND occurred_epoch < ?
           AND (excluded = FALSE OR exclusion_reason = 'implausible')
           AND (intent_id IS NOT NULL OR question_id IS NOT NULL)",
        confirming_list()
    );
    let rows: Vec<Unit> = cached_sql::<MultiBackend>(sql)
        .bind::<Text, _>(visitor.to_owned())
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .load(conn)?;
    Ok(rows.into_iter().map(|u| u.unit).collect())
}

/// The visitors who sent confirming events from one address on one day.
pub fn address_day_visitors(conn: &mut DbConn, address_key: &str) -> QueryResult<Vec<String>> {
    de::table
        .filter(de::address_key.eq(address_key))
        .filter(de::kind.eq_any(CONFIRMING))
        .filter(de::excluded.eq(false).or(de::exclusion_reason.eq("implausible")))
        .select(de::visitor_id)
        .distinct()
        .load(conn)
}

/// Moves a visitor's counted confirming events of a day, or an address's,
/// to `implausible`; returns the visitors whose state must be rebuilt.
pub fn move_to_implausible(
    conn: &mut DbConn,
    visitor_day: Option<(&str, i64, i64)>,
    address_key: Option<&str>,
) -> QueryResult<Vec<String>> {
    let mut query = de::table
        .filter(de::kind.eq_any(CONFIRMING))
        .filter(de::excluded.eq(false))
        .select((de::id, de::visitor_id))
        .into_boxed::<MultiBackend>();
    if let Some((visitor, from, to)) = visitor_day {
        query = query
            .filter(de::visitor_id.eq(visitor.to_owned()))
            .filter(de::occurred_epoch.ge(from))
            .filter(de::occurred_epoch.lt(to));
    }
    if let Some(key) = address_key {
        query = query.filter(de::address_key.eq(key.to_owned()));
    }
    let rows: Vec<(i64, String)> = query.load(conn)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    for chunk in ids.chunks(500) {
        diesel::update(de::table.filter(de::id.eq_any(chunk)))
            .set((de::excluded.eq(true), de::exclusion_reason.eq("implausible")))
            .execute(conn)?;
    }
    let mut visitors: Vec<String> = rows.into_iter().map(|(_, v)| v).collect();
    visitors.sort();
    visitors.dedup();
    Ok(visitors)
}

/// One visitor's derived rows.
pub struct VisitorState {
    pub pairs: Vec<Pair>,
    pub intents: Vec<Intent>,
    pub sessions: Vec<Session>,
    pub days: Vec<VisitorDay>,
}

/// One visitor's derived rows, to take out of the rollups before a rebuild.
pub fn state_of_visitor(conn: &mut DbConn, visitor: &str) -> QueryResult<VisitorState> {
    Ok(VisitorState {
        pairs: dp::table.filter(dp::visitor_id.eq(visitor)).select(Pair::as_select()).load(conn)?,
        intents: di::table.filter(di::visitor_id.eq(visitor)).select(Intent::as_select()).load(conn)?,
        sessions: ds::table.filter(ds::visitor_id.eq(visitor)).select(Session::as_select()).load(conn)?,
        days: dv::table.filter(dv::visitor_id.eq(visitor)).select(VisitorDay::as_select()).load(conn)?,
    })
}

pub fn delete_state_of_visitor(conn: &mut DbConn, visitor: &str) -> QueryResult<()> {
    diesel::delete(dp::table.filter(dp::visitor_id.eq(visitor))).execute(conn)?;
    diesel::delete(di::table.filter(di::visitor_id.eq(visitor))).execute(conn)?;
    diesel::delete(ds::table.filter(ds::visitor_id.eq(visitor))).execute(conn)?;
    diesel::delete(dv::table.filter(dv::visitor_id.eq(visitor))).execute(conn)?;
    Ok(())
}

/// A visitor's counted events in the order they arrived.
pub fn counted_events_of(conn: &mut DbConn, visitor: &str) -> QueryResult<Vec<StoredEvent>> {
    de::table
        .filter(de::visitor_id.eq(visitor))
        .filter(de::excluded.eq(false))
        .order(de::id.asc())
        .select(StoredEvent::as_select())
        .load(conn)
}
