//! Questions: rows, filtered keyset-paginated lists and cached state
//! (answer count, status, acceptance).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{categories, question_tags, questions, users};
use super::users::UserRef;
use super::{DbConn, native};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = questions)]
pub struct Question {
    pub id: i64,
    pub author_id: i64,
    pub category_id: i64,
    pub title: String,
    pub body: String,
    pub body_html: String,
    pub area: Option<String>,
    pub score: i32,
    pub answer_count: i32,
    pub view_count: i64,
    pub accepted_answer_id: Option<i64>,
    pub has_verified_answer: bool,
    pub status: String,
    pub closed_at: Option<NaiveDateTime>,
    pub close_reason: Option<String>,
    pub duplicate_of: Option<i64>,
    pub locked_at: Option<NaiveDateTime>,
    pub hidden_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_activity_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = questions)]
pub struct QuestionInsertForm<'a> {
    pub author_id: i64,
    pub category_id: i64,
    pub title: &'a str,
    pub body: &'a str,
    pub body_html: &'a str,
    pub area: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_activity_at: NaiveDateTime,
}

/// An edit; `None` leaves a column alone (`area: Some(None)` clears it).
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = questions)]
pub struct QuestionUpdateForm {
    pub title: Option<String>,
    pub body: Option<String>,
    pub body_html: Option<String>,
    pub category_id: Option<i64>,
    pub area: Option<Option<String>>,
    pub updated_at: Option<NaiveDateTime>,
    pub last_activity_at: Option<NaiveDateTime>,
}

/// A question with what a list or page shows beside it.
#[derive(Debug, Clone, Queryable, Selectable)]
pub struct QuestionRow {
    #[diesel(embed)]
    pub question: Question,
    #[diesel(embed)]
    pub author: UserRef,
    #[diesel(select_expression = categories::slug)]
    pub category_slug: String,
    #[diesel(select_expression = categories::name)]
    pub category_name: String,
}

/// The close reason of a question merged into another: it stays only to
/// point at its target, and is listed, counted and searched nowhere.
pub const MERGED: &str = "merged";

/// Questions that appear in lists, counts and search: not deleted, not
/// hidden, not merged away.
#[diesel::dsl::auto_type]
pub fn listed() -> _ {
    let not_merged: diesel::dsl::Or<
        diesel::dsl::IsNull<questions::close_reason>,
        diesel::dsl::NotEq<questions::close_reason, &'static str>,
    > = questions::close_reason.is_null().or(questions::close_reason.ne(MERGED));
    questions::deleted_at.is_null().and(questions::hidden_at.is_null()).and(not_merged)
}

