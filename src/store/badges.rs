//! Badges, awarded once and kept.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{answers, badges};

/// Awards a badge unless the user has it.
pub fn award(conn: &mut DbConn, user_id: i64, badge: &str, at: NaiveDateTime) -> QueryResult<bool> {
    // One statement: the unique index on (user, badge) turns a second
    // award into nothing (every answer posted asks for "first answer").
    let inserted = super::native!(conn, |c| diesel::insert_into(badges::table)
        .values((badges::user_id.eq(user_id), badges::badge.eq(badge), badges::awarded_at.eq(at)))
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// (badge, awarded at) of a user, oldest first.
pub fn of_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    badges::table
        .filter(badges::user_id.eq(user_id))
        .order(badges::id.asc())
        .select((badges::badge, badges::awarded_at))
        .load(conn)
}

/// Visible answers by a user scoring at least `min_score`.
pub fn answers_scoring_at_least(conn: &mut DbConn, user_id: i64, min_score: i32) -> QueryResult<i64> {
    answers::table
        .filter(answers::author_id.eq(user_id))
        .filter(answers::deleted_at.is_null())
        .filter(answers::score.ge(min_score))
        .count()
        .get_result(conn)
}

pub fn answers_by(conn: &mut DbConn, user_id: i64) -> QueryResult<i64> {
    answers::table.filter(answers::author_id.eq(user_id)).count().get_result(conn)
}
