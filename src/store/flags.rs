//! Flags raised on posts and their resolution.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::id_list::in_ids;
use super::schema::flags;
use super::{DbConn, native};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = flags)]
pub struct Flag {
    pub id: i64,
    /// `None` for flags the system raises (the personal-information guard).
    pub reporter_id: Option<i64>,
    pub target_type: String,
    pub target_id: i64,
    pub question_id: i64,
    pub target_author_id: i64,
    pub reason: String,
    pub note: Option<String>,
    pub status: String,
    pub resolution: Option<String>,
    pub resolved_by: Option<i64>,
    pub resolution_note: Option<String>,
    pub resolved_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = flags)]
pub struct FlagInsertForm<'a> {
    pub reporter_id: Option<i64>,
    pub target_type: &'a str,
    pub target_id: i64,
    pub question_id: i64,
    pub target_author_id: i64,
    pub reason: &'a str,
    pub note: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, form: &FlagInsertForm<'_>) -> QueryResult<Flag> {
    diesel::insert_into(flags::table).values(form).get_result(conn)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<Flag>> {
    flags::table.find(id).select(Flag::as_select()).first(conn).optional()
}

pub fn by_reporter(
    conn: &mut DbConn,
    reporter_id: i64,
    target_type: &str,
    target_id: i64,
) -> QueryResult<Option<Flag>> {
    flags::table
        .filter(flags::reporter_id.eq(reporter_id))
        .filter(flags::target_type.eq(target_type))
        .filter(flags::target_id.eq(target_id))
        .select(Flag::as_select())
        .first(conn)
        .optional()
}

/// Pending flags on a post.
pub fn pending_for(conn: &mut DbConn, target_type: &str, target_id: i64) -> QueryResult<Vec<Flag>> {
    flags::table
        .filter(flags::target_type.eq(target_type))
        .filter(flags::target_id.eq(target_id))
        .filter(flags::status.eq("pending"))
        .order(flags::id.asc())
        .select(Flag::as_select())
        .load(conn)
}

/// Every flag of these posts, for the review queue (one query).
pub fn for_targets(conn: &mut DbConn, targets: &[(String, i64)]) -> QueryResult<Vec<Flag>> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = targets.iter().map(|t| t.1).collect();
    let rows: Vec<Flag> = native!(conn, |c| {
        flags::table.filter(in_ids(flags::target_id, &ids)).order(flags::id.asc()).select(Flag::as_select()).load(c)
    })?;
    Ok(rows.into_iter().filter(|f| targets.iter().any(|(t, id)| *t == f.target_type && *id == f.target_id)).collect())
}

/// A page of the review queue: flags of the given status, oldest first,
/// after the keyset `(created_at, id)`.
pub fn queue(
    conn: &mut DbConn,
    status: &str,
    after: Option<(NaiveDateTime, i64)>,
    limit: i64,
) -> QueryResult<Vec<Flag>> {
    let mut query = flags::table.filter(flags::status.eq(status)).select(Flag::as_select()).into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(flags::created_at.gt(at).or(flags::created_at.eq(at).and(flags::id.gt(id))));
    }
    query.order((flags::created_at.asc(), flags::id.asc())).limit(limit).load(conn)
}

/// Resolves every pending flag on a post.
pub fn resolve_target(
    conn: &mut DbConn,
    target_type: &str,
    target_id: i64,
    resolution: &str,
    by: i64,
    note: Option<&str>,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        flags::table
            .filter(flags::target_type.eq(target_type))
            .filter(flags::target_id.eq(target_id))
            .filter(flags::status.eq("pending")),
    )
    .set((
        flags::status.eq("resolved"),
        flags::resolution.eq(resolution),
        flags::resolved_by.eq(by),
        flags::resolution_note.eq(note),
        flags::resolved_at.eq(at),
    ))
    .execute(conn)
}

/// Moves flags raised on one question onto another (merging).
pub fn move_question(conn: &mut DbConn, from: i64, to: i64) -> QueryResult<usize> {
    diesel::update(flags::table.filter(flags::question_id.eq(from))).set(flags::question_id.eq(to)).execute(conn)
}

/// (pending flags, flags ever resolved as hide/delete/spam) on a user's
/// posts: the author's history shown to reviewers.
pub fn author_history(conn: &mut DbConn, author_id: i64) -> QueryResult<(i64, i64)> {
    let pending = flags::table
        .filter(flags::target_author_id.eq(author_id))
        .filter(flags::status.eq("pending"))
        .count()
        .get_result(conn)?;
    let upheld = flags::table
        .filter(flags::target_author_id.eq(author_id))
        .filter(flags::resolution.eq_any(["hide", "delete", "remove_as_spam"]))
        .count()
        .get_result(conn)?;
    Ok((pending, upheld))
}
