//! API keys: long-lived credentials for BI tools and scripts. A key is
//! `agora_` and 256 random bits, shown once; only its SHA-256 is kept. Its
//! scopes never exceed its owner's roles, and what it may do is the
//! intersection of its scopes and the roles its owner holds now, so a
//! role taken away, a suspension or an erasure ends it at once.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::clock::rfc3339;
use crate::domain::Role;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::audit::{self, Action};
use crate::service::pagination::{self, Page};
use crate::service::{Caller, Context, tokens};
use crate::store::api_keys::{self as keys, ApiKey, ApiKeyInsertForm};
use crate::store::{DbConn, users, write_transaction};

/// Live keys one user may hold.
pub const MAX_LIVE_KEYS: i64 = 20;
/// The longest a key may live.
pub const MAX_LIFETIME_DAYS: i64 = 2 * 366;
pub const PREFIX: &str = "agora_";
/// Characters of a key shown in lists: `agora_` and eight of its own.
const VISIBLE: usize = PREFIX.len() + 8;

/// What a key may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Read,
    Write,
    DeflectionRead,
    Moderation,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [Scope::Read, Scope::Write, Scope::DeflectionRead, Scope::Moderation, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::DeflectionRead => "deflection:read",
            Scope::Moderation => "moderation",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(input: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == input)
    }

    /// Whether an owner with `roles` may give a key this scope.
    fn allowed_for(self, roles: &[Role]) -> bool {
        let has = |role| roles.contains(&role);
        match self {
            Scope::Read | Scope::Write => true,
            Scope::DeflectionRead => has(Role::Analyst) || has(Role::Admin),
            Scope::Moderation => has(Role::Moderator) || has(Role::Admin),
            Scope::Admin => has(Role::Admin),
        }
    }
}

fn parse_scopes(stored: &str) -> Vec<Scope> {
    stored.split(' ').filter_map(Scope::parse).collect()
}

fn scope_names(scopes: &[Scope]) -> Vec<&'static str> {
    scopes.iter().map(|s| s.as_str()).collect()
}

/// The roles a request made with a key acts with: the owner's current
/// roles, less those the key's scopes do not reach.
pub fn effective_roles(owner_roles: &[Role], scopes: &[Scope]) -> Vec<Role> {
    owner_roles
        .iter()
        .copied()
        .filter(|role| match role {
            Role::Resident | Role::Staff => true,
            Role::Analyst => scopes.contains(&Scope::DeflectionRead) || scopes.contains(&Scope::Admin),
            Role::Moderator => scopes.contains(&Scope::Moderation),
            Role::Admin => scopes.contains(&Scope::Admin),
        })
        .collect()
}

