//! Refresh tokens, stored as SHA-256 hashes and grouped in families: every
//! rotation adds a token to its login's family, and reuse of a spent token
//! revokes the whole family.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConn;
use super::schema::refresh_tokens;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub id: i64,
    pub user_id: i64,
    pub family_id: String,
    pub token_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshTokenInsertForm<'a> {
    pub user_id: i64,
    pub family_id: &'a str,
    pub token_hash: &'a str,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConn, form: &RefreshTokenInsertForm<'_>) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table).values(form).execute(conn).map(|_| ())
}

pub fn find_by_hash(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<RefreshToken>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select(RefreshToken::as_select())
        .first(conn)
        .optional()
}

/// Marks a token spent. Returns false when it already was: a concurrent
/// request used it first, which is treated as reuse.
pub fn mark_used(conn: &mut DbConn, id: i64, now: NaiveDateTime) -> QueryResult<bool> {
    let updated = diesel::update(refresh_tokens::table.find(id).filter(refresh_tokens::used_at.is_null()))
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)?;
    Ok(updated == 1)
}

pub fn revoke_family(conn: &mut DbConn, family_id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

/// Revokes every live token of a user except those of `keep_family`.
pub fn revoke_all_for_user(
    conn: &mut DbConn,
    user_id: i64,
    keep_family: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let live =
        refresh_tokens::table.filter(refresh_tokens::user_id.eq(user_id)).filter(refresh_tokens::revoked_at.is_null());
    match keep_family {
        Some(family) => diesel::update(live.filter(refresh_tokens::family_id.ne(family)))
            .set(refresh_tokens::revoked_at.eq(now))
            .execute(conn),
        None => diesel::update(live).set(refresh_tokens::revoked_at.eq(now)).execute(conn),
    }
}

/// Drops tokens that expired long ago; they can no longer be presented.
pub fn delete_expired_before(conn: &mut DbConn, cutoff: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(cutoff))).execute(conn)
}
