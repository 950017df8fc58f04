//! Accounts: registration, login with throttling, refresh-token rotation,
//! logout, profiles and password changes.

pub mod api_keys;
pub mod email;
pub mod new_accounts;
pub mod passwords;
pub mod personal_data;

use chrono::{Duration, NaiveDateTime};
use serde::Serialize;

use crate::clock::rfc3339;
use crate::domain::{DisplayName, Email, Password, Role, Username};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::Context;
use crate::service::privileges::{self, Privilege, Thresholds};
use crate::service::reputation::badges::{self, BadgeView};
use crate::service::reputation::experts;
use crate::service::tokens::{self, AccessClaims};
pub use crate::store::users::ProfileUpdateForm;
use crate::store::users::{User, UserInsertForm};
use crate::store::{self, DbConn, DbPool, login_failures, refresh_tokens, users, write_transaction};

/// The caller's own profile (GET /me).
#[derive(Debug, Serialize)]
pub struct Me {
    pub id: i64,
    pub username: String,
    pub email: String,
    /// The address's link was followed; only verified addresses get
    /// notification mail.
    pub email_verified: bool,
    pub display_name: String,
    pub bio: String,
    pub area: Option<String>,
    pub roles: Vec<Role>,
    pub reputation: i32,
    pub privileges: Vec<Privilege>,
    pub expert_notifications: bool,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

/// What register, login and refresh return.
#[derive(Debug, Serialize)]
pub struct Session {
    pub user: Me,
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// Someone's public profile (GET /users/{id}).
#[derive(Debug, Serialize)]
pub struct PublicProfile {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub area: Option<String>,
    pub reputation: i32,
    /// Only the roles residents should see: staff and moderator.
    pub roles: Vec<Role>,
    pub counts: PostCounts,
    /// Slugs of the categories the user is an expert in.
    pub expert_in: Vec<String>,
    pub badges: Vec<BadgeView>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Serialize)]
pub struct PostCounts {
    pub questions: i64,
    pub answers: i64,
    pub accepted_answers: i64,
}

pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub display_name: Option<DisplayName>,
}

/// Creates a resident account and logs it in, and mails a link that
/// verifies its address. `password_hash` is computed by the caller off the
/// database connection.
pub fn register(conn: &mut DbConn, ctx: &Context, reg: Registration, password_hash: String) -> ApiResult<Session> {
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        if users::username_taken(conn, reg.username.as_str())? {
            return Err(ApiError::Conflict { code: ErrorCode::UsernameTaken, detail: "that username is taken".into() });
        }
        if users::email_taken(conn, reg.email.as_str())? {
            return Err(ApiError::Conflict {
                code: ErrorCode::EmailTaken,
                detail: "an account with that email already exists".into(),
            });
        }
        let display_name = reg.display_name.map(DisplayName::into_inner);
        let form = UserInsertForm {
            username: reg.username.as_str(),
            email: reg.email.as_str(),
            password_hash: Some(&password_hash),
            display_name: display_name.as_deref().unwrap_or(reg.username.as_str()),
            created_at: now,
            updated_at: now,
        };
        let user = users::insert(conn, &form, &[Role::Resident])?;
        email::send_verification(conn, user.id, &user.email, now)?;
        start_session(conn, ctx, user, vec![Role::Resident])
    })
}

/// Issues a new refresh-token family and an access token for `user`.
fn start_session(conn: &mut DbConn, ctx: &Context, user: User, roles: Vec<Role>) -> ApiResult<Session> {
    let session_id = tokens::new_session_id();
    issue_session(conn, ctx, user, roles, &session_id)
}

fn issue_session(
    conn: &mut DbConn,
    ctx: &Context,
    user: User,
    roles: Vec<Role>,
    session_id: &str,
) -> ApiResult<Session> {
    let now = ctx.clock.now_utc();
    let (refresh_token, refresh_hash) = tokens::new_refresh_token()?;
    refresh_tokens::insert(
        conn,
        &refresh_tokens::RefreshTokenInsertForm {
            user_id: user.id,
            family_id: session_id,
            token_hash: &refresh_hash,
            created_at: now.naive_utc(),
            expires_at: (now + Duration::days(tokens::REFRESH_TOKEN_TTL_DAYS)).naive_utc(),
        },
    )?;
    let access_token = ctx.tokens.issue(user.id, &roles, user.token_version, session_id, now)?;
    let rules = ctx.rules(conn)?;
    Ok(Session {
        user: me_view(&rules.privileges, user, roles),
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: tokens::ACCESS_TOKEN_TTL_SECS,
    })
}

