//! API keys: the SHA-256 of each key (never the key), its visible prefix,
//! scopes, expiry, last use and revocation.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::{api_keys, users};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyInsertForm<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub prefix: &'a str,
    pub key_hash: &'a str,
    pub scopes: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConn, form: &ApiKeyInsertForm<'_>) -> QueryResult<ApiKey> {
    diesel::insert_into(api_keys::table).values(form).get_result(conn)
}

/// The key stored under `key_hash`: one lookup in a unique index, the same
/// work whether no key or a revoked one matches.
pub fn find_by_hash(conn: &mut DbConn, key_hash: &str) -> QueryResult<Option<ApiKey>> {
    api_keys::table.filter(api_keys::key_hash.eq(key_hash)).select(ApiKey::as_select()).first(conn).optional()
}

pub fn find(conn: &mut DbConn, id: i64) -> QueryResult<Option<ApiKey>> {
    api_keys::table.find(id).select(ApiKey::as_select()).first(conn).optional()
}

/// A user's keys that are not revoked, newest first.
pub fn live_of_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<ApiKey>> {
    api_keys::table
        .filter(api_keys::user_id.eq(user_id))
        .filter(api_keys::revoked_at.is_null())
        .order(api_keys::id.desc())
        .select(ApiKey::as_select())
        .load(conn)
}

/// Every key of a user, revoked ones included (the personal-data export).
pub fn all_of_user(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<ApiKey>> {
    api_keys::table.filter(api_keys::user_id.eq(user_id)).order(api_keys::id).select(ApiKey::as_select()).load(conn)
}

/// A page of every key with its owner's username, newest first, before
/// the id `before` when given.
pub fn page(conn: &mut DbConn, before: Option<i64>, limit: i64) -> QueryResult<Vec<(ApiKey, String)>> {
    let mut query = api_keys::table
        .inner_join(users::table)
        .order(api_keys::id.desc())
        .limit(limit)
        .select((ApiKey::as_select(), users::username))
        .into_boxed::<super::MultiBackend>();
    if let Some(before) = before {
        query = query.filter(api_keys::id.lt(before));
    }
    query.load(conn)
}

pub fn count_live_of_user(conn: &mut DbConn, user_id: i64) -> QueryResult<i64> {
    api_keys::table
        .filter(api_keys::user_id.eq(user_id))
        .filter(api_keys::revoked_at.is_null())
        .count()
        .get_result(conn)
}

/// Revokes one key; false when it was already revoked.
pub fn revoke(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let updated = diesel::update(api_keys::table.find(id).filter(api_keys::revoked_at.is_null()))
        .set(api_keys::revoked_at.eq(now))
        .execute(conn)?;
    Ok(updated == 1)
}

pub fn revoke_all_of_user(conn: &mut DbConn, user_id: i64, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(api_keys::table.filter(api_keys::user_id.eq(user_id)).filter(api_keys::revoked_at.is_null()))
        .set(api_keys::revoked_at.eq(now))
        .execute(conn)
}

/// Records a use, at most once a minute per key: a BI tool polling every
/// second should not turn each read into a write.
pub fn touch(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<()> {
    let stale = now - chrono::Duration::seconds(60);
    diesel::update(
        api_keys::table.find(id).filter(api_keys::last_used_at.is_null().or(api_keys::last_used_at.lt(stale))),
    )
    .set(api_keys::last_used_at.eq(now))
    .execute(conn)
    .map(|_| ())
}
