//! Tags and the question–tag links, with a cached count of visible
//! questions per tag.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::id_list::in_ids;
use super::schema::{question_tags, tags};
use super::{DbConn, native};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub id: i64,
    pub name: String,
    pub question_count: i32,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
}

pub fn find_by_names(conn: &mut DbConn, names: &[String]) -> QueryResult<Vec<Tag>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    tags::table.filter(tags::name.eq_any(names)).select(Tag::as_select()).load(conn)
}

pub fn find_by_name(conn: &mut DbConn, name: &str) -> QueryResult<Option<Tag>> {
    tags::table.filter(tags::name.eq(name)).select(Tag::as_select()).first(conn).optional()
}

pub fn insert(conn: &mut DbConn, name: &str, created_by: Option<i64>, now: NaiveDateTime) -> QueryResult<Tag> {
    diesel::insert_into(tags::table)
        .values((tags::name.eq(name), tags::created_by.eq(created_by), tags::created_at.eq(now)))
        .get_result(conn)
}

/// Tags by popularity, optionally those starting with `prefix`, after the
/// keyset position `(count, name)` when paging.
pub fn list(conn: &mut DbConn, prefix: Option<&str>, after: Option<(i32, &str)>, limit: i64) -> QueryResult<Vec<Tag>> {
    let mut query = tags::table.select(Tag::as_select()).into_boxed();
    if let Some(prefix) = prefix {
        // Tag names are [a-z0-9-] only, so no LIKE wildcard can sneak in.
        query = query.filter(tags::name.like(format!("{prefix}%")));
    }
    if let Some((count, name)) = after {
        query = query.filter(
            tags::question_count.lt(count).or(tags::question_count.eq(count).and(tags::name.gt(name.to_owned()))),
        );
    }
    query.order((tags::question_count.desc(), tags::name.asc())).limit(limit).load(conn)
}

pub fn adjust_counts(conn: &mut DbConn, tag_ids: &[i64], delta: i32) -> QueryResult<()> {
    if tag_ids.is_empty() {
        return Ok(());
    }
    native!(conn, |c| {
        diesel::update(tags::table.filter(in_ids(tags::id, tag_ids)))
            .set(tags::question_count.eq(tags::question_count + delta))
            .execute(c)
    })
    .map(|_| ())
}

/// The tag ids of a question.
pub fn ids_of_question(conn: &mut DbConn, question_id: i64) -> QueryResult<Vec<i64>> {
    question_tags::table.filter(question_tags::question_id.eq(question_id)).select(question_tags::tag_id).load(conn)
}

/// (question id, tag name) for every question of a page, in one query.
/// One question's tag names: a fixed statement, so it is prepared once per
/// connection (a list of ids is a new statement every time).
pub fn names_for_question(conn: &mut DbConn, question_id: i64) -> QueryResult<Vec<String>> {
    native!(conn, |c| {
        question_tags::table
            .inner_join(tags::table)
            .filter(question_tags::question_id.eq(question_id))
            .order(tags::name)
            .select(tags::name)
            .load(c)
    })
}

pub fn names_for_questions(conn: &mut DbConn, question_ids: &[i64]) -> QueryResult<Vec<(i64, String)>> {
    if question_ids.is_empty() {
        return Ok(Vec::new());
    }
    native!(conn, |c| {
        question_tags::table
            .inner_join(tags::table)
            .filter(in_ids(question_tags::question_id, question_ids))
            .order((question_tags::question_id, tags::name))
            .select((question_tags::question_id, tags::name))
            .load(c)
    })
}

/// Replaces a question's tags.
pub fn set_for_question(conn: &mut DbConn, question_id: i64, tag_ids: &[i64]) -> QueryResult<()> {
    diesel::delete(question_tags::table.filter(question_tags::question_id.eq(question_id))).execute(conn)?;
    for &tag_id in tag_ids {
        diesel::insert_into(question_tags::table)
            .values((question_tags::question_id.eq(question_id), question_tags::tag_id.eq(tag_id)))
            .execute(conn)?;
    }
    Ok(())
}
