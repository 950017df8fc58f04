//! Categories (admin-managed) with a cached count of visible questions.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::categories;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = categories)]
pub struct Category {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub question_count: i32,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = categories)]
pub struct CategoryUpdateForm {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// Categories are few (a council has a dozen or two); at most 500 listed.
pub fn list(conn: &mut DbConn) -> QueryResult<Vec<Category>> {
    categories::table.order(categories::name.asc()).limit(500).select(Category::as_select()).load(conn)
}

pub fn find_by_slug(conn: &mut DbConn, slug: &str) -> QueryResult<Option<Category>> {
    categories::table.filter(categories::slug.eq(slug)).select(Category::as_select()).first(conn).optional()
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Category> {
    categories::table.find(id).select(Category::as_select()).first(conn)
}

pub fn insert(
    conn: &mut DbConn,
    slug: &str,
    name: &str,
    description: &str,
    now: NaiveDateTime,
) -> QueryResult<Category> {
    diesel::insert_into(categories::table)
        .values((
            categories::slug.eq(slug),
            categories::name.eq(name),
            categories::description.eq(description),
            categories::created_at.eq(now),
        ))
        .get_result(conn)
}

pub fn update(conn: &mut DbConn, id: i64, form: &CategoryUpdateForm) -> QueryResult<Category> {
    diesel::update(categories::table.find(id)).set(form).get_result(conn)
}

/// Keeps `question_count` in step when a question appears or disappears.
pub fn adjust_count(conn: &mut DbConn, id: i64, delta: i32) -> QueryResult<()> {
    diesel::update(categories::table.find(id))
        .set(categories::question_count.eq(categories::question_count + delta))
        .execute(conn)
        .map(|_| ())
}
