//! Webhooks: the council's endpoints, the delivery log the sender tails
//! and each attempt's record.

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Timestamp};

use super::id_list::in_ids;
use super::schema::{webhook_attempts, webhook_deliveries, webhook_endpoints};
use super::{DbConn, native};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    pub id: i64,
    pub url: String,
    pub description: String,
    /// A JSON array of event types.
    pub events: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<NaiveDateTime>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct EndpointInsertForm<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub events: &'a str,
    pub secret: &'a str,
    pub enabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// What an admin's change sets; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = webhook_endpoints)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<String>,
    pub enabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub failing_since: Option<Option<NaiveDateTime>>,
    pub secret: Option<String>,
    pub previous_secret: Option<Option<String>>,
    pub previous_secret_expires_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert_endpoint(conn: &mut DbConn, form: &EndpointInsertForm<'_>) -> QueryResult<Endpoint> {
    diesel::insert_into(webhook_endpoints::table).values(form).get_result::<Endpoint>(conn)
}

pub fn endpoints(conn: &mut DbConn, limit: i64) -> QueryResult<Vec<Endpoint>> {
    webhook_endpoints::table.order(webhook_endpoints::id.asc()).limit(limit).select(Endpoint::as_select()).load(conn)
}

pub fn endpoint_count(conn: &mut DbConn) -> QueryResult<i64> {
    webhook_endpoints::table.select(count_star()).get_result(conn)
}

pub fn find_endpoint(conn: &mut DbConn, id: i64) -> QueryResult<Option<Endpoint>> {
    webhook_endpoints::table.find(id).select(Endpoint::as_select()).first(conn).optional()
}

pub fn endpoints_by_id(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<Endpoint>> {
    webhook_endpoints::table.filter(webhook_endpoints::id.eq_any(ids)).select(Endpoint::as_select()).load(conn)
}

pub fn change_endpoint(conn: &mut DbConn, id: i64, changes: &EndpointChanges) -> QueryResult<usize> {
    diesel::update(webhook_endpoints::table.find(id)).set(changes).execute(conn)
}

pub fn delete_endpoint(conn: &mut DbConn, id: i64) -> QueryResult<usize> {
    // Deliveries and attempts go by cascade on PostgreSQL; SQLite enforces
    // foreign keys only when told, so they are deleted here for both.
    let deliveries =
        webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id)).select(webhook_deliveries::id);
    diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(deliveries))).execute(conn)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(id))).execute(conn)?;
    diesel::delete(webhook_endpoints::table.find(id)).execute(conn)
}

/// Marks the start of a run of failures, unless one is running already;
/// returns when the run started.
pub fn note_failure(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<Option<NaiveDateTime>> {
    diesel::update(webhook_endpoints::table.find(id).filter(webhook_endpoints::failing_since.is_null()))
        .set(webhook_endpoints::failing_since.eq(now))
        .execute(conn)?;
    webhook_endpoints::table
        .find(id)
        .select(webhook_endpoints::failing_since)
        .first(conn)
        .optional()
        .map(Option::flatten)
}

/// Ends a run of failures (a success arrived).
pub fn note_success(conn: &mut DbConn, id: i64) -> QueryResult<()> {
    diesel::update(webhook_endpoints::table.find(id).filter(webhook_endpoints::failing_since.is_not_null()))
        .set(webhook_endpoints::failing_since.eq(None::<NaiveDateTime>))
        .execute(conn)
        .map(|_| ())
}

/// Disables an endpoint and abandons what was waiting for it; false when
/// it was disabled already (so admins are told once).
pub fn disable(conn: &mut DbConn, id: i64, reason: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let changed = diesel::update(webhook_endpoints::table.find(id).filter(webhook_endpoints::enabled.eq(true)))
        .set((
            webhook_endpoints::enabled.eq(false),
            webhook_endpoints::disabled_reason.eq(reason),
            webhook_endpoints::updated_at.eq(now),
        ))
        .execute(conn)?;
    abandon_waiting(conn, id, &format!("abandoned: the endpoint was disabled ({reason})"), now)?;
    Ok(changed == 1)
}

/// Abandons the endpoint's deliveries that wait for an attempt.
pub fn abandon_waiting(conn: &mut DbConn, endpoint_id: i64, reason: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
            .filter(webhook_deliveries::status.eq_any(["pending", "failed", "sending"])),
    )
    .set((
        webhook_deliveries::status.eq("abandoned"),
        webhook_deliveries::last_error.eq(reason),
        webhook_deliveries::updated_at.eq(now),
    ))
    .execute(conn)
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    pub id: i64,
    pub endpoint_id: i64,
    pub message_id: String,
    pub event_type: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub response_status: Option<i32>,
    pub duration_ms: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// One event to deliver: what happened (`subject`: its ids, as JSON) and
/// its idempotency key.
pub struct NewEvent<'a> {
    pub message_id: &'a str,
    pub event_type: &'a str,
    pub subject: &'a str,
    pub at: NaiveDateTime,
}

