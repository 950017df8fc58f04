//! What the search index is built from, and the search-gap log.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::id_list::in_ids;
use super::questions::Question;
use super::schema::{answers, categories, question_tags, questions, search_gaps, search_outbox, tags};
use super::{DbConn, native};

/// A question with everything its index document needs.
#[derive(Debug, Clone)]
pub struct IndexableQuestion {
    pub question: Question,
    pub category_slug: String,
    pub category_name: String,
    pub tags: Vec<String>,
    /// Bodies of its visible answers.
    pub answers: Vec<String>,
}

/// Loads the given questions for indexing in three queries. Questions
/// missing from the result are not listed (deleted, hidden, merged away, or
/// gone): the index holds exactly the listed questions, by the one rule in
/// `questions::listed`.
pub fn load(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<IndexableQuestion>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(Question, String, String)> = native!(conn, |c| {
        questions::table
            .inner_join(categories::table)
            .filter(in_ids(questions::id, ids))
            .filter(super::questions::listed())
            .select((Question::as_select(), categories::slug, categories::name))
            .load(c)
    })?;
    let mut tag_names: HashMap<i64, Vec<String>> = HashMap::new();
    let tag_rows: Vec<(i64, String)> = native!(conn, |c| {
        question_tags::table
            .inner_join(tags::table)
            .filter(in_ids(question_tags::question_id, ids))
            .select((question_tags::question_id, tags::name))
            .load(c)
    })?;
    for (question_id, name) in tag_rows {
        tag_names.entry(question_id).or_default().push(name);
    }
    let mut answer_bodies: HashMap<i64, Vec<String>> = HashMap::new();
    let answer_rows: Vec<(i64, String)> = native!(conn, |c| {
        answers::table
            .filter(in_ids(answers::question_id, ids))
            .filter(answers::deleted_at.is_null())
            .filter(answers::hidden_at.is_null())
            .order(answers::id.asc())
            .select((answers::question_id, answers::body))
            .load(c)
    })?;
    for (question_id, body) in answer_rows {
        answer_bodies.entry(question_id).or_default().push(body);
    }
    Ok(rows
        .into_iter()
        .map(|(question, category_slug, category_name)| IndexableQuestion {
            tags: tag_names.remove(&question.id).unwrap_or_default(),
            answers: answer_bodies.remove(&question.id).unwrap_or_default(),
            question,
            category_slug,
            category_name,
        })
        .collect())
}

/// Ids of visible questions after `after`, in id order (a rebuild's
/// batches).
pub fn visible_ids_after(conn: &mut DbConn, after: i64, limit: i64) -> QueryResult<Vec<i64>> {
    questions::table
        .filter(questions::id.gt(after))
        .filter(super::questions::listed())
        .order(questions::id.asc())
        .limit(limit)
        .select(questions::id)
        .load(conn)
}

pub fn count_visible(conn: &mut DbConn) -> QueryResult<i64> {
    questions::table.filter(super::questions::listed()).count().get_result(conn)
}

/// The newest outbox position (0 when empty).
pub fn outbox_head(conn: &mut DbConn) -> QueryResult<i64> {
    let max: Option<i64> = search_outbox::table.select(diesel::dsl::max(search_outbox::id)).first(conn)?;
    Ok(max.unwrap_or(0))
}

/// The oldest outbox position still kept (None when empty).
pub fn outbox_tail(conn: &mut DbConn) -> QueryResult<Option<i64>> {
    search_outbox::table.select(diesel::dsl::min(search_outbox::id)).first(conn)
}

/// (position, question id) written since `since` at positions at or below
/// `position`: what a restarted indexer applies again, as it cannot know
/// which of them committed late. Read in pages; the window is seconds long.
pub fn outbox_recent_at_or_below(
    conn: &mut DbConn,
    position: i64,
    since: NaiveDateTime,
) -> QueryResult<Vec<(i64, i64)>> {
    const PAGE: i64 = 2000;
    let mut entries: Vec<(i64, i64)> = Vec::new();
    loop {
        let after = entries.last().map_or(i64::MIN, |&(id, _)| id);
        let page: Vec<(i64, i64)> = search_outbox::table
            .filter(search_outbox::id.gt(after))
            .filter(search_outbox::id.le(position))
            .filter(search_outbox::created_at.ge(since))
            .order(search_outbox::id.asc())
            .limit(PAGE)
            .select((search_outbox::id, search_outbox::question_id))
            .load(conn)?;
        let last_page = (page.len() as i64) < PAGE;
        entries.extend(page);
        if last_page {
            return Ok(entries);
        }
    }
}

/// Prunes outbox entries older than `before`, always keeping the newest.
pub fn prune_outbox(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<usize> {
    let head = outbox_head(conn)?;
    diesel::delete(search_outbox::table.filter(search_outbox::created_at.lt(before)).filter(search_outbox::id.lt(head)))
        .execute(conn)
}

/// One search that found nothing (or nothing solved), as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = search_gaps)]
pub struct SearchGap {
    /// Normalised (`service::deflection::gaps::normalise_query`).
    pub query: String,
    pub kind: String,
    pub results: i32,
    /// The search's `category` and `area` filters.
    pub category: Option<String>,
    pub area: Option<String>,
    /// The searcher's `X-Visitor-Id`, when sent.
    pub visitor_id: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Logs a search gap; returns its id.
pub fn record_gap(conn: &mut DbConn, gap: &SearchGap) -> QueryResult<i64> {
    diesel::insert_into(search_gaps::table).values(gap).returning(search_gaps::id).get_result(conn)
}

/// Logged search gaps with an id above `after`, oldest first (for
/// rebuilds).
pub fn gaps_after(conn: &mut DbConn, after: i64, limit: i64) -> QueryResult<Vec<(i64, SearchGap)>> {
    search_gaps::table
        .filter(search_gaps::id.gt(after))
        .order(search_gaps::id.asc())
        .limit(limit)
        .select((search_gaps::id, SearchGap::as_select()))
        .load(conn)
}