pub fn insert(conn: &mut DbConn, form: &QuestionInsertForm<'_>) -> QueryResult<Question> {
    diesel::insert_into(questions::table).values(form).get_result(conn)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<Question>> {
    native!(conn, |c| questions::table.find(id).select(Question::as_select()).first(c).optional())
}

pub fn find_row(conn: &mut DbConn, id: i64) -> QueryResult<Option<QuestionRow>> {
    native!(conn, |c| {
        questions::table
            .inner_join(users::table)
            .inner_join(categories::table)
            .filter(questions::id.eq(id))
            .select(QuestionRow::as_select())
            .first(c)
            .optional()
    })
}

pub fn update(conn: &mut DbConn, id: i64, form: &QuestionUpdateForm) -> QueryResult<Question> {
    diesel::update(questions::table.find(id)).set(form).get_result(conn)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuestionSort {
    Newest,
    Active,
    Votes,
}

/// Where the previous page ended, in the sort's own key.
#[derive(Debug, Clone, Copy)]
pub enum Keyset {
    Time(NaiveDateTime, i64),
    Score(i32, i64),
}

#[derive(Debug, Default, Clone)]
pub struct QuestionFilter {
    pub category_id: Option<i64>,
    pub tag_id: Option<i64>,
    pub area: Option<String>,
    pub status: Option<String>,
    pub author_id: Option<i64>,
}

/// One page of visible questions, newest/most active/best first, ties
/// broken by id so the keyset is total.
pub fn list(
    conn: &mut DbConn,
    filter: &QuestionFilter,
    sort: QuestionSort,
    after: Option<Keyset>,
    limit: i64,
) -> QueryResult<Vec<QuestionRow>> {
    let mut query = questions::table
        .inner_join(users::table)
        .inner_join(categories::table)
        .filter(listed())
        .select(QuestionRow::as_select())
        .into_boxed();
    if let Some(category_id) = filter.category_id {
        query = query.filter(questions::category_id.eq(category_id));
    }
    if let Some(tag_id) = filter.tag_id {
        let tagged = question_tags::table.filter(question_tags::tag_id.eq(tag_id)).select(question_tags::question_id);
        query = query.filter(questions::id.eq_any(tagged));
    }
    if let Some(area) = &filter.area {
        query = query.filter(questions::area.eq(area.clone()));
    }
    if let Some(status) = &filter.status {
        query = query.filter(questions::status.eq(status.clone()));
    }
    if let Some(author_id) = filter.author_id {
        query = query.filter(questions::author_id.eq(author_id));
    }
    query = match (sort, after) {
        (QuestionSort::Newest, Some(Keyset::Time(t, id))) => {
            query.filter(questions::created_at.lt(t).or(questions::created_at.eq(t).and(questions::id.lt(id))))
        }
        (QuestionSort::Active, Some(Keyset::Time(t, id))) => query
            .filter(questions::last_activity_at.lt(t).or(questions::last_activity_at.eq(t).and(questions::id.lt(id)))),
        (QuestionSort::Votes, Some(Keyset::Score(s, id))) => {
            query.filter(questions::score.lt(s).or(questions::score.eq(s).and(questions::id.lt(id))))
        }
        _ => query,
    };
    query = match sort {
        QuestionSort::Newest => query.order((questions::created_at.desc(), questions::id.desc())),
        QuestionSort::Active => query.order((questions::last_activity_at.desc(), questions::id.desc())),
        QuestionSort::Votes => query.order((questions::score.desc(), questions::id.desc())),
    };
    query.limit(limit).load(conn)
}

/// The cached state derived from a question's answers.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = questions, treat_none_as_null = true)]
pub struct QuestionState {
    pub answer_count: i32,
    pub has_verified_answer: bool,
    pub accepted_answer_id: Option<i64>,
    pub status: String,
}

pub fn set_state(conn: &mut DbConn, id: i64, state: &QuestionState) -> QueryResult<()> {
    diesel::update(questions::table.find(id)).set(state).execute(conn).map(|_| ())
}

pub fn touch(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(questions::table.find(id)).set(questions::last_activity_at.eq(now)).execute(conn).map(|_| ())
}

pub fn set_deleted(conn: &mut DbConn, id: i64, at: Option<NaiveDateTime>) -> QueryResult<()> {
    diesel::update(questions::table.find(id)).set(questions::deleted_at.eq(at)).execute(conn).map(|_| ())
}

pub fn add_to_score(conn: &mut DbConn, id: i64, delta: i32) -> QueryResult<()> {
    diesel::update(questions::table.find(id))
        .set(questions::score.eq(questions::score + delta))
        .execute(conn)
        .map(|_| ())
}

/// Adds views counted since the last flush (`service::community::views`).
pub fn add_views(conn: &mut DbConn, id: i64, views: i64) -> QueryResult<()> {
    diesel::update(questions::table.find(id))
        .set(questions::view_count.eq(questions::view_count + views))
        .execute(conn)
        .map(|_| ())
}

/// Sets the view count (imports bring their own).
pub fn set_view_count(conn: &mut DbConn, id: i64, views: i64) -> QueryResult<()> {
    diesel::update(questions::table.find(id)).set(questions::view_count.eq(views)).execute(conn).map(|_| ())
}

/// Closing state, for tests and moderation.
pub fn set_closed(
    conn: &mut DbConn,
    id: i64,
    at: Option<NaiveDateTime>,
    reason: Option<&str>,
    duplicate_of: Option<i64>,
) -> QueryResult<()> {
    diesel::update(questions::table.find(id))
        .set((
            questions::closed_at.eq(at),
            questions::close_reason.eq(reason),
            questions::duplicate_of.eq(duplicate_of),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn set_locked(conn: &mut DbConn, id: i64, at: Option<NaiveDateTime>) -> QueryResult<()> {
    diesel::update(questions::table.find(id)).set(questions::locked_at.eq(at)).execute(conn).map(|_| ())
}

/// When the user's questions of the window were asked (new-account limits).
pub fn created_by_since(conn: &mut DbConn, author_id: i64, since: NaiveDateTime) -> QueryResult<Vec<NaiveDateTime>> {
    questions::table
        .filter(questions::author_id.eq(author_id))
        .filter(questions::created_at.gt(since))
        .select(questions::created_at)
        .limit(1000)
        .load(conn)
}
