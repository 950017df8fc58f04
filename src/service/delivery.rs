//! What every outbound delivery shares (docs/architecture.md, "Outbound
//! deliveries"): how long a claim holds, how long to wait before the next
//! attempt, what an attempt can come to, and the thread that runs a
//! sender's passes. Mail and webhooks use it; Open311 is meant to be the
//! next, not a copy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

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

/// When attempt number `attempts` (1 for the first) failed, the next waits
/// the schedule's step for it; `None` when the schedule has run out.
pub fn next_scheduled(now: NaiveDateTime, attempts: i32, schedule_ms: &[u64]) -> Option<NaiveDateTime> {
    let step = usize::try_from(attempts).ok()?.checked_sub(1)?;
    let wait = schedule_ms.get(step)?;
    Some(now + Duration::milliseconds(i64::try_from(*wait).unwrap_or(i64::MAX / 2)))
}

/// Wakes a sender before its next poll, and tells it to stop.
#[derive(Default)]
pub struct Signal {
    wake: Mutex<bool>,
    condvar: Condvar,
    stop: AtomicBool,
}

impl Signal {
    /// Sleeps until woken or `timeout` passes.
    pub fn wait(&self, timeout: std::time::Duration) {
        let Ok(guard) = self.wake.lock() else { return };
        let Ok((mut woken, _)) = self.condvar.wait_timeout_while(guard, timeout, |w| !*w) else { return };
        *woken = false;
    }

    pub fn notify(&self) {
        if let Ok(mut woken) = self.wake.lock() {
            *woken = true;
            self.condvar.notify_all();
        }
    }

    /// Whether the sender should put down what it holds and return.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// A sender's thread: runs `pass` until stopped, resting `poll` after a
/// pass that did not fill its batch (a full one suggests more is due).
pub struct Runner {
    signal: Arc<Signal>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Runner {
    pub fn start(
        name: &str,
        poll: std::time::Duration,
        mut pass: impl FnMut(&Signal) -> bool + Send + 'static,
    ) -> Runner {
        let signal = Arc::new(Signal::default());
        let looping = signal.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while !looping.stopping() {
                    let full = pass(&looping);
                    if !full {
                        looping.wait(poll);
                    }
                }
            })
            .ok();
        Runner { signal, thread: Mutex::new(thread) }
    }

    /// Looks for due work now rather than at the next poll.
    pub fn wake(&self) {
        self.signal.notify();
    }

    /// Stops after the item in hand; what is left stays queued.
    pub fn stop(&self) {
        self.signal.stop.store(true, Ordering::SeqCst);
        self.signal.notify();
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
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
    fn a_schedule_gives_each_retry_its_wait_then_runs_out() {
        let now = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
        let schedule = [5_000, 300_000];
        assert_eq!(next_scheduled(now, 1, &schedule), Some(now + Duration::seconds(5)));
        assert_eq!(next_scheduled(now, 2, &schedule), Some(now + Duration::minutes(5)));
        assert_eq!(next_scheduled(now, 3, &schedule), None);
        assert_eq!(next_scheduled(now, 0, &schedule), None);
    }

    #[test]
    fn attempts_run_out() {
        assert!(!exhausted(11, 12));
        assert!(exhausted(12, 12));
    }
}
