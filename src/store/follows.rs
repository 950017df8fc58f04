//! Who follows which question (for notifications).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::follows;

/// Follows a question; following twice is a no-op.
pub fn follow(conn: &mut DbConn, user_id: i64, question_id: i64, now: NaiveDateTime) -> QueryResult<()> {
    if is_following(conn, user_id, question_id)? {
        return Ok(());
    }
    diesel::insert_into(follows::table)
        .values((follows::user_id.eq(user_id), follows::question_id.eq(question_id), follows::created_at.eq(now)))
        .execute(conn)
        .map(|_| ())
}

pub fn unfollow(conn: &mut DbConn, user_id: i64, question_id: i64) -> QueryResult<()> {
    diesel::delete(follows::table.find((user_id, question_id))).execute(conn).map(|_| ())
}

pub fn is_following(conn: &mut DbConn, user_id: i64, question_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(follows::table.find((user_id, question_id)))).get_result(conn)
}

pub fn followers(conn: &mut DbConn, question_id: i64) -> QueryResult<Vec<i64>> {
    follows::table.filter(follows::question_id.eq(question_id)).select(follows::user_id).limit(10_000).load(conn)
}
