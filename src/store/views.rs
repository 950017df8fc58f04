//! One counted view per visitor, question and UTC day.

use diesel::prelude::*;

use super::DbConn;
use super::schema::question_views;

/// A view's identity: the question, who viewed it and the UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Insertable)]
#[diesel(table_name = question_views)]
pub struct ViewKey {
    pub question_id: i64,
    pub visitor_key: String,
    pub day: String,
}

/// Whether this visitor's view of the question was already counted that day.
pub fn seen(conn: &mut DbConn, key: &ViewKey) -> QueryResult<bool> {
    let id = (key.question_id, key.visitor_key.as_str(), key.day.as_str());
    diesel::select(diesel::dsl::exists(question_views::table.find(id))).get_result(conn)
}

/// Rows per INSERT on PostgreSQL (three bound values a row, well under
/// its 65,535).
const KEYS_PER_STATEMENT: usize = 1_000;

/// Records the keys not recorded yet; returns the question of each key that
/// was new (one entry per counted view).
pub fn record_new(conn: &mut DbConn, keys: &[ViewKey]) -> QueryResult<Vec<i64>> {
    let mut counted = Vec::new();
    match conn {
        // One statement per thousand keys: a round trip each.
        DbConn::Postgres(c) => {
            for chunk in keys.chunks(KEYS_PER_STATEMENT) {
                counted.extend(
                    diesel::insert_into(question_views::table)
                        .values(chunk)
                        .on_conflict_do_nothing()
                        .returning(question_views::question_id)
                        .get_results::<i64>(c)?,
                );
            }
        }
        // In process, a statement per key costs microseconds; diesel runs a
        // SQLite batch with RETURNING row by row and wants a row from each.
        DbConn::Sqlite(c) => {
            for key in keys {
                if diesel::insert_into(question_views::table).values(key).on_conflict_do_nothing().execute(c)? == 1 {
                    counted.push(key.question_id);
                }
            }
        }
    }
    Ok(counted)
}

/// Forgets days before `day` (only today matters for counting).
pub fn delete_before(conn: &mut DbConn, day: &str) -> QueryResult<usize> {
    diesel::delete(question_views::table.filter(question_views::day.lt(day))).execute(conn)
}
