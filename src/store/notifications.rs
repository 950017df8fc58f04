//! The notification inbox.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::id_list::in_ids;
use super::schema::{notifications, questions, users};
use super::{DbConn, native};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub question_id: Option<i64>,
    pub answer_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = notifications)]
pub struct NotificationInsertForm {
    pub user_id: i64,
    pub kind: &'static str,
    pub question_id: Option<i64>,
    pub answer_id: Option<i64>,
    pub comment_id: Option<i64>,
    pub actor_id: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// Writes a notification; returns its id.
pub fn insert(conn: &mut DbConn, form: &NotificationInsertForm) -> QueryResult<i64> {
    let row: Notification = diesel::insert_into(notifications::table).values(form).get_result(conn)?;
    Ok(row.id)
}

/// A notification with the question title and the actor's display name.
pub type NotificationRow = (Notification, Option<String>, Option<String>);

/// A page of a user's inbox, newest first, before id `before`.
pub fn list(
    conn: &mut DbConn,
    user_id: i64,
    unread_only: bool,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    let mut query = notifications::table
        .left_join(questions::table.on(questions::id.nullable().eq(notifications::question_id)))
        .left_join(users::table.on(users::id.nullable().eq(notifications::actor_id)))
        .filter(notifications::user_id.eq(user_id))
        .select((Notification::as_select(), questions::title.nullable(), users::display_name.nullable()))
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read_at.is_null());
    }
    if let Some(before) = before {
        query = query.filter(notifications::id.lt(before));
    }
    query.order(notifications::id.desc()).limit(limit).load(conn)
}

pub fn mark_read(conn: &mut DbConn, user_id: i64, ids: Option<&[i64]>, now: NaiveDateTime) -> QueryResult<usize> {
    let unread =
        notifications::table.filter(notifications::user_id.eq(user_id)).filter(notifications::read_at.is_null());
    match ids {
        Some(ids) => native!(conn, |c| {
            diesel::update(unread.filter(in_ids(notifications::id, ids))).set(notifications::read_at.eq(now)).execute(c)
        }),
        None => diesel::update(unread).set(notifications::read_at.eq(now)).execute(conn),
    }
}

pub fn unread_count(conn: &mut DbConn, user_id: i64) -> QueryResult<i64> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(conn)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<Notification>> {
    notifications::table.find(id).select(Notification::as_select()).first(conn).optional()
}

/// A user's unread notifications written in [since, until), oldest first
/// (a digest's news).
pub fn unread_between(
    conn: &mut DbConn,
    user_id: i64,
    since: NaiveDateTime,
    until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    notifications::table
        .left_join(questions::table.on(questions::id.nullable().eq(notifications::question_id)))
        .left_join(users::table.on(users::id.nullable().eq(notifications::actor_id)))
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .filter(notifications::created_at.ge(since))
        .filter(notifications::created_at.lt(until))
        .select((Notification::as_select(), questions::title.nullable(), users::display_name.nullable()))
        .order(notifications::id.asc())
        .limit(limit)
        .load(conn)
}
