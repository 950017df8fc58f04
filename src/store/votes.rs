//! Votes: one row per voter and post, value +1, -1, or 0 once withdrawn.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::id_list::in_ids;
use super::schema::votes;
use super::{DbConn, native};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = votes)]
pub struct Vote {
    pub id: i64,
    pub voter_id: i64,
    pub post_type: String,
    pub post_id: i64,
    pub value: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn find(conn: &mut DbConn, voter_id: i64, post_type: &str, post_id: i64) -> QueryResult<Option<Vote>> {
    votes::table
        .filter(votes::voter_id.eq(voter_id))
        .filter(votes::post_type.eq(post_type))
        .filter(votes::post_id.eq(post_id))
        .select(Vote::as_select())
        .first(conn)
        .optional()
}

pub fn insert(
    conn: &mut DbConn,
    voter_id: i64,
    post_type: &str,
    post_id: i64,
    value: i32,
    now: NaiveDateTime,
) -> QueryResult<Vote> {
    diesel::insert_into(votes::table)
        .values((
            votes::voter_id.eq(voter_id),
            votes::post_type.eq(post_type),
            votes::post_id.eq(post_id),
            votes::value.eq(value),
            votes::created_at.eq(now),
            votes::updated_at.eq(now),
        ))
        .get_result(conn)
}

pub fn set_value(conn: &mut DbConn, id: i64, value: i32, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(votes::table.find(id))
        .set((votes::value.eq(value), votes::updated_at.eq(now)))
        .execute(conn)
        .map(|_| ())
}

/// Votes a user cast since `since` (the daily limit).
pub fn count_cast_since(conn: &mut DbConn, voter_id: i64, since: NaiveDateTime) -> QueryResult<i64> {
    votes::table.filter(votes::voter_id.eq(voter_id)).filter(votes::created_at.ge(since)).count().get_result(conn)
}

/// The caller's votes on a set of posts of one type: (post id, value).
pub fn of_voter(conn: &mut DbConn, voter_id: i64, post_type: &str, post_ids: &[i64]) -> QueryResult<Vec<(i64, i32)>> {
    if post_ids.is_empty() {
        return Ok(Vec::new());
    }
    native!(conn, |c| {
        votes::table
            .filter(votes::voter_id.eq(voter_id))
            .filter(votes::post_type.eq(post_type))
            .filter(in_ids(votes::post_id, post_ids))
            .select((votes::post_id, votes::value))
            .load(c)
    })
}

/// How many votes a post has had (withdrawn ones included).
pub fn count_on_post(conn: &mut DbConn, post_type: &str, post_id: i64) -> QueryResult<i64> {
    votes::table.filter(votes::post_type.eq(post_type)).filter(votes::post_id.eq(post_id)).count().get_result(conn)
}
