//! Deflection events and the state derived from them.
//!
//! Raw events are append-only and deduplicated by `event_id`. The derived
//! state — one row per visitor and question, per contact intent, per
//! self-service session and per visitor-day — is loaded, changed by the
//! service's rules and saved by `deflection_state` (re-exported here), and
//! the daily rollups are adjusted by the difference. Times are Unix seconds
//! so the window arithmetic is the same SQL on both backends.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};

use super::cached_sql::cached_sql;
use super::schema::{
    deflection_events as de, deflection_intents as di, deflection_pairs as dp, deflection_rollups as dr,
    deflection_search_gaps as dg, deflection_sessions as ds, deflection_visitor_days as dv, derived_state,
    experiment_arms as ea,
};
use super::{Backend, DbConn, MultiBackend, portable_sql};

pub use super::deflection_state::*;
pub use super::plausibility::CONFIRMING;

/// Event types that count as a resident trying to help themselves.
pub const SELF_SERVICE: [&str; 7] = [
    "search_performed",
    "search_result_clicked",
    "question_viewed",
    "accepted_answer_viewed",
    "helpful_vote",
    "would_have_contacted",
    "still_need_help_clicked",
];

/// Event types that are an attempt to contact the council.
/// A question escalated to the council is a contact as much as a
/// submitted contact form.
pub const CONTACT_ATTEMPTS: [&str; 3] = ["contact_intent_started", "contact_submitted", "question_escalated"];
pub const CONTACT_SUBMISSIONS: [&str; 2] = ["contact_submitted", "question_escalated"];

/// An event as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = de)]
pub struct StoredEvent {
    pub id: i64,
    pub event_id: String,
    pub kind: String,
    pub occurred_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub visitor_id: String,
    pub session_id: Option<String>,
    pub user_id: Option<i64>,
    pub question_id: Option<i64>,
    pub answer_id: Option<i64>,
    pub intent_id: Option<String>,
    pub query: Option<String>,
    pub result_ids: Option<String>,
    pub rank: Option<i32>,
    pub value: Option<String>,
    pub channel: Option<String>,
    pub category: Option<String>,
    /// The event's own area, else its question's when it arrived.
    pub area: Option<String>,
    pub question_solved: Option<bool>,
    pub source: String,
    pub excluded: bool,
    pub exclusion_reason: Option<String>,
    /// A keyed hash of the sender's address and the day (it cannot be
    /// followed from one day to the next), for the plausibility limits.
    pub address_key: Option<String>,
}

impl StoredEvent {
    /// A counted client event with only its identity, type, time and
    /// visitor set (received when it occurred).
    pub fn new(event_id: String, kind: &str, occurred_at: NaiveDateTime, visitor_id: String) -> StoredEvent {
        StoredEvent {
            id: 0,
            event_id,
            kind: kind.to_owned(),
            occurred_at,
            received_at: occurred_at,
            visitor_id,
            session_id: None,
            user_id: None,
            question_id: None,
            answer_id: None,
            intent_id: None,
            query: None,
            result_ids: None,
            rank: None,
            value: None,
            channel: None,
            category: None,
            area: None,
            question_solved: None,
            source: "client".to_owned(),
            excluded: false,
            exclusion_reason: None,
            address_key: None,
        }
    }

    pub fn epoch(&self) -> i64 {
        self.occurred_at.and_utc().timestamp()
    }
}

/// The columns an event is stored with, in [`bind_event`]'s order.
const EVENT_COLUMNS: &str = "event_id, type, occurred_at, occurred_epoch, received_at, visitor_id, session_id, \
    user_id, question_id, answer_id, intent_id, query, result_ids, rank, value, channel, category, \
    question_solved, source, excluded, exclusion_reason, area, address_key";
const EVENT_COLUMN_COUNT: usize = 23;

/// Events per INSERT: a batch's hundred at most is 2,300 parameters, well
/// inside both databases' limits.
const EVENTS_PER_STATEMENT: usize = 100;