pub fn me_view(thresholds: &Thresholds, user: User, roles: Vec<Role>) -> Me {
    let privileges = privileges::held(thresholds, user.reputation, &roles);
    Me {
        id: user.id,
        username: user.username,
        email: user.email,
        email_verified: user.email_verified_at.is_some(),
        display_name: user.display_name,
        bio: user.bio,
        area: user.area,
        roles,
        reputation: user.reputation,
        privileges,
        expert_notifications: user.expert_notifications,
        created_at: user.created_at,
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized("the login or password is incorrect".to_owned())
}

fn suspended(until: NaiveDateTime) -> ApiError {
    ApiError::Forbidden {
        code: ErrorCode::AccountSuspended,
        detail: format!("this account is suspended until {}", rfc3339::format(&until)),
    }
}

/// Logs in with a username or email. Throttled per account and per client
/// address before the password is even checked; an unknown login costs the
/// same argon2 work and gives the same 401 as a wrong password.
pub fn login(pool: &DbPool, ctx: &Context, login: &str, password: &str, ip: &str) -> ApiResult<Session> {
    let account_key = login.trim().to_lowercase();
    let user = {
        let mut conn = pool.get()?;
        check_throttle(&mut conn, ctx, &account_key, ip)?;
        users::find_by_login(&mut conn, &account_key)?
    };
    // The connection goes back to the pool while argon2 works.
    let valid = passwords::verify(password, user.as_ref().and_then(|u| u.password_hash.as_deref()));
    let mut conn = pool.get()?;
    let now = ctx.clock.now();
    let user = match user {
        Some(user) if valid => user,
        _ => {
            record_failure(&mut conn, ctx, &account_key, ip, now)?;
            return Err(invalid_credentials());
        }
    };
    if let Some(until) = user.suspended_until.filter(|&until| until > now) {
        return Err(suspended(until));
    }
    write_transaction(&mut conn, |conn| {
        login_failures::clear_account(conn, &account_key)?;
        let roles = users::roles(conn, user.id)?;
        start_session(conn, ctx, user, roles)
    })
}

/// Refuses the attempt with 429 when the account or the address has used up
/// its failures in the window; Retry-After says when the oldest expires.
fn check_throttle(conn: &mut DbConn, ctx: &Context, account_key: &str, ip: &str) -> ApiResult<()> {
    let limits = &ctx.config.login_throttle;
    let window = Duration::seconds(limits.window_secs as i64);
    let now = ctx.clock.now();
    let since = now - window;
    let by_account =
        login_failures::recent_for_account(conn, account_key, since, limits.max_failures_per_account.into())?;
    let by_ip = login_failures::recent_for_ip(conn, ip, since, limits.max_failures_per_ip.into())?;
    let blocked_until = [(by_account, limits.max_failures_per_account), (by_ip, limits.max_failures_per_ip)]
        .into_iter()
        .filter(|(failures, max)| failures.len() >= *max as usize)
        .filter_map(|(failures, _)| failures.last().map(|&oldest| oldest + window))
        .max();
    match blocked_until {
        Some(until) => Err(ApiError::RateLimited {
            retry_after_secs: (until - now).num_seconds().max(1) as u64,
            detail: "too many failed logins; try again later".to_owned(),
        }),
        None => Ok(()),
    }
}

fn record_failure(conn: &mut DbConn, ctx: &Context, account_key: &str, ip: &str, now: NaiveDateTime) -> ApiResult<()> {
    let window = Duration::seconds(ctx.config.login_throttle.window_secs as i64);
    login_failures::record(conn, account_key, ip, now)?;
    login_failures::delete_before(conn, now - window)?;
    Ok(())
}

/// What a refresh attempt found, decided inside the transaction so that a
/// detected reuse is committed (the family revoked) before the 401.
enum RefreshOutcome {
    Rotated(Box<Session>),
    Reused,
    Invalid,
    Suspended(NaiveDateTime),
}

/// Rotates a refresh token: the presented one is spent and a new one of the
/// same family is issued. Presenting a spent token revokes the family.
pub fn refresh(conn: &mut DbConn, ctx: &Context, presented: &str) -> ApiResult<Session> {
    let hash = tokens::hash_refresh_token(presented);
    let now = ctx.clock.now();
    let outcome = write_transaction(conn, |conn| -> ApiResult<RefreshOutcome> {
        let Some(token) = refresh_tokens::find_by_hash(conn, &hash)? else {
            return Ok(RefreshOutcome::Invalid);
        };
        if token.revoked_at.is_some() || token.expires_at <= now {
            return Ok(RefreshOutcome::Invalid);
        }
        if token.used_at.is_some() || !refresh_tokens::mark_used(conn, token.id, now)? {
            tracing::warn!(user_id = token.user_id, "refresh token reused; revoking its family");
            refresh_tokens::revoke_family(conn, &token.family_id, now)?;
            return Ok(RefreshOutcome::Reused);
        }
        let user = users::find(conn, token.user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        if let Some(until) = user.suspended_until.filter(|&until| until > now) {
            return Ok(RefreshOutcome::Suspended(until));
        }
        let roles = users::roles(conn, user.id)?;
        let session = issue_session(conn, ctx, user, roles, &token.family_id)?;
        Ok(RefreshOutcome::Rotated(Box::new(session)))
    })?;
    match outcome {
        RefreshOutcome::Rotated(session) => Ok(*session),
        RefreshOutcome::Reused => {
            Err(ApiError::Unauthorized("this refresh token was already used; the session has been revoked".to_owned()))
        }
        RefreshOutcome::Invalid => Err(ApiError::Unauthorized("the refresh token is invalid or expired".to_owned())),
        RefreshOutcome::Suspended(until) => Err(suspended(until)),
    }
}

/// Ends the session the refresh token belongs to, if it is the caller's.
/// Unknown or foreign tokens are ignored so the answer reveals nothing.
pub fn logout(conn: &mut DbConn, ctx: &Context, user_id: i64, presented: &str) -> ApiResult<()> {
    let hash = tokens::hash_refresh_token(presented);
    let now = ctx.clock.now();
    write_transaction(conn, |conn| {
        if let Some(token) = refresh_tokens::find_by_hash(conn, &hash)?
            && token.user_id == user_id
        {
            refresh_tokens::revoke_family(conn, &token.family_id, now)?;
        }
        Ok(())
    })
}

pub fn me(conn: &mut DbConn, ctx: &Context, user_id: i64) -> ApiResult<Me> {
    let user = users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
    let roles = users::roles(conn, user_id)?;
    Ok(me_view(&ctx.rules(conn)?.privileges, user, roles))
}

pub fn update_me(conn: &mut DbConn, ctx: &Context, user_id: i64, mut form: ProfileUpdateForm) -> ApiResult<Me> {
    form.updated_at = Some(ctx.clock.now());
    let user = write_transaction(conn, |conn| users::update_profile(conn, user_id, &form))?;
    let roles = users::roles(conn, user_id)?;
    Ok(me_view(&ctx.rules(conn)?.privileges, user, roles))
}

pub fn public_profile(conn: &mut DbConn, ctx: &Context, user_id: i64) -> ApiResult<PublicProfile> {
    let user = users::find(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
    let roles = users::roles(conn, user_id)?.into_iter().filter(|r| r.is_public()).collect();
    let (questions, answers, accepted_answers) = users::post_counts(conn, user_id)?;
    let rules = ctx.rules(conn)?;
    Ok(PublicProfile {
        counts: PostCounts { questions, answers, accepted_answers },
        expert_in: experts::expert_in(conn, &rules.experts, user_id)?,
        badges: badges::of_user(conn, user_id)?,
        id: user.id,
        username: user.username,
        display_name: user.display_name,
        bio: user.bio,
        area: user.area,
        reputation: user.reputation,
        roles,
        created_at: user.created_at,
    })
}

/// Changes the password after checking the current one (throttled like a
/// login). Every access token dies (token version bump) and every other
/// login's refresh tokens are revoked; the caller's own login survives, so
/// its client refreshes once and carries on.
pub fn change_password(
    pool: &DbPool,
    ctx: &Context,
    user_id: i64,
    session_id: &str,
    ip: &str,
    current: &str,
    new_password: &str,
) -> ApiResult<()> {
    let username = {
        let mut conn = pool.get()?;
        users::find(&mut conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?.username
    };
    let new_password = Password::parse(new_password, Some(&username))
        .map_err(|message| ApiError::validation("new_password", &message))?;
    confirm_password(pool, ctx, user_id, ip, current)?;
    if current == new_password.expose() {
        return Err(ApiError::validation("new_password", "must differ from the current password"));
    }
    let hash = passwords::hash(new_password.expose())?;
    let mut conn = pool.get()?;
    let now = ctx.clock.now();
    write_transaction(&mut conn, |conn| {
        users::set_password(conn, user_id, &hash, now)?;
        refresh_tokens::revoke_all_for_user(conn, user_id, Some(session_id), now)?;
        Ok(())
    })
}

/// Checks a signed-in user's password before a grave change (a new
/// password, erasure), throttled like a login: 403 `wrong_password`.
pub fn confirm_password(pool: &DbPool, ctx: &Context, user_id: i64, ip: &str, password: &str) -> ApiResult<()> {
    let user = {
        let mut conn = pool.get()?;
        let user = users::find(&mut conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        check_throttle(&mut conn, ctx, &user.username, ip)?;
        user
    };
    if passwords::verify(password, user.password_hash.as_deref()) {
        return Ok(());
    }
    let mut conn = pool.get()?;
    record_failure(&mut conn, ctx, &user.username, ip, ctx.clock.now())?;
    Err(ApiError::Forbidden { code: ErrorCode::WrongPassword, detail: "the password is incorrect".to_owned() })
}

/// Creates an account from the command line (how the first admin appears).
/// Operators may use reserved names such as `admin`.
pub fn create_user_cli(
    conn: &mut DbConn,
    now: NaiveDateTime,
    username: &Username,
    email: &Email,
    password: &Password,
    roles: &[Role],
) -> ApiResult<User> {
    let hash = passwords::hash(password.expose())?;
    let mut roles = roles.to_vec();
    if !roles.contains(&Role::Resident) {
        roles.push(Role::Resident);
    }
    roles.sort();
    store::write_transaction(conn, |conn| {
        if users::username_taken(conn, username.as_str())? || users::email_taken(conn, email.as_str())? {
            return Err(ApiError::conflict("a user with that username or email already exists"));
        }
        let form = UserInsertForm {
            username: username.as_str(),
            email: email.as_str(),
            password_hash: Some(&hash),
            display_name: username.as_str(),
            created_at: now,
            updated_at: now,
        };
        Ok(users::insert(conn, &form, &roles)?)
    })
}

/// Sets a user's password from the command line (how an operator lets an
/// imported or restored user, who has none, sign in); ends their sessions.
pub fn set_password_cli(conn: &mut DbConn, now: NaiveDateTime, username: &str, password: &str) -> ApiResult<User> {
    let user = users::find_by_login(conn, username)?.ok_or_else(|| ApiError::not_found("user"))?;
    let password = Password::parse(password, Some(&user.username)).map_err(|m| ApiError::validation("password", &m))?;
    let hash = passwords::hash(password.expose())?;
    store::write_transaction(conn, |conn| -> ApiResult<()> {
        users::set_password(conn, user.id, &hash, now)?;
        refresh_tokens::revoke_all_for_user(conn, user.id, None, now)?;
        Ok(())
    })?;
    Ok(user)
}

/// Whose an access token is, checked against the account as it is now: a
/// token issued before a password change or role change (its token
/// version) or for a suspended account is refused, so revocation takes
/// effect on the next request. The token's signature and expiry were
/// checked already (`tokens::TokenKeys::verify`, no database needed).
pub fn authenticate(conn: &mut DbConn, claims: &AccessClaims, now: NaiveDateTime) -> ApiResult<Caller> {
    let revoked = || ApiError::Unauthorized("the access token has been revoked".to_owned());
    let user_id: i64 = claims.sub.parse().map_err(|_| revoked())?;
    let auth = users::auth_state(conn, user_id)?.ok_or_else(revoked)?;
    let suspended = auth.suspended_until.is_some_and(|until| until > now);
    if auth.token_version != claims.tv || suspended || auth.erased {
        return Err(revoked());
    }
    Ok(Caller { id: user_id, roles: auth.roles, reputation: auth.reputation, created_at: auth.created_at })
}
