//! Single-use account tokens sent by mail: 256 random bits, of which the
//! database keeps only a SHA-256 hash. A presented token is looked up by
//! its hash, so no secret is compared byte by byte (timing tells nothing).

use chrono::{Duration, NaiveDateTime};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::tokens as secrets;
use crate::store::mail::{EmailToken, EmailTokenInsertForm};
use crate::store::{self, DbConn};

/// What a token is for, and how long it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
        }
    }

    /// A reset link is a key to the account: an hour (openapi.yaml). A
    /// verification link may wait in an inbox for a couple of days.
    pub fn lifetime(self) -> Duration {
        match self {
            Purpose::VerifyEmail => Duration::hours(48),
            Purpose::ResetPassword => Duration::minutes(60),
        }
    }
}

/// Issues a token for `email` (inside the caller's transaction); earlier
/// open tokens of the same purpose stop working. Returns the token to mail.
pub fn issue(conn: &mut DbConn, user_id: i64, purpose: Purpose, email: &str, now: NaiveDateTime) -> ApiResult<String> {
    let (token, hash) = secrets::new_refresh_token()?;
    store::mail::spend_all(conn, user_id, purpose.as_str(), now)?;
    store::mail::insert_token(
        conn,
        &EmailTokenInsertForm {
            user_id,
            purpose: purpose.as_str(),
            token_hash: &hash,
            email,
            created_at: now,
            expires_at: now + purpose.lifetime(),
        },
    )?;
    Ok(token)
}

/// Spends a presented token (inside the caller's transaction). Unknown,
/// used and expired tokens are one and the same 400 `invalid_token`.
pub fn redeem(conn: &mut DbConn, purpose: Purpose, presented: &str, now: NaiveDateTime) -> ApiResult<EmailToken> {
    if presented.is_empty() || presented.len() > 512 {
        return Err(invalid());
    }
    let hash = secrets::hash_refresh_token(presented);
    let token = store::mail::find_token(conn, purpose.as_str(), &hash)?.ok_or_else(invalid)?;
    if token.used_at.is_some() || token.expires_at <= now || !store::mail::use_token(conn, token.id, now)? {
        return Err(invalid());
    }
    Ok(token)
}

pub fn invalid() -> ApiError {
    ApiError::bad_request(ErrorCode::InvalidToken, "the link is invalid, already used or expired; ask for a new one")
}