/// Stores events, one statement for up to [`EVENTS_PER_STATEMENT`] of
/// them, skipping those whose `event_id` exists. Returns, row by row, the
/// new row's id, or `None` for a duplicate (of a stored event, or of an
/// earlier row of `rows`).
///
/// One statement per event was half of PostgreSQL's time in a batch of
/// ten (the load bench's POST events: each INSERT parsed, bound and run on
/// its own; `bench/results/2026-12-06-profiles.md`).
pub fn insert_many(conn: &mut DbConn, rows: &[StoredEvent]) -> QueryResult<Vec<Option<i64>>> {
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(EVENTS_PER_STATEMENT) {
        ids.extend(insert_chunk(conn, chunk)?);
    }
    Ok(ids)
}

fn insert_chunk(conn: &mut DbConn, rows: &[StoredEvent]) -> QueryResult<Vec<Option<i64>>> {
    let row = format!("({})", vec!["?"; EVENT_COLUMN_COUNT].join(", "));
    let sql = format!(
        "INSERT INTO deflection_events ({EVENT_COLUMNS}) VALUES {} ON CONFLICT (event_id) DO NOTHING RETURNING id, event_id",
        vec![row; rows.len()].join(", ")
    );
    let mut query = diesel::sql_query(portable_sql(conn, &sql)).into_boxed::<MultiBackend>();
    for e in rows {
        query = bind_event(query, e);
    }
    let inserted: Vec<Inserted> = query.load(conn)?;
    let mut new_ids: HashMap<String, i64> = inserted.into_iter().map(|r| (r.event_id, r.id)).collect();
    // The first row with an event_id is the one stored; a later one in the
    // same statement is a duplicate, as it would have been one by one.
    Ok(rows.iter().map(|e| new_ids.remove(&e.event_id)).collect())
}

type BoxedInsert<'a> = diesel::query_builder::BoxedSqlQuery<'a, MultiBackend, diesel::query_builder::SqlQuery>;

fn bind_event<'a>(query: BoxedInsert<'a>, e: &'a StoredEvent) -> BoxedInsert<'a> {
    query
        .bind::<Text, _>(&e.event_id)
        .bind::<Text, _>(&e.kind)
        .bind::<Timestamp, _>(e.occurred_at)
        .bind::<BigInt, _>(e.epoch())
        .bind::<Timestamp, _>(e.received_at)
        .bind::<Text, _>(&e.visitor_id)
        .bind::<Nullable<Text>, _>(e.session_id.as_deref())
        .bind::<Nullable<BigInt>, _>(e.user_id)
        .bind::<Nullable<BigInt>, _>(e.question_id)
        .bind::<Nullable<BigInt>, _>(e.answer_id)
        .bind::<Nullable<Text>, _>(e.intent_id.as_deref())
        .bind::<Nullable<Text>, _>(e.query.as_deref())
        .bind::<Nullable<Text>, _>(e.result_ids.as_deref())
        .bind::<Nullable<Integer>, _>(e.rank)
        .bind::<Nullable<Text>, _>(e.value.as_deref())
        .bind::<Nullable<Text>, _>(e.channel.as_deref())
        .bind::<Nullable<Text>, _>(e.category.as_deref())
        .bind::<Nullable<Bool>, _>(e.question_solved)
        .bind::<Text, _>(&e.source)
        .bind::<Bool, _>(e.excluded)
        .bind::<Nullable<Text>, _>(e.exclusion_reason.as_deref())
        .bind::<Nullable<Text>, _>(e.area.as_deref())
        .bind::<Nullable<Text>, _>(e.address_key.as_deref())
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    event_id: String,
}

/// Counted events with an id above `after`, oldest first (for rebuilds).
pub fn counted_events_after(conn: &mut DbConn, after: i64, limit: i64) -> QueryResult<Vec<StoredEvent>> {
    de::table
        .filter(de::id.gt(after))
        .filter(de::excluded.eq(false))
        .order(de::id.asc())
        .limit(limit)
        .select(StoredEvent::as_select())
        .load(conn)
}

/// (all events, excluded events) by exclusion reason.
pub fn exclusion_counts(conn: &mut DbConn) -> QueryResult<Vec<(Option<String>, i64)>> {
    de::table.group_by(de::exclusion_reason).select((de::exclusion_reason, diesel::dsl::count_star())).load(conn)
}

