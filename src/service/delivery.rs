//! What every outbound delivery shares (docs/architecture.md, "Outbound
//! deliveries"): how long a claim holds, how long to wait before the next
//! attempt, and what an attempt can come to. Mail is its first user;
//! webhooks and Open311 are meant to be the next, not copies.

use chrono::{Duration, NaiveDateTime};

/// How long a claimed delivery belongs to the node that claimed it. A node
/// that dies mid-send releases its claims when this lapses, so it must be
/// well above the slowest attempt (an SMTP exchange times out in a minute).
pub const LEASE: Duration = Duration::minutes(5);

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handed over: done.
    Delivered,
    /// Worth trying again later (a refused connection, a 4xx reply).
    Temporary(String),
    /// Refused for good (a 5xx reply): no retry.
    Permanent(String),
    /// Nothing to deliver any more (the content was hidden or deleted,
    /// the recipient cannot be reached): dropped without an attempt.
    Dropped(String),
}

/// When attempt number `attempts` (1 for the first) failed temporarily, the
/// next waits `base` doubled per earlier attempt, capped at six hours.
pub fn next_attempt(now: NaiveDateTime, attempts: i32, base: Duration) -> NaiveDateTime {
    let cap = Duration::hours(6);
    let exponent = attempts.clamp(1, 20) - 1;
    let delay = base.checked_mul(1 << exponent).unwrap_or(cap).min(cap);
    now + delay
}

/// Whether a delivery that failed temporarily `attempts` times is given up.
pub fn exhausted(attempts: i32, max_attempts: i32) -> bool {
    attempts >= max_attempts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_a_cap() {
        let now = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
        let base = Duration::seconds(30);
        assert_eq!(next_attempt(now, 1, base) - now, Duration::seconds(30));
        assert_eq!(next_attempt(now, 2, base) - now, Duration::seconds(60));
        assert_eq!(next_attempt(now, 4, base) - now, Duration::seconds(240));
        assert_eq!(next_attempt(now, 30, base) - now, Duration::hours(6));
    }

    #[test]
    fn attempts_run_out() {
        assert!(!exhausted(11, 12));
        assert!(exhausted(12, 12));
    }
}
