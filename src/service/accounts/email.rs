//! An account's address: verification (on registration and on a change of
//! address) and password reset by mail.

use chrono::{Duration, NaiveDateTime};

use super::{Me, check_throttle, me, passwords, record_failure};
use crate::domain::{Email, Password};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Context;
use crate::service::mail::tokens::{self, Purpose};
use crate::service::mail::{self, MailKind, TokenPayload};
use crate::store::{self, DbConn, DbPool, login_failures, refresh_tokens, users, write_transaction};

/// Reset requests allowed per address, and per client address, within the
/// login-throttle window: enough for a resident who mistyped, too few to
/// flood an inbox.
const RESETS_PER_ADDRESS: usize = 3;
const RESETS_PER_IP: usize = 20;

/// Mails `email` a link that verifies it (inside the caller's
/// transaction); an earlier link stops working.
pub fn send_verification(conn: &mut DbConn, user_id: i64, email: &str, now: NaiveDateTime) -> ApiResult<()> {
    let token = tokens::issue(conn, user_id, Purpose::VerifyEmail, email, now)?;
    mail::enqueue(conn, user_id, MailKind::VerifyEmail, Some(email), None, &TokenPayload { token }, now)
}

/// POST /auth/verify-email: the link's token marks its address verified,
/// if it is still the account's address.
pub fn verify_email(conn: &mut DbConn, ctx: &Context, token: &str) -> ApiResult<()> {
    let now = ctx.now();
    write_transaction(conn, |conn| {
        let token = tokens::redeem(conn, Purpose::VerifyEmail, token, now)?;
        if !store::mail::mark_verified(conn, token.user_id, &token.email, now)? {
            return Err(tokens::invalid());
        }
        Ok(())
    })
}

/// POST /me/verify-email/resend: a new link, unless the address is
/// verified already (then nothing is sent; the answer is the same).
pub fn resend_verification(conn: &mut DbConn, ctx: &Context, user_id: i64) -> ApiResult<()> {
    let now = ctx.now();
    write_transaction(conn, |conn| {
        let user = store::mail::recipient(conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        if user.email_verified_at.is_some() {
            return Ok(());
        }
        send_verification(conn, user_id, &user.email, now)
    })
}

/// PUT /me/email: a new address after the current password, unverified
/// until its link is followed.
pub fn change_email(
    pool: &DbPool,
    ctx: &Context,
    user_id: i64,
    ip: &str,
    new_email: &Email,
    password: &str,
) -> ApiResult<Me> {
    let user = {
        let mut conn = pool.get()?;
        let user = users::find(&mut conn, user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        check_throttle(&mut conn, ctx, &user.username, ip)?;
        user
    };
    if !passwords::verify(password, user.password_hash.as_deref()) {
        let mut conn = pool.get()?;
        record_failure(&mut conn, ctx, &user.username, ip, ctx.now())?;
        return Err(ApiError::refused(ErrorCode::WrongPassword, "the password is incorrect"));
    }
    let mut conn = pool.get()?;
    let now = ctx.now();
    write_transaction(&mut conn, |conn| {
        if user.email == new_email.as_str() {
            return Ok(());
        }
        if users::email_taken(conn, new_email.as_str())? {
            return Err(ApiError::Conflict {
                code: ErrorCode::EmailTaken,
                detail: "an account with that email already exists".into(),
            });
        }
        store::mail::change_email(conn, user_id, new_email.as_str(), now)?;
        store::mail::spend_all(conn, user_id, "reset_password", now)?;
        send_verification(conn, user_id, new_email.as_str(), now)
    })?;
    me(&mut conn, ctx, user_id)
}

/// POST /auth/password-reset: mails a reset link when the address belongs
/// to an account. The caller learns nothing: the answer, and the work done
/// (a throttle record, a token made, one write transaction), are the same
/// whether or not it does.
pub fn request_reset(conn: &mut DbConn, ctx: &Context, email: &Email, ip: &str) -> ApiResult<()> {
    let now = ctx.now();
    let window = Duration::seconds(ctx.config.login_throttle.window_secs as i64);
    let (address_key, ip_key) = (format!("reset:{}", email.as_str()), format!("reset:{ip}"));
    let by_address = login_failures::recent_for_account(conn, &address_key, now - window, RESETS_PER_ADDRESS as i64)?;
    let by_ip = login_failures::recent_for_ip(conn, &ip_key, now - window, RESETS_PER_IP as i64)?;
    if by_address.len() >= RESETS_PER_ADDRESS || by_ip.len() >= RESETS_PER_IP {
        let oldest = by_address.last().into_iter().chain(by_ip.last()).min().copied().unwrap_or(now);
        return Err(ApiError::RateLimited {
            retry_after_secs: (oldest + window - now).num_seconds().max(1) as u64,
            detail: "too many reset requests; try again later".into(),
        });
    }
    write_transaction(conn, |conn| {
        login_failures::record(conn, &address_key, &ip_key, now)?;
        login_failures::delete_before(conn, now - window)?;
        let user = store::mail::find_by_email(conn, email.as_str())?;
        match user.filter(|u| u.suspended_until.is_none_or(|until| until <= now)) {
            Some(user) => {
                let token = tokens::issue(conn, user.id, Purpose::ResetPassword, &user.email, now)?;
                mail::enqueue(
                    conn,
                    user.id,
                    MailKind::PasswordReset,
                    Some(&user.email),
                    None,
                    &TokenPayload { token },
                    now,
                )
            }
            None => {
                // The same random token and hash an account would get.
                let _ = crate::service::tokens::new_refresh_token()?;
                Ok(())
            }
        }
    })
}

/// POST /auth/password-reset/confirm: the token (once, within the hour)
/// sets a new password and ends every session of the account. Following
/// the link also proves the address works, so it counts as verified.
pub fn confirm_reset(pool: &DbPool, ctx: &Context, token: &str, new_password: &str) -> ApiResult<()> {
    let user = {
        let mut conn = pool.get()?;
        let hash = crate::service::tokens::hash_refresh_token(token);
        let found = store::mail::find_token(&mut conn, "reset_password", &hash)?.ok_or_else(tokens::invalid)?;
        users::find(&mut conn, found.user_id)?.ok_or_else(tokens::invalid)?
    };
    let password = Password::parse(new_password, Some(&user.username))
        .map_err(|message| ApiError::validation("new_password", &message))?;
    let hash = passwords::hash(password.expose())?;
    let mut conn = pool.get()?;
    let now = ctx.now();
    write_transaction(&mut conn, |conn| {
        let spent = tokens::redeem(conn, Purpose::ResetPassword, token, now)?;
        if spent.user_id != user.id || spent.email != user.email {
            return Err(tokens::invalid());
        }
        users::set_password(conn, user.id, &hash, now)?;
        refresh_tokens::revoke_all_for_user(conn, user.id, None, now)?;
        store::mail::mark_verified(conn, user.id, &spent.email, now)?;
        Ok(())
    })
}