/// Serialises concurrent writers of the same visitors' state on
/// PostgreSQL (SQLite's write transactions are already serial). Keys must
/// be sorted so two batches never wait on each other in a cycle.
pub fn lock_visitors(conn: &mut DbConn, keys: &[i64]) -> QueryResult<()> {
    if conn.backend() != Backend::Postgres {
        return Ok(());
    }
    for key in keys {
        cached_sql::<MultiBackend>("SELECT pg_advisory_xact_lock(?)").bind::<BigInt, _>(*key).execute(conn)?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct MaybeEpoch {
    #[diesel(sql_type = Nullable<BigInt>)]
    at: Option<i64>,
}

/// `SELECT {aggregate}(occurred_epoch)` over a visitor's counted events of
/// some types, with a time condition.
fn epoch_of(
    conn: &mut DbConn,
    aggregate: &str,
    visitor: &str,
    kinds: &[&str],
    condition: &str,
    at: i64,
) -> QueryResult<Option<i64>> {
    let placeholders = vec!["?"; kinds.len()].join(", ");
    let sql = format!(
        "SELECT {aggregate}(occurred_epoch) AS at FROM deflection_events
         WHERE visitor_id = ? AND type IN ({placeholders}) AND excluded = FALSE AND occurred_epoch {condition} ?"
    );
    let mut query = cached_sql::<MultiBackend>(sql).bind::<Text, _>(visitor.to_owned());
    for kind in kinds {
        query = query.bind::<Text, _>((*kind).to_owned());
    }
    let row: MaybeEpoch = query.bind::<BigInt, _>(at).get_result(conn)?;
    Ok(row.at)
}

/// The first counted event of `kinds` by a visitor at or after `from`.
pub fn first_at_or_after(conn: &mut DbConn, visitor: &str, kinds: &[&str], from: i64) -> QueryResult<Option<i64>> {
    epoch_of(conn, "MIN", visitor, kinds, ">=", from)
}

/// The last counted event of `kinds` by a visitor before `before`.
pub fn last_before(conn: &mut DbConn, visitor: &str, kinds: &[&str], before: i64) -> QueryResult<Option<i64>> {
    epoch_of(conn, "MAX", visitor, kinds, "<", before)
}

/// A rollup cell's key: day, category, area, metric, gap, gap2.
pub type RollupKey<'a> = (i64, &'a str, &'a str, &'a str, i64, i64);

/// Rollup cells per statement: 7 parameters each.
const ROLLUPS_PER_STATEMENT: usize = 200;

/// Adds each change's `n` to its rollup cell (creating it), a statement
/// per [`ROLLUPS_PER_STATEMENT`] cells rather than one per cell. The keys
/// must be distinct; the cells are written (and locked) in the order
/// given.
pub fn add_to_rollups(conn: &mut DbConn, changes: &[(RollupKey<'_>, i64)]) -> QueryResult<()> {
    for chunk in changes.chunks(ROLLUPS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO deflection_rollups (day, category, area, metric, gap, gap2, n) VALUES {}
             ON CONFLICT (day, category, area, metric, gap, gap2) DO UPDATE SET n = deflection_rollups.n + excluded.n",
            vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ")
        );
        let mut query = diesel::sql_query(portable_sql(conn, &sql)).into_boxed::<MultiBackend>();
        for &((day, category, area, metric, gap, gap2), n) in chunk {
            query = query
                .bind::<BigInt, _>(day)
                .bind::<Text, _>(category)
                .bind::<Text, _>(area)
                .bind::<Text, _>(metric)
                .bind::<BigInt, _>(gap)
                .bind::<BigInt, _>(gap2)
                .bind::<BigInt, _>(n);
        }
        query.execute(conn)?;
    }
    Ok(())
}

/// A rollup cell: day, category, area, metric, gap, gap2 and its count.
pub type RollupCell = (i64, String, String, String, i64, i64, i64);

/// Every non-empty rollup cell, in key order.
pub fn all_rollups(conn: &mut DbConn) -> QueryResult<Vec<RollupCell>> {
    dr::table
        .filter(dr::n.ne(0))
        .order((dr::day, dr::category, dr::area, dr::metric, dr::gap, dr::gap2))
        .select((dr::day, dr::category, dr::area, dr::metric, dr::gap, dr::gap2, dr::n))
        .load(conn)
}

/// One searcher's search that found nothing (or nothing solved) on one
/// day, in one report cell (a category and an area, '*' for any), and which
/// sources saw it: the server (GET /search) or a frontend's event.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = dg)]
pub struct GapSearch {
    pub kind: String,
    pub category: String,
    pub area: String,
    pub day: i64,
    pub query: String,
    pub searcher: String,
    pub by_server: bool,
    pub by_frontend: bool,
}

/// Records a gap search, or adds its source to the one already recorded.
pub fn add_gap_search(conn: &mut DbConn, row: &GapSearch) -> QueryResult<()> {
    cached_sql::<MultiBackend>(
        "INSERT INTO deflection_search_gaps (kind, category, area, day, query, searcher, by_server, by_frontend)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (kind, category, area, day, query, searcher) DO UPDATE
         SET by_server = deflection_search_gaps.by_server OR excluded.by_server,
             by_frontend = deflection_search_gaps.by_frontend OR excluded.by_frontend",
    )
    .bind::<Text, _>(&row.kind)
    .bind::<Text, _>(&row.category)
    .bind::<Text, _>(&row.area)
    .bind::<BigInt, _>(row.day)
    .bind::<Text, _>(&row.query)
    .bind::<Text, _>(&row.searcher)
    .bind::<Bool, _>(row.by_server)
    .bind::<Bool, _>(row.by_frontend)
    .execute(conn)?;
    Ok(())
}

pub fn all_gap_searches(conn: &mut DbConn) -> QueryResult<Vec<GapSearch>> {
    dg::table
        .order((dg::kind, dg::category, dg::area, dg::day, dg::query, dg::searcher))
        .select(GapSearch::as_select())
        .load(conn)
}

/// The name of the deflection state in `derived_state`.
const DERIVED_STATE: &str = "deflection";

/// The version of the rules the derived state was built by (0: none, or a
/// rebuild that did not finish).
pub fn state_version(conn: &mut DbConn) -> QueryResult<i32> {
    let version: Option<i32> =
        derived_state::table.find(DERIVED_STATE).select(derived_state::version).first(conn).optional()?;
    Ok(version.unwrap_or(0))
}

pub fn set_state_version(conn: &mut DbConn, version: i32) -> QueryResult<()> {
    diesel::delete(derived_state::table.find(DERIVED_STATE)).execute(conn)?;
    diesel::insert_into(derived_state::table)
        .values((derived_state::name.eq(DERIVED_STATE), derived_state::version.eq(version)))
        .execute(conn)?;
    Ok(())
}

/// Holds (or releases) the lock that lets one process at a time rebuild
/// the derived state on PostgreSQL; a session lock, as a rebuild spans many
/// transactions. (SQLite serves one node.)
pub fn lock_rebuild(conn: &mut DbConn, hold: bool) -> QueryResult<()> {
    if conn.backend() != Backend::Postgres {
        return Ok(());
    }
    let sql = if hold { "SELECT pg_advisory_lock($1)" } else { "SELECT pg_advisory_unlock($1)" };
    // Any fixed key other than a visitor's would do; visitors' keys are
    // hashes, so this one only collides by a one-in-2^64 chance.
    diesel::sql_query(sql).bind::<BigInt, _>(0x6465_666c_6563_7421_i64).execute(conn)?;
    Ok(())
}

/// Empties the derived state and rollups (raw events stay), and marks the
/// state as built by no rules until a rebuild finishes.
pub fn clear_derived(conn: &mut DbConn) -> QueryResult<()> {
    diesel::delete(derived_state::table.find(DERIVED_STATE)).execute(conn)?;
    diesel::delete(dg::table).execute(conn)?;
    diesel::delete(dr::table).execute(conn)?;
    diesel::delete(dv::table).execute(conn)?;
    diesel::delete(ds::table).execute(conn)?;
    diesel::delete(di::table).execute(conn)?;
    diesel::delete(dp::table).execute(conn)?;
    Ok(())
}

/// The arm an intent was assigned, assigning `proposed` if it had none.
pub fn assign_arm(conn: &mut DbConn, intent: &str, proposed: &str, now: NaiveDateTime) -> QueryResult<String> {
    cached_sql::<MultiBackend>(
        "INSERT INTO experiment_arms (intent_id, arm, assigned_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(intent)
    .bind::<Text, _>(proposed)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    ea::table.find(intent).select(ea::arm).first(conn)
}

pub fn arm_of(conn: &mut DbConn, intent: &str) -> QueryResult<Option<String>> {
    ea::table.find(intent).select(ea::arm).first(conn).optional()
}

/// What an event needs to know about its question, as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionFacts {
    pub solved: bool,
    /// Its category's slug.
    pub category: String,
    pub area: Option<String>,
    pub author_id: i64,
}

pub fn question_facts(conn: &mut DbConn, question: i64) -> QueryResult<Option<QuestionFacts>> {
    use super::schema::{categories, questions};
    questions::table
        .inner_join(categories::table)
        .filter(questions::id.eq(question))
        .select((questions::status, categories::slug, questions::area, questions::author_id))
        .first::<(String, String, Option<String>, i64)>(conn)
        .optional()
        .map(|row| {
            row.map(|(status, category, area, author_id)| QuestionFacts {
                solved: status == "solved",
                category,
                area,
                author_id,
            })
        })
}

/// The facts of the questions that exist among `ids`. PostgreSQL reads
/// them in one statement (an array parameter keeps it prepared); SQLite
/// one by one, as a list of any length would be prepared again each time
/// and an in-process statement costs no round trip.
pub fn questions_facts(conn: &mut DbConn, ids: impl Iterator<Item = i64>) -> QueryResult<HashMap<i64, QuestionFacts>> {
    use super::schema::{categories, questions};
    let mut ids: Vec<i64> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    match conn {
        DbConn::Postgres(c) => {
            let rows: Vec<FactsRow> = questions::table
                .inner_join(categories::table)
                .filter(questions::id.eq_any(&ids))
                .select((questions::id, questions::status, categories::slug, questions::area, questions::author_id))
                .load(c)?;
            Ok(rows.into_iter().map(with_facts).collect())
        }
        DbConn::Sqlite(_) => {
            let mut facts = HashMap::with_capacity(ids.len());
            for id in ids {
                if let Some(found) = question_facts(conn, id)? {
                    facts.insert(id, found);
                }
            }
            Ok(facts)
        }
    }
}

/// Every question's id and facts (for the demo's synthetic traffic).
pub fn question_catalogue(conn: &mut DbConn) -> QueryResult<Vec<(i64, QuestionFacts)>> {
    use super::schema::{categories, questions};
    let rows: Vec<FactsRow> = questions::table
        .inner_join(categories::table)
        .filter(questions::deleted_at.is_null())
        .order(questions::id)
        .select((questions::id, questions::status, categories::slug, questions::area, questions::author_id))
        .load(conn)?;
    Ok(rows.into_iter().map(with_facts).collect())
}

/// A question's id, status, category slug, area and author.
type FactsRow = (i64, String, String, Option<String>, i64);

fn with_facts((id, status, category, area, author_id): FactsRow) -> (i64, QuestionFacts) {
    (id, QuestionFacts { solved: status == "solved", category, area, author_id })
}

pub fn answer_author(conn: &mut DbConn, answer: i64) -> QueryResult<Option<i64>> {
    use super::schema::answers;
    answers::table.find(answer).select(answers::author_id).first(conn).optional()
}

/// Excluded events by reason, in a period (seconds [from, to)) and report
/// cell. The partial index `deflection_events_excluded_idx` holds only
/// excluded events, so this reads a twentieth of the table, not all of it.
pub fn exclusions_in(
    conn: &mut DbConn,
    from: i64,
    to: i64,
    category: Option<&str>,
    area: Option<&str>,
) -> QueryResult<Vec<(String, i64)>> {
    #[derive(QueryableByName)]
    struct Reason {
        #[diesel(sql_type = Nullable<Text>)]
        reason: Option<String>,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut sql = "SELECT exclusion_reason AS reason, COUNT(*) AS n FROM deflection_events
         WHERE excluded = TRUE AND occurred_epoch >= ? AND occurred_epoch < ?"
        .to_owned();
    if category.is_some() {
        sql.push_str(" AND category = ?");
    }
    if area.is_some() {
        sql.push_str(" AND area = ?");
    }
    sql.push_str(" GROUP BY exclusion_reason");
    let mut query = diesel::sql_query(portable_sql(conn, &sql))
        .into_boxed::<MultiBackend>()
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to);
    if let Some(category) = category {
        query = query.bind::<Text, _>(category.to_owned());
    }
    if let Some(area) = area {
        query = query.bind::<Text, _>(area.to_owned());
    }
    let rows: Vec<Reason> = query.load(conn)?;
    Ok(rows.into_iter().map(|r| (r.reason.unwrap_or_default(), r.n)).collect())
}