/// Queues the event for every enabled endpoint subscribed to its type, in
/// one statement inside the caller's transaction; returns how many.
pub fn enqueue(conn: &mut DbConn, event: &NewEvent<'_>) -> QueryResult<usize> {
    let subscribed = format!("%\"{}\"%", event.event_type);
    let rows = webhook_endpoints::table
        .filter(webhook_endpoints::enabled.eq(true))
        .filter(webhook_endpoints::events.like(subscribed))
        .select((
            webhook_endpoints::id,
            event.message_id.into_sql::<Text>(),
            event.event_type.into_sql::<Text>(),
            event.subject.into_sql::<Text>(),
            "pending".into_sql::<Text>(),
            0.into_sql::<Integer>(),
            event.at.into_sql::<Timestamp>(),
            event.at.into_sql::<Timestamp>(),
            event.at.into_sql::<Timestamp>(),
        ));
    diesel::insert_into(webhook_deliveries::table)
        .values(rows)
        .into_columns((
            webhook_deliveries::endpoint_id,
            webhook_deliveries::message_id,
            webhook_deliveries::event_type,
            webhook_deliveries::subject,
            webhook_deliveries::status,
            webhook_deliveries::attempts,
            webhook_deliveries::next_attempt_at,
            webhook_deliveries::created_at,
            webhook_deliveries::updated_at,
        ))
        .execute(conn)
}

/// Queues an event for one endpoint (the test `ping`).
pub fn enqueue_for(conn: &mut DbConn, endpoint_id: i64, event: &NewEvent<'_>) -> QueryResult<Delivery> {
    diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::endpoint_id.eq(endpoint_id),
            webhook_deliveries::message_id.eq(event.message_id),
            webhook_deliveries::event_type.eq(event.event_type),
            webhook_deliveries::subject.eq(event.subject),
            webhook_deliveries::status.eq("pending"),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(event.at),
            webhook_deliveries::created_at.eq(event.at),
            webhook_deliveries::updated_at.eq(event.at),
        ))
        .get_result::<Delivery>(conn)
}

/// Claims up to `limit` due deliveries for this node until `lease_until`:
/// waiting ones whose time has come, and ones whose claimer died (lease
/// lapsed). On PostgreSQL rows another node is claiming are skipped, so
/// each delivery is attempted by one node at a time.
pub fn claim_due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    let due = webhook_deliveries::status
        .eq_any(["pending", "failed"])
        .and(webhook_deliveries::next_attempt_at.le(now))
        .or(webhook_deliveries::status.eq("sending").and(webhook_deliveries::lease_until.lt(now)));
    let query = webhook_deliveries::table
        .filter(due)
        .order(webhook_deliveries::next_attempt_at.asc())
        .limit(limit)
        .select(webhook_deliveries::id);
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(c) => query.for_update().skip_locked().load(c)?,
        DbConn::Sqlite(c) => query.load(c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One statement text whatever the batch's size, so it stays prepared.
    native!(conn, |c| {
        diesel::update(webhook_deliveries::table.filter(in_ids(webhook_deliveries::id, &ids)))
            .set((webhook_deliveries::status.eq("sending"), webhook_deliveries::lease_until.eq(lease_until)))
            .execute(c)
    })?;
    native!(conn, |c| {
        webhook_deliveries::table
            .filter(in_ids(webhook_deliveries::id, &ids))
            .order(webhook_deliveries::id.asc())
            .select(Delivery::as_select())
            .load(c)
    })
}

