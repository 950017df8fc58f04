//! The audit log: every moderator and admin action with who, what, on
//! what, why, and the state before and after. Append-only (the database
//! itself refuses updates and deletes).

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;

use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::service::pagination::{self, CursorCodec, Page};
pub use crate::store::audit::AuditFilter;
use crate::store::audit::{AuditEntry, AuditInsertForm};
use crate::store::{self, DbConn};

/// One action to record.
pub struct Action<'a> {
    /// `None` for the system (e.g. auto-hiding after three flags).
    pub actor_id: Option<i64>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<i64>,
    pub reason: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub at: NaiveDateTime,
}

/// Appends an entry inside the caller's transaction.
pub fn record(conn: &mut DbConn, action: Action<'_>) -> ApiResult<()> {
    let before = action.before.map(|v| v.to_string());
    let after = action.after.map(|v| v.to_string());
    store::audit::append(
        conn,
        &AuditInsertForm {
            actor_id: action.actor_id,
            action: action.action,
            target_type: action.target_type,
            target_id: action.target_id,
            reason: action.reason,
            before_state: before.as_deref(),
            after_state: after.as_deref(),
            created_at: action.at,
        },
    )?;
    Ok(())
}

#[derive(Debug, Serialize)]
pub struct AuditView {
    pub id: i64,
    pub actor_id: Option<i64>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<i64>,
    pub reason: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

fn view(entry: AuditEntry) -> AuditView {
    let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
    AuditView {
        id: entry.id,
        actor_id: entry.actor_id,
        action: entry.action,
        target_type: entry.target_type,
        target_id: entry.target_id,
        reason: entry.reason,
        before: parse(entry.before_state),
        after: parse(entry.after_state),
        created_at: entry.created_at,
    }
}

pub fn list(
    conn: &mut DbConn,
    codec: &CursorCodec,
    filter: &AuditFilter,
    cursor: Option<&str>,
    limit: i64,
) -> ApiResult<Page<AuditView>> {
    let scope = format!("audit:{:?}:{:?}:{:?}", filter.actor_id, filter.action, filter.since);
    let before: Option<i64> = cursor.map(|c| codec.decode(&scope, c)).transpose()?;
    let rows = store::audit::list(conn, filter, before, limit + 1)?;
    Ok(pagination::page(rows, limit, |e| codec.encode(&scope, &e.id), view))
}

/// Most rows one CSV export holds (narrow the filter for more).
pub const CSV_MAX_ROWS: i64 = 100_000;

/// The filtered log as CSV (newest first).
pub fn csv(conn: &mut DbConn, filter: &AuditFilter) -> ApiResult<String> {
    let rows = store::audit::list(conn, filter, None, CSV_MAX_ROWS)?;
    let mut out = String::from("id,created_at,actor_id,action,target_type,target_id,reason,before,after\n");
    for e in rows {
        let fields = [
            e.id.to_string(),
            rfc3339::format(&e.created_at),
            e.actor_id.map(|a| a.to_string()).unwrap_or_default(),
            e.action,
            e.target_type,
            e.target_id.map(|t| t.to_string()).unwrap_or_default(),
            e.reason.unwrap_or_default(),
            e.before_state.unwrap_or_default(),
            e.after_state.unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// Quotes a CSV field, and defuses spreadsheet formulas (a field starting
/// with = + - @ is prefixed with a quote mark) since analysts open these.
pub fn csv_field(value: &str) -> String {
    let defused = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if defused.contains([',', '"', '\n', '\r']) { format!("\"{}\"", defused.replace('"', "\"\"")) } else { defused }
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("a,b"), "\"a,b\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(super::csv_field("-1"), "'-1");
    }
}
