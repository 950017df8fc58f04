//! Signed intents: `GET /questions/similar` with an `intent_id` hands the
//! contact form an `intent_token`, the intent, its arm and the time signed
//! by the server (HMAC-SHA256 under a key derived from the server secret,
//! compared in constant time). A `contact_*` event counts only with a token
//! for its own intent, issued at most a day before the event happened; one
//! without is stored but counted under `excluded.unverified_intent`. A
//! script that posts confirmations without asking the server first inflates
//! nothing.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::service::pagination::CursorCodec;

/// What the signature covers; the scope keeps the token from passing for a
/// cursor and a cursor from passing for a token.
const SCOPE: &str = "deflection intent token v1";
/// How long after its token an intent's events may happen.
pub const LIFETIME_SECS: i64 = 24 * 60 * 60;
/// Clocks of browsers run a little ahead or behind.
const SKEW_SECS: i64 = 5 * 60;
/// The longest token accepted (an intent id is at most 128 characters).
pub const MAX_TOKEN_CHARS: usize = 512;

#[derive(Serialize, Deserialize)]
struct Claims {
    /// The intent.
    i: String,
    /// Its arm.
    a: String,
    /// When the token was issued (seconds).
    t: i64,
}

pub fn issue(signer: &CursorCodec, intent_id: &str, arm: &str, now: NaiveDateTime) -> String {
    signer.encode(SCOPE, &Claims { i: intent_id.to_owned(), a: arm.to_owned(), t: now.and_utc().timestamp() })
}

/// Whether `token` is the server's for `intent_id` and covers an event
/// that happened at `occurred_at`. Forged, altered, another intent's,
/// expired: all false.
pub fn verifies(signer: &CursorCodec, token: &str, intent_id: &str, occurred_at: NaiveDateTime) -> bool {
    if token.len() > MAX_TOKEN_CHARS {
        return false;
    }
    let Ok(claims) = signer.decode::<Claims>(SCOPE, token) else {
        return false;
    };
    let at = occurred_at.and_utc().timestamp();
    claims.i == intent_id && at >= claims.t - SKEW_SECS && at <= claims.t + LIFETIME_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_covers_its_intent_for_a_day() {
        let signer = CursorCodec::new(b"secret");
        let now = chrono::Utc::now().naive_utc();
        let token = issue(&signer, "intent-1", "treatment", now);
        assert!(verifies(&signer, &token, "intent-1", now));
        assert!(verifies(&signer, &token, "intent-1", now + chrono::Duration::hours(23)));
        assert!(!verifies(&signer, &token, "intent-1", now + chrono::Duration::hours(25)), "expired");
        assert!(!verifies(&signer, &token, "intent-1", now - chrono::Duration::hours(1)), "before it was issued");
        assert!(!verifies(&signer, &token, "intent-2", now), "another intent's");
        assert!(!verifies(&CursorCodec::new(b"other"), &token, "intent-1", now), "another server's");
        let (payload, tag) = token.split_once('.').unwrap();
        let mut forged = payload.to_owned();
        forged.push('A');
        assert!(!verifies(&signer, &format!("{forged}.{tag}"), "intent-1", now), "altered");
        let cursor = signer.encode("questions:newest", &Claims { i: "intent-1".into(), a: "treatment".into(), t: 0 });
        assert!(!verifies(&signer, &cursor, "intent-1", now), "a cursor is no token");
    }
}