/// How an attempt (or the decision not to make one) left a delivery.
pub struct DeliveryOutcome<'a> {
    pub status: &'a str,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub response_status: Option<i32>,
    pub duration_ms: Option<i32>,
    pub last_error: Option<&'a str>,
    pub at: NaiveDateTime,
}

pub fn record_outcome(conn: &mut DbConn, id: i64, outcome: &DeliveryOutcome<'_>) -> QueryResult<()> {
    diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::status.eq(outcome.status),
            webhook_deliveries::attempts.eq(outcome.attempts),
            webhook_deliveries::next_attempt_at.eq(outcome.next_attempt_at),
            webhook_deliveries::lease_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::response_status.eq(outcome.response_status),
            webhook_deliveries::duration_ms.eq(outcome.duration_ms),
            webhook_deliveries::last_error.eq(outcome.last_error),
            webhook_deliveries::updated_at.eq(outcome.at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Hands claimed deliveries back unattempted, due at `at`.
pub fn release(conn: &mut DbConn, ids: &[i64], at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::id.eq_any(ids))
            .filter(webhook_deliveries::status.eq("sending")),
    )
    .set((
        webhook_deliveries::status.eq("pending"),
        webhook_deliveries::next_attempt_at.eq(at),
        webhook_deliveries::lease_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)
    .map(|_| ())
}

/// Makes a delivery due again at once, counting attempts afresh.
pub fn redeliver(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::status.eq("pending"),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::lease_until.eq(None::<NaiveDateTime>),
            webhook_deliveries::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// An endpoint's deliveries, newest first, before the cursor's id.
pub fn deliveries(
    conn: &mut DbConn,
    endpoint_id: i64,
    status: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Delivery>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .select(Delivery::as_select())
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .into_boxed();
    // "pending" in the API covers the deliveries being attempted right now.
    query = match status {
        Some("pending") => query.filter(webhook_deliveries::status.eq_any(["pending", "sending"])),
        Some(status) => query.filter(webhook_deliveries::status.eq(status.to_owned())),
        None => query,
    };
    if let Some(before) = before {
        query = query.filter(webhook_deliveries::id.lt(before));
    }
    query.load(conn)
}

pub fn find_delivery(conn: &mut DbConn, endpoint_id: i64, id: i64) -> QueryResult<Option<Delivery>> {
    webhook_deliveries::table
        .find(id)
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .select(Delivery::as_select())
        .first(conn)
        .optional()
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
pub struct Attempt {
    pub id: i64,
    pub delivery_id: i64,
    pub attempted_at: NaiveDateTime,
    pub succeeded: bool,
    pub response_status: Option<i32>,
    pub duration_ms: i32,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptInsertForm<'a> {
    pub delivery_id: i64,
    pub attempted_at: NaiveDateTime,
    pub succeeded: bool,
    pub response_status: Option<i32>,
    pub duration_ms: i32,
    pub response_body: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn insert_attempt(conn: &mut DbConn, form: &AttemptInsertForm<'_>) -> QueryResult<()> {
    diesel::insert_into(webhook_attempts::table).values(form).execute(conn).map(|_| ())
}

/// A delivery's attempts, oldest first (at most `limit`).
pub fn attempts(conn: &mut DbConn, delivery_id: i64, limit: i64) -> QueryResult<Vec<Attempt>> {
    webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq(delivery_id))
        .order(webhook_attempts::id.asc())
        .limit(limit)
        .select(Attempt::as_select())
        .load(conn)
}

/// How many deliveries wait (all nodes), and since when the oldest.
pub fn queue(conn: &mut DbConn) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    webhook_deliveries::table
        .filter(webhook_deliveries::status.eq_any(["pending", "sending", "failed"]))
        .select((count_star(), diesel::dsl::min(webhook_deliveries::created_at)))
        .get_result(conn)
}

/// Forgets finished deliveries (and their attempts) older than `before`.
pub fn prune(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    let old = webhook_deliveries::table
        .filter(webhook_deliveries::status.eq_any(["succeeded", "abandoned"]))
        .filter(webhook_deliveries::updated_at.lt(before))
        .select(webhook_deliveries::id);
    diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(old))).execute(conn)?;
    diesel::delete(
        webhook_deliveries::table
            .filter(webhook_deliveries::status.eq_any(["succeeded", "abandoned"]))
            .filter(webhook_deliveries::updated_at.lt(before)),
    )
    .execute(conn)
}