/// A key as its owner and the admins see it: never the key itself.
#[derive(Debug, Serialize)]
pub struct ApiKeyView {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<&'static str>,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "rfc3339::option")]
    pub expires_at: Option<NaiveDateTime>,
    #[serde(with = "rfc3339::option")]
    pub last_used_at: Option<NaiveDateTime>,
    #[serde(with = "rfc3339::option")]
    pub revoked_at: Option<NaiveDateTime>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> ApiKeyView {
        ApiKeyView {
            id: key.id,
            name: key.name,
            scopes: scope_names(&parse_scopes(&key.scopes)),
            prefix: key.prefix,
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// A new key: the only time `key` is shown.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub view: ApiKeyView,
    pub key: String,
}

/// A key in the admins' list, with its owner.
#[derive(Debug, Serialize)]
pub struct OwnedKeyView {
    #[serde(flatten)]
    pub view: ApiKeyView,
    pub user_id: i64,
    pub username: String,
}

pub struct NewKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a key for the caller. Scopes beyond the caller's roles are a
/// 403 naming them.
pub fn create(conn: &mut DbConn, ctx: &Context, caller: &Caller, new: NewKey) -> ApiResult<CreatedKey> {
    let now = ctx.clock.now();
    if let Some(expires_at) = new.expires_at.map(|t| t.naive_utc()) {
        if expires_at <= now {
            return Err(ApiError::validation("expires_at", "must be in the future"));
        }
        if expires_at > now + chrono::Duration::days(MAX_LIFETIME_DAYS) {
            return Err(ApiError::validation("expires_at", "must be within two years"));
        }
    }
    let beyond: Vec<&str> = new.scopes.iter().filter(|s| !s.allowed_for(&caller.roles)).map(|s| s.as_str()).collect();
    if !beyond.is_empty() {
        return Err(ApiError::refused(
            ErrorCode::InsufficientScope,
            format!("your roles do not allow a key with the scope(s) {}", beyond.join(", ")),
        ));
    }
    let (key, key_hash) = new_key()?;
    let scopes = scope_names(&new.scopes).join(" ");
    write_transaction(conn, |conn| {
        if keys::count_live_of_user(conn, caller.id)? >= MAX_LIVE_KEYS {
            return Err(ApiError::Conflict {
                code: ErrorCode::Conflict,
                detail: format!("you already hold {MAX_LIVE_KEYS} keys; revoke one first"),
            });
        }
        let form = ApiKeyInsertForm {
            user_id: caller.id,
            name: &new.name,
            prefix: &key[..VISIBLE],
            key_hash: &key_hash,
            scopes: &scopes,
            created_at: now,
            expires_at: new.expires_at.map(|t| t.naive_utc()),
        };
        let stored = keys::insert(conn, &form)?;
        Ok(CreatedKey { view: stored.into(), key: key.clone() })
    })
}

/// A fresh key (256 random bits, made as a refresh token is) and the
/// hash it is stored under (the refresh tokens' SHA-256, of the whole key).
fn new_key() -> ApiResult<(String, String)> {
    let (secret, _) = tokens::new_refresh_token()?;
    let key = format!("{PREFIX}{secret}");
    let hash = tokens::hash_refresh_token(&key);
    Ok((key, hash))
}

pub fn is_key(token: &str) -> bool {
    token.starts_with(PREFIX)
}

pub fn list_own(conn: &mut DbConn, user_id: i64) -> ApiResult<Vec<ApiKeyView>> {
    Ok(keys::live_of_user(conn, user_id)?.into_iter().map(ApiKeyView::from).collect())
}

pub fn list_all(conn: &mut DbConn, ctx: &Context, cursor: Option<&str>, limit: i64) -> ApiResult<Page<OwnedKeyView>> {
    let before = cursor.map(|c| ctx.cursors.decode::<i64>("api-keys", c)).transpose()?;
    let rows = keys::page(conn, before, limit + 1)?;
    Ok(pagination::page(
        rows,
        limit,
        |(key, _)| ctx.cursors.encode("api-keys", &key.id),
        |(key, username)| OwnedKeyView { user_id: key.user_id, username, view: key.into() },
    ))
}

/// Revokes one of the caller's keys (or, for an admin, anyone's); another
/// user's key is a 404, as if it did not exist.
pub fn revoke(conn: &mut DbConn, ctx: &Context, caller: &Caller, key_id: i64, as_admin: bool) -> ApiResult<()> {
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        let key = keys::find(conn, key_id)?.filter(|k| as_admin || k.user_id == caller.id);
        let Some(key) = key.filter(|k| k.revoked_at.is_none()) else {
            return Err(ApiError::not_found("API key"));
        };
        keys::revoke(conn, key.id, now)?;
        if key.user_id != caller.id {
            audit::record(
                conn,
                Action {
                    actor_id: Some(caller.id),
                    action: "api_key_revoked",
                    target_type: "user",
                    target_id: Some(key.user_id),
                    reason: None,
                    before: Some(serde_json::json!({ "api_key_id": key.id })),
                    after: None,
                    at: now,
                },
            )?;
        }
        Ok(())
    })
}

/// Who a key belongs to and what it may do: the key's hash is looked up in
/// a unique index and compared in constant time, so an unknown key and a
/// wrong one cost the same; a revoked or expired key, or a suspended or
/// erased owner, is the same 401.
pub fn authenticate(conn: &mut DbConn, presented: &str, now: NaiveDateTime) -> ApiResult<(Caller, i64, Vec<Scope>)> {
    let invalid = || ApiError::Unauthorized("the API key is invalid, expired or revoked".to_owned());
    let hash = tokens::hash_refresh_token(presented);
    let key = keys::find_by_hash(conn, &hash)?.ok_or_else(invalid)?;
    if !bool::from(key.key_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(invalid());
    }
    if key.revoked_at.is_some() || key.expires_at.is_some_and(|t| t <= now) {
        return Err(invalid());
    }
    let auth = users::auth_state(conn, key.user_id)?.ok_or_else(invalid)?;
    if auth.suspended_until.is_some_and(|until| until > now) || auth.erased {
        return Err(invalid());
    }
    keys::touch(conn, key.id, now)?;
    let scopes = parse_scopes(&key.scopes);
    let caller = Caller {
        id: key.user_id,
        roles: effective_roles(&auth.roles, &scopes),
        reputation: auth.reputation,
        created_at: auth.created_at,
    };
    Ok((caller, key.id, scopes))
}
