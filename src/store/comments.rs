//! Comments on questions and answers.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{comments, users};
use super::users::UserRef;
use super::{DbConn, native};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = comments)]
pub struct Comment {
    pub id: i64,
    pub question_id: i64,
    pub answer_id: Option<i64>,
    pub author_id: i64,
    pub body: String,
    pub body_html: String,
    pub hidden_at: Option<NaiveDateTime>,
    pub deleted_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
pub struct CommentRow {
    #[diesel(embed)]
    pub comment: Comment,
    #[diesel(embed)]
    pub author: UserRef,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = comments)]
pub struct CommentInsertForm<'a> {
    pub question_id: i64,
    pub answer_id: Option<i64>,
    pub author_id: i64,
    pub body: &'a str,
    pub body_html: &'a str,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, form: &CommentInsertForm<'_>) -> QueryResult<Comment> {
    diesel::insert_into(comments::table).values(form).get_result(conn)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<Comment>> {
    comments::table.find(id).select(Comment::as_select()).first(conn).optional()
}

/// Every live comment under a question (on it and on its answers), with
/// authors, in one query, oldest first.
pub fn for_question(conn: &mut DbConn, question_id: i64) -> QueryResult<Vec<CommentRow>> {
    native!(conn, |c| {
        comments::table
            .inner_join(users::table)
            .filter(comments::question_id.eq(question_id))
            .filter(comments::deleted_at.is_null())
            .order(comments::id.asc())
            .limit(20_000)
            .select(CommentRow::as_select())
            .load(c)
    })
}

pub fn set_deleted(conn: &mut DbConn, id: i64, at: Option<NaiveDateTime>) -> QueryResult<()> {
    diesel::update(comments::table.find(id)).set(comments::deleted_at.eq(at)).execute(conn).map(|_| ())
}
