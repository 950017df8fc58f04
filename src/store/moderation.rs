//! Writes only moderation makes: hiding posts, moving a question's posts
//! and followers when merging, redacting revision history.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{answers, comments, follows, questions, revisions};

/// Takes the row lock of a post until the transaction ends (PostgreSQL;
/// SQLite's write transactions already run one at a time). False when the
/// post does not exist.
pub fn lock_question(conn: &mut DbConn, id: i64) -> QueryResult<bool> {
    let DbConn::Postgres(pg) = conn else { return Ok(true) };
    questions::table.find(id).select(questions::id).for_update().first::<i64>(pg).optional().map(|r| r.is_some())
}

pub fn lock_answer(conn: &mut DbConn, id: i64) -> QueryResult<bool> {
    let DbConn::Postgres(pg) = conn else { return Ok(true) };
    answers::table.find(id).select(answers::id).for_update().first::<i64>(pg).optional().map(|r| r.is_some())
}

pub fn lock_comment(conn: &mut DbConn, id: i64) -> QueryResult<bool> {
    let DbConn::Postgres(pg) = conn else { return Ok(true) };
    comments::table.find(id).select(comments::id).for_update().first::<i64>(pg).optional().map(|r| r.is_some())
}

pub fn set_question_hidden(conn: &mut DbConn, id: i64, at: Option<NaiveDateTime>) -> QueryResult<()> {
    diesel::update(questions::table.find(id)).set(questions::hidden_at.eq(at)).execute(conn).map(|_| ())
}

pub fn set_answer_hidden(conn: &mut DbConn, id: i64, at: Option<NaiveDateTime>) -> QueryResult<()> {
    diesel::update(answers::table.find(id)).set(answers::hidden_at.eq(at)).execute(conn).map(|_| ())
}

pub fn set_comment_hidden(conn: &mut DbConn, id: i64, at: Option<NaiveDateTime>) -> QueryResult<()> {
    diesel::update(comments::table.find(id)).set(comments::hidden_at.eq(at)).execute(conn).map(|_| ())
}

/// Moves answers, comments and followers from one question to another.
/// Returns (answers, comments, followers) moved.
pub fn move_posts(conn: &mut DbConn, from: i64, to: i64, now: NaiveDateTime) -> QueryResult<(usize, usize, usize)> {
    let answers_moved = diesel::update(answers::table.filter(answers::question_id.eq(from)))
        .set(answers::question_id.eq(to))
        .execute(conn)?;
    let comments_moved = diesel::update(comments::table.filter(comments::question_id.eq(from)))
        .set(comments::question_id.eq(to))
        .execute(conn)?;
    let followers: Vec<i64> =
        follows::table.filter(follows::question_id.eq(from)).select(follows::user_id).load(conn)?;
    let mut followers_moved = 0;
    for user_id in followers {
        super::follows::follow(conn, user_id, to, now)?;
        followers_moved += 1;
    }
    diesel::delete(follows::table.filter(follows::question_id.eq(from))).execute(conn)?;
    Ok((answers_moved, comments_moved, followers_moved))
}

/// Distinct authors of a question's answers.
pub fn answer_authors(conn: &mut DbConn, question_id: i64) -> QueryResult<Vec<i64>> {
    answers::table.filter(answers::question_id.eq(question_id)).select(answers::author_id).distinct().load(conn)
}

/// Marks every revision of a post but the newest as redacted.
pub fn redact_revisions(conn: &mut DbConn, post_type: &str, post_id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    let newest: Option<i32> = revisions::table
        .filter(revisions::post_type.eq(post_type))
        .filter(revisions::post_id.eq(post_id))
        .select(diesel::dsl::max(revisions::revision))
        .first(conn)?;
    let Some(newest) = newest else { return Ok(0) };
    diesel::update(
        revisions::table
            .filter(revisions::post_type.eq(post_type))
            .filter(revisions::post_id.eq(post_id))
            .filter(revisions::revision.lt(newest))
            .filter(revisions::redacted_at.is_null()),
    )
    .set(revisions::redacted_at.eq(now))
    .execute(conn)
}
