//! Open311 escalation: the category → service-code mapping, the cases
//! (one per question, ever) the worker submits and follows, and the
//! automatic escalations waiting for their hour.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{categories, escalation_requests, escalations, open311_services};

/// The mapping as category slug → service code.
pub fn mapping(conn: &mut DbConn) -> QueryResult<Vec<(String, String)>> {
    open311_services::table
        .inner_join(categories::table)
        .order(categories::slug.asc())
        .select((categories::slug, open311_services::service_code))
        .load(conn)
}

pub fn service_code_of(conn: &mut DbConn, category_id: i64) -> QueryResult<Option<String>> {
    open311_services::table.find(category_id).select(open311_services::service_code).first(conn).optional()
}

/// Replaces the whole mapping.
pub fn replace_mapping(conn: &mut DbConn, rows: &[(i64, String)]) -> QueryResult<()> {
    diesel::delete(open311_services::table).execute(conn)?;
    for (category_id, code) in rows {
        diesel::insert_into(open311_services::table)
            .values((open311_services::category_id.eq(category_id), open311_services::service_code.eq(code)))
            .execute(conn)?;
    }
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = escalations)]
pub struct Escalation {
    pub id: i64,
    pub question_id: i64,
    pub requested_by: Option<i64>,
    pub service_code: String,
    pub address_string: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// JSON object: attribute code → value (a string or a list).
    pub attributes: String,
    pub share_email: bool,
    pub status: String,
    pub service_request_id: Option<String>,
    pub token: Option<String>,
    pub status_notes: Option<String>,
    pub last_error: Option<String>,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub submitted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = escalations)]
pub struct EscalationInsertForm<'a> {
    pub question_id: i64,
    pub requested_by: Option<i64>,
    pub service_code: &'a str,
    pub address_string: Option<&'a str>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub attributes: &'a str,
    pub share_email: bool,
    pub status: &'a str,
    pub next_attempt_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Inserts the question's case; a second one for the same question fails
/// on the unique key (two nodes at once included).
pub fn insert(conn: &mut DbConn, form: &EscalationInsertForm<'_>) -> QueryResult<Escalation> {
    diesel::insert_into(escalations::table).values(form).get_result::<Escalation>(conn)
}

pub fn of_question(conn: &mut DbConn, question_id: i64) -> QueryResult<Option<Escalation>> {
    escalations::table
        .filter(escalations::question_id.eq(question_id))
        .select(Escalation::as_select())
        .first(conn)
        .optional()
}

/// Claims due cases (to submit, resolve or poll) for this node until
/// `lease_until`; on PostgreSQL rows another node holds are skipped.
pub fn claim_due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Escalation>> {
    let due = escalations::status
        .eq_any(["pending", "submitted", "open"])
        .and(escalations::next_attempt_at.le(now))
        .and(escalations::lease_until.is_null().or(escalations::lease_until.lt(now)));
    let query =
        escalations::table.filter(due).order(escalations::next_attempt_at.asc()).limit(limit).select(escalations::id);
    let ids: Vec<i64> = match conn {
        DbConn::Postgres(c) => query.for_update().skip_locked().load(c)?,
        DbConn::Sqlite(c) => query.load(c)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(escalations::table.filter(escalations::id.eq_any(&ids)))
        .set(escalations::lease_until.eq(lease_until))
        .execute(conn)?;
    escalations::table
        .filter(escalations::id.eq_any(&ids))
        .order(escalations::id.asc())
        .select(Escalation::as_select())
        .load(conn)
}

/// What the worker learnt about a case; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = escalations)]
pub struct EscalationChanges {
    pub status: Option<String>,
    pub service_request_id: Option<Option<String>>,
    pub token: Option<Option<String>>,
    pub status_notes: Option<Option<String>>,
    pub last_error: Option<Option<String>>,
    pub attempts: Option<i32>,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub lease_until: Option<Option<NaiveDateTime>>,
    pub submitted_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn change(conn: &mut DbConn, id: i64, changes: &EscalationChanges) -> QueryResult<()> {
    diesel::update(escalations::table.find(id)).set(changes).execute(conn).map(|_| ())
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = escalation_requests)]
pub struct AutoRequest {
    pub question_id: i64,
    pub address_string: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub share_email: bool,
    /// Escalate when still unanswered at `due_at`; false when the row only
    /// keeps the asker's consent to share their email.
    pub auto_escalate: bool,
    pub due_at: NaiveDateTime,
}

pub fn insert_request(conn: &mut DbConn, request: &AutoRequest) -> QueryResult<()> {
    diesel::insert_into(escalation_requests::table).values(request).execute(conn).map(|_| ())
}

pub fn request_of(conn: &mut DbConn, question_id: i64) -> QueryResult<Option<AutoRequest>> {
    escalation_requests::table.find(question_id).select(AutoRequest::as_select()).first(conn).optional()
}

/// Automatic escalations whose hour has come.
pub fn due_requests(conn: &mut DbConn, now: NaiveDateTime, limit: i64) -> QueryResult<Vec<AutoRequest>> {
    escalation_requests::table
        .filter(escalation_requests::auto_escalate.eq(true))
        .filter(escalation_requests::due_at.le(now))
        .order(escalation_requests::due_at.asc())
        .limit(limit)
        .select(AutoRequest::as_select())
        .load(conn)
}

/// Takes a due request off the list; false when another node took it.
pub fn take_request(conn: &mut DbConn, question_id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(escalation_requests::table.find(question_id)).execute(conn)? == 1)
}
