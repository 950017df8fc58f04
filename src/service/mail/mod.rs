//! Mail: what residents are sent, and how it leaves the process
//! (docs/architecture.md, "Outbound deliveries").
//!
//! A mail is a row in `mail_outbox`, written in the transaction of what
//! causes it (a registration, a reset request, a notification, a digest).
//! The [`sender`] thread of each node claims due rows, composes each mail
//! from the database as it is then ([`compose`]: a post hidden since is not
//! mailed), hands it to SMTP or writes an `.eml` file ([`transport`]) and
//! records the outcome, retrying temporary failures with back-off.
//!
//! - `preferences`: per-kind `instant`/`digest`/`off`, the digest's
//!   frequency, one-click unsubscribe tokens.
//! - `tokens`: single-use account tokens (verification, password reset),
//!   stored hashed.
//! - `digest`: the daily or weekly digest, once per period.

pub mod compose;
pub mod digest;
pub mod preferences;
pub mod sender;
pub mod tokens;
pub mod transport;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::store::mail::{OutboxInsertForm, Recipient};
use crate::store::{self, DbConn};
use preferences::{Mode, Topic};

/// What a mail is, which says how it is composed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    VerifyEmail,
    PasswordReset,
    Notification,
    Digest,
    /// Operations: a webhook endpoint was disabled (to admins).
    WebhookDisabled,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::PasswordReset => "password_reset",
            MailKind::Notification => "notification",
            MailKind::Digest => "digest",
            MailKind::WebhookDisabled => "webhook_disabled",
        }
    }

    pub fn parse(s: &str) -> Option<MailKind> {
        [
            MailKind::VerifyEmail,
            MailKind::PasswordReset,
            MailKind::Notification,
            MailKind::Digest,
            MailKind::WebhookDisabled,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The payload of a token mail: the token itself, kept only until the mail
/// is sent (the database keeps its hash).
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenPayload {
    pub token: String,
}

/// The payload of a notification mail.
#[derive(Debug, Serialize, Deserialize)]
pub struct NotificationPayload {
    pub topic: Topic,
}

/// The payload of a digest: the window it covers.
#[derive(Debug, Serialize, Deserialize)]
pub struct DigestPayload {
    pub since: NaiveDateTime,
    pub until: NaiveDateTime,
}

/// The payload of an operations alert: which endpoint, and why.
#[derive(Debug, Serialize, Deserialize)]
pub struct WebhookDisabledPayload {
    pub endpoint_id: i64,
    pub url: String,
    pub reason: String,
}

/// Adds a mail to the outbox (inside the caller's transaction).
pub fn enqueue(
    conn: &mut DbConn,
    user_id: i64,
    kind: MailKind,
    to_address: Option<&str>,
    notification_id: Option<i64>,
    payload: &impl Serialize,
    now: NaiveDateTime,
) -> ApiResult<()> {
    let payload = serde_json::to_string(payload).map_err(ApiError::internal)?;
    store::mail::enqueue(
        conn,
        &OutboxInsertForm {
            user_id,
            kind: kind.as_str(),
            to_address,
            notification_id,
            payload: &payload,
            status: "pending",
            next_attempt_at: now,
            created_at: now,
        },
    )?;
    Ok(())
}

/// Whether notification mail may go to this user's address: verified, not
/// refused for good, and the account not suspended.
pub fn reachable(recipient: &Recipient, now: NaiveDateTime) -> bool {
    recipient.email_verified_at.is_some()
        && recipient.email_undeliverable_at.is_none()
        && recipient.suspended_until.is_none_or(|until| until <= now)
}

/// After an inbox notification is written: mails it at once when its
/// recipient wants this kind instantly (the digest picks up the rest).
pub fn on_notification(
    conn: &mut DbConn,
    notification_id: i64,
    recipient_id: i64,
    notification_kind: &str,
    recipient_is_asker: bool,
    now: NaiveDateTime,
) -> ApiResult<()> {
    let Some(topic) = Topic::of_notification(notification_kind, recipient_is_asker) else {
        return Ok(());
    };
    let Some(recipient) = store::mail::recipient(conn, recipient_id)? else {
        return Ok(());
    };
    if !reachable(&recipient, now) || preferences::load(conn, recipient_id)?.mode(topic) != Mode::Instant {
        return Ok(());
    }
    enqueue(
        conn,
        recipient_id,
        MailKind::Notification,
        None,
        Some(notification_id),
        &NotificationPayload { topic },
        now,
    )
}
