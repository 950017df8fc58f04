//! Answers.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::schema::{answers, questions, users};
use super::users::UserRef;
use super::{DbConn, native};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = answers)]
pub struct Answer {
    pub id: i64,
    pub question_id: i64,
    pub author_id: i64,
    pub body: String,
    pub body_html: String,
    pub score: i32,
    pub verified_at: Option<NaiveDateTime>,
    pub verified_by: Option<i64>,
    pub review_by: Option<NaiveDateTime>,
    pub hidden_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Answer {
    pub fn is_visible(&self) -> bool {
        self.hidden_at.is_none() && self.deleted_at.is_none()
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
pub struct AnswerRow {
    #[diesel(embed)]
    pub answer: Answer,
    #[diesel(embed)]
    pub author: UserRef,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = answers)]
pub struct AnswerInsertForm<'a> {
    pub question_id: i64,
    pub author_id: i64,
    pub body: &'a str,
    pub body_html: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, form: &AnswerInsertForm<'_>) -> QueryResult<Answer> {
    diesel::insert_into(answers::table).values(form).get_result(conn)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<Answer>> {
    native!(conn, |c| answers::table.find(id).select(Answer::as_select()).first(c).optional())
}

/// An answer with its author.
pub fn find_row(conn: &mut DbConn, id: i64) -> QueryResult<Option<AnswerRow>> {
    native!(conn, |c| {
        answers::table
            .inner_join(users::table)
            .filter(answers::id.eq(id))
            .select(AnswerRow::as_select())
            .first(c)
            .optional()
    })
}

/// Every answer of a question with its author, in one query, oldest first.
pub fn for_question(conn: &mut DbConn, question_id: i64, include_deleted: bool) -> QueryResult<Vec<AnswerRow>> {
    // One statement shape for both cases (a bound flag, not a boxed
    // query), so its prepared statement is cached.
    native!(conn, |c| {
        answers::table
            .inner_join(users::table)
            .filter(answers::question_id.eq(question_id))
            .filter(answers::deleted_at.is_null().or(include_deleted.into_sql::<Bool>()))
            .select(AnswerRow::as_select())
            .order(answers::id.asc())
            .limit(5000)
            .load(c)
    })
}

/// (visible answers, visible verified answers) of a question.
pub fn visible_counts(conn: &mut DbConn, question_id: i64) -> QueryResult<(i64, i64)> {
    let visible = answers::table
        .filter(answers::question_id.eq(question_id))
        .filter(answers::deleted_at.is_null())
        .filter(answers::hidden_at.is_null());
    // COUNT of a column counts its non-null values: the verified ones.
    visible.select((diesel::dsl::count_star(), diesel::dsl::count(answers::verified_at))).get_result(conn)
}

pub fn update_body(conn: &mut DbConn, id: i64, body: &str, body_html: &str, now: NaiveDateTime) -> QueryResult<Answer> {
    diesel::update(answers::table.find(id))
        .set((answers::body.eq(body), answers::body_html.eq(body_html), answers::updated_at.eq(now)))
        .get_result(conn)
}

pub fn set_deleted(conn: &mut DbConn, id: i64, at: Option<NaiveDateTime>) -> QueryResult<()> {
    diesel::update(answers::table.find(id)).set(answers::deleted_at.eq(at)).execute(conn).map(|_| ())
}

pub fn add_to_score(conn: &mut DbConn, id: i64, delta: i32) -> QueryResult<()> {
    diesel::update(answers::table.find(id)).set(answers::score.eq(answers::score + delta)).execute(conn).map(|_| ())
}

/// When the user's answers of the window were posted (new-account limits).
pub fn created_by_since(conn: &mut DbConn, author_id: i64, since: NaiveDateTime) -> QueryResult<Vec<NaiveDateTime>> {
    answers::table
        .filter(answers::author_id.eq(author_id))
        .filter(answers::created_at.gt(since))
        .select(answers::created_at)
        .limit(1000)
        .load(conn)
}

/// Marks an answer council-verified (or not) by `by`, to be reviewed by
/// `review_by`.
pub fn set_verified(
    conn: &mut DbConn,
    id: i64,
    at: Option<NaiveDateTime>,
    by: Option<i64>,
    review_by: Option<NaiveDateTime>,
) -> QueryResult<()> {
    diesel::update(answers::table.find(id))
        .set((answers::verified_at.eq(at), answers::verified_by.eq(by), answers::review_by.eq(review_by)))
        .execute(conn)
        .map(|_| ())
}

/// Verified, visible answers on visible questions whose review date has
/// passed, oldest review first, after the keyset `(review_by, id)`. Hidden
/// and deleted posts are moderation's business, not a review's.
pub fn stale(
    conn: &mut DbConn,
    now: NaiveDateTime,
    after: Option<(NaiveDateTime, i64)>,
    limit: i64,
) -> QueryResult<Vec<AnswerRow>> {
    let mut query = answers::table
        .inner_join(users::table)
        .inner_join(questions::table.on(questions::id.eq(answers::question_id)))
        .filter(answers::verified_at.is_not_null())
        .filter(answers::review_by.lt(now))
        .filter(answers::deleted_at.is_null())
        .filter(answers::hidden_at.is_null())
        .filter(questions::deleted_at.is_null())
        .filter(questions::hidden_at.is_null())
        .select(AnswerRow::as_select())
        .into_boxed();
    if let Some((review_by, id)) = after {
        query =
            query.filter(answers::review_by.gt(review_by).or(answers::review_by.eq(review_by).and(answers::id.gt(id))));
    }
    query.order((answers::review_by.asc(), answers::id.asc())).limit(limit).load(conn)
}
