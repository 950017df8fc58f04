//! Users and their roles.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::id_list::in_ids;
use super::schema::{user_roles, users};
use super::{DbConn, native};
use crate::domain::Role;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub display_name: String,
    pub bio: String,
    pub area: Option<String>,
    pub reputation: i32,
    pub token_version: i32,
    pub suspended_until: Option<NaiveDateTime>,
    pub suspension_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub accepted_answers: i32,
    pub expert_notifications: bool,
    pub email_verified_at: Option<NaiveDateTime>,
    pub email_undeliverable_at: Option<NaiveDateTime>,
    pub erased_at: Option<NaiveDateTime>,
}

impl User {
    pub fn is_suspended_at(&self, now: NaiveDateTime) -> bool {
        self.suspended_until.is_some_and(|until| until > now)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct UserInsertForm<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: Option<&'a str>,
    pub display_name: &'a str,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A partial profile update; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct ProfileUpdateForm {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub area: Option<Option<String>>,
    pub expert_notifications: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, form: &UserInsertForm<'_>, roles: &[Role]) -> QueryResult<User> {
    let user: User = diesel::insert_into(users::table).values(form).get_result(conn)?;
    set_roles(conn, user.id, roles)?;
    Ok(user)
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<User>> {
    users::table.find(id).select(User::as_select()).first(conn).optional()
}

/// Finds a user by username or email (both stored lowercased).
pub fn find_by_login(conn: &mut DbConn, login: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username.eq(login).or(users::email.eq(login)))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn username_taken(conn: &mut DbConn, username: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.filter(users::username.eq(username)))).get_result(conn)
}

pub fn email_taken(conn: &mut DbConn, email: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(users::table.filter(users::email.eq(email)))).get_result(conn)
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// The ids and addresses of the accounts holding `role`.
pub fn with_role(conn: &mut DbConn, role: Role) -> QueryResult<Vec<(i64, String)>> {
    user_roles::table
        .inner_join(users::table)
        .filter(user_roles::role.eq(role.as_str()))
        .select((users::id, users::email))
        .load(conn)
}

/// Accounts holding `role` (erased ones hold none).
pub fn count_with_role(conn: &mut DbConn, role: Role) -> QueryResult<i64> {
    user_roles::table.filter(user_roles::role.eq(role.as_str())).count().get_result(conn)
}

pub fn roles(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<Role>> {
    let names: Vec<String> =
        user_roles::table.filter(user_roles::user_id.eq(user_id)).select(user_roles::role).load(conn)?;
    Ok(parse_roles(&names))
}

/// Replaces a user's roles.
pub fn set_roles(conn: &mut DbConn, user_id: i64, roles: &[Role]) -> QueryResult<()> {
    diesel::delete(user_roles::table.filter(user_roles::user_id.eq(user_id))).execute(conn)?;
    // One row at a time: MultiConnection has no batch insert.
    for role in roles {
        diesel::insert_into(user_roles::table)
            .values((user_roles::user_id.eq(user_id), user_roles::role.eq(role.as_str())))
            .execute(conn)?;
    }
    Ok(())
}

/// What every authenticated request re-checks: the token version, the
/// suspension and the current roles and reputation. One query.
#[derive(Debug, Clone)]
pub struct AuthState {
    pub token_version: i32,
    pub suspended_until: Option<NaiveDateTime>,
    pub reputation: i32,
    pub created_at: NaiveDateTime,
    pub roles: Vec<Role>,
    /// The account was erased: nothing may act as it again.
    pub erased: bool,
}

/// token_version, suspended_until, reputation, created_at, erased_at, one role.
type AuthRow = (i32, Option<NaiveDateTime>, i32, NaiveDateTime, Option<NaiveDateTime>, Option<String>);

pub fn auth_state(conn: &mut DbConn, user_id: i64) -> QueryResult<Option<AuthState>> {
    let rows: Vec<AuthRow> = users::table
        .left_join(user_roles::table)
        .filter(users::id.eq(user_id))
        .select((
            users::token_version,
            users::suspended_until,
            users::reputation,
            users::created_at,
            users::erased_at,
            user_roles::role.nullable(),
        ))
        .load(conn)?;
    let Some(&(token_version, suspended_until, reputation, created_at, erased_at, _)) = rows.first() else {
        return Ok(None);
    };
    let names: Vec<String> = rows.into_iter().filter_map(|r| r.5).collect();
    Ok(Some(AuthState {
        token_version,
        suspended_until,
        reputation,
        created_at,
        roles: parse_roles(&names),
        erased: erased_at.is_some(),
    }))
}

fn parse_roles(names: &[String]) -> Vec<Role> {
    let mut roles: Vec<Role> = names.iter().filter_map(|n| Role::parse(n).ok()).collect();
    roles.sort();
    roles
}

pub fn update_profile(conn: &mut DbConn, user_id: i64, form: &ProfileUpdateForm) -> QueryResult<User> {
    diesel::update(users::table.find(user_id)).set(form).get_result(conn)
}

/// Stores a new password hash and bumps the token version, which kills every
/// access token issued before.
pub fn set_password(conn: &mut DbConn, user_id: i64, hash: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(hash),
            users::token_version.eq(users::token_version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Suspends a user until `until` (`None` lifts it) and bumps the token
/// version so live access tokens stop working on the next request.
pub fn set_suspension(
    conn: &mut DbConn,
    user_id: i64,
    until: Option<NaiveDateTime>,
    reason: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set((
            users::suspended_until.eq(until),
            users::suspension_reason.eq(reason),
            users::token_version.eq(users::token_version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)
}

/// The part of a user shown next to their posts.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRef {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub reputation: i32,
}

pub fn refs(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<UserRef>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    native!(conn, |c| users::table.filter(in_ids(users::id, ids)).select(UserRef::as_select()).load(c))
}

/// (user id, role) for the public roles (staff, moderator) of these users.
pub fn public_roles(conn: &mut DbConn, ids: &[i64]) -> QueryResult<Vec<(i64, Role)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String)> = native!(conn, |c| {
        user_roles::table
            .filter(in_ids(user_roles::user_id, ids))
            .select((user_roles::user_id, user_roles::role))
            .load(c)
    })?;
    // A user holds at most a few roles; the private ones are dropped here.
    Ok(rows
        .into_iter()
        .filter_map(|(id, role)| Role::parse(&role).ok().filter(|r| r.is_public()).map(|r| (id, r)))
        .collect())
}

/// (questions, answers, accepted answers) a user has that others can see.
pub fn post_counts(conn: &mut DbConn, user_id: i64) -> QueryResult<(i64, i64, i64)> {
    use super::schema::{answers, questions};
    let questions_count = questions::table
        .filter(questions::author_id.eq(user_id))
        .filter(super::questions::listed())
        .count()
        .get_result(conn)?;
    let visible_answers = answers::table
        .filter(answers::author_id.eq(user_id))
        .filter(answers::deleted_at.is_null())
        .filter(answers::hidden_at.is_null());
    let answers_count = visible_answers.count().get_result(conn)?;
    let accepted = visible_answers
        .inner_join(questions::table.on(questions::accepted_answer_id.eq(answers::id.nullable())))
        .count()
        .get_result(conn)?;
    Ok((questions_count, answers_count, accepted))
}
