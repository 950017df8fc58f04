//! One counted view per visitor, question and UTC day.

use diesel::prelude::*;

use super::DbConn;
use super::schema::question_views;

/// Records the view; false when this visitor was already counted today.
pub fn record(conn: &mut DbConn, question_id: i64, visitor_key: &str, day: &str) -> QueryResult<bool> {
    let key = (question_id, visitor_key.to_owned(), day.to_owned());
    let seen: bool = diesel::select(diesel::dsl::exists(question_views::table.find(key))).get_result(conn)?;
    if seen {
        return Ok(false);
    }
    diesel::insert_into(question_views::table)
        .values((
            question_views::question_id.eq(question_id),
            question_views::visitor_key.eq(visitor_key),
            question_views::day.eq(day),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Forgets days before `day` (only today matters for counting).
pub fn delete_before(conn: &mut DbConn, day: &str) -> QueryResult<usize> {
    diesel::delete(question_views::table.filter(question_views::day.lt(day))).execute(conn)
}
