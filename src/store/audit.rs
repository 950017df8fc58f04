//! The audit log: appended to, never changed (the database refuses updates
//! and deletes with triggers).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::audit_log;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<i64>,
    pub reason: Option<String>,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditInsertForm<'a> {
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<i64>,
    pub reason: Option<&'a str>,
    pub before_state: Option<&'a str>,
    pub after_state: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

pub fn append(conn: &mut DbConn, form: &AuditInsertForm<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table).values(form).execute(conn).map(|_| ())
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor_id: Option<i64>,
    pub action: Option<String>,
    pub since: Option<NaiveDateTime>,
}

/// Entries matching the filter, newest first, before the id `before`.
pub fn list(conn: &mut DbConn, filter: &AuditFilter, before: Option<i64>, limit: i64) -> QueryResult<Vec<AuditEntry>> {
    let mut query = audit_log::table.select(AuditEntry::as_select()).into_boxed();
    if let Some(actor) = filter.actor_id {
        query = query.filter(audit_log::actor_id.eq(actor));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_log::created_at.ge(since));
    }
    if let Some(before) = before {
        query = query.filter(audit_log::id.lt(before));
    }
    query.order(audit_log::id.desc()).limit(limit).load(conn)
}
