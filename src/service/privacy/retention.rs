//! Retention (settings `retention`, docs/privacy.md): a visitor who has
//! sent nothing for `visitor_id_days` gets their id replaced everywhere it
//! is held by a keyed hash (`anon:` and 22 characters), so reports still
//! count them once; search text older than `search_text_days` is deleted
//! (the events stay and still count); per-day view keys go after their
//! day; logins expired for a month and failed logins a day old go too. Run daily by each node's `Keeper` and by `agora retention run`;
//! running it twice, or on two nodes at once, changes nothing more.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::error::ApiResult;
use crate::service::Context;
use crate::service::deflection;
use crate::store::retention::{self as store, PSEUDONYM_PREFIX};
use crate::store::{DbConn, DbPool, write_transaction};

/// Visitors replaced per transaction.
const VISITOR_BATCH: i64 = 200;
/// Search texts cleared per statement.
const TEXT_BATCH: i64 = 5_000;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct RetentionReport {
    pub visitors_pseudonymised: usize,
    pub search_texts_deleted: usize,
    pub view_keys_deleted: usize,
    /// Logins that expired more than 30 days ago, and failed logins older
    /// than a day (the throttle looks back minutes).
    pub expired_logins_deleted: usize,
}

/// The id that replaces `visitor`'s. The visitor's first event is part of
/// the hash: a visitor who comes back after being replaced, and goes quiet
/// again, gets a second pseudonym rather than colliding with the first.
pub fn pseudonym(ctx: &Context, visitor: &str, first_event: i64) -> String {
    format!("{PSEUDONYM_PREFIX}{}", ctx.pseudonyms.digest(&[visitor.as_bytes(), &first_event.to_be_bytes()]))
}

pub fn run(conn: &mut DbConn, ctx: &Context) -> ApiResult<RetentionReport> {
    let rules = ctx.rules(conn)?.retention.clone();
    let now = ctx.clock.now();
    let mut report = RetentionReport {
        visitors_pseudonymised: pseudonymise_quiet_visitors(
            conn,
            ctx,
            now - chrono::Duration::days(i64::from(rules.visitor_id_days)),
        )?,
        ..RetentionReport::default()
    };
    let text_cutoff = now - chrono::Duration::days(i64::from(rules.search_text_days));
    report.search_texts_deleted = write_transaction(conn, |conn| -> ApiResult<usize> {
        Ok(store::delete_search_text(conn, text_cutoff, TEXT_BATCH)?)
    })?;
    let yesterday = (now - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    report.view_keys_deleted = write_transaction(conn, |conn| -> ApiResult<usize> {
        // Events' keyed addresses only serve their own day's limits.
        store::clear_address_keys_before(conn, (now - chrono::Duration::days(2)).and_utc().timestamp())?;
        Ok(crate::store::views::delete_before(conn, &yesterday)?)
    })?;
    report.expired_logins_deleted = write_transaction(conn, |conn| -> ApiResult<usize> {
        let sessions = crate::store::refresh_tokens::delete_expired_before(conn, now - chrono::Duration::days(30))?;
        let failures = crate::store::login_failures::delete_before(conn, now - chrono::Duration::days(1))?;
        Ok(sessions + failures)
    })?;
    Ok(report)
}

fn pseudonymise_quiet_visitors(conn: &mut DbConn, ctx: &Context, cutoff: NaiveDateTime) -> ApiResult<usize> {
    let cutoff_epoch = cutoff.and_utc().timestamp();
    let mut replaced = 0;
    loop {
        let visitors = store::quiet_visitors(conn, cutoff_epoch, VISITOR_BATCH)?;
        if visitors.is_empty() {
            return Ok(replaced);
        }
        let done = write_transaction(conn, |conn| -> ApiResult<usize> {
            let mut done = 0;
            for visitor in &visitors {
                // Under the visitor's lock, so no event of theirs is being
                // stored meanwhile; one that arrived since is a reason to wait.
                deflection::lock_visitor(conn, visitor)?;
                let (first, last) = store::event_span(conn, visitor)?;
                let (Some(first), Some(last)) = (first, last) else { continue };
                if last >= cutoff_epoch {
                    continue;
                }
                store::replace_visitor(conn, visitor, &pseudonym(ctx, visitor, first))?;
                done += 1;
            }
            Ok(done)
        })?;
        replaced += done;
        if done == 0 {
            // Every one of them came back meanwhile; the next run sees them.
            return Ok(replaced);
        }
    }
}

#[derive(Default)]
struct Signal {
    stop: AtomicBool,
    wake: Mutex<bool>,
    condvar: Condvar,
}

/// Runs retention on this node once a day (the first a minute after start).
pub struct Keeper {
    signal: Arc<Signal>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

const FIRST_RUN_AFTER: Duration = Duration::from_secs(60);
const EVERY: Duration = Duration::from_secs(24 * 60 * 60);

impl Keeper {
    pub fn start(pool: DbPool, ctx: Context) -> Keeper {
        let signal = Arc::new(Signal::default());
        let worker_signal = signal.clone();
        let thread =
            std::thread::Builder::new().name("retention".into()).spawn(move || keep(&pool, &ctx, &worker_signal)).ok();
        Keeper { signal, thread: Mutex::new(thread) }
    }

    pub fn stop(&self) {
        self.signal.stop.store(true, Ordering::SeqCst);
        if let Ok(mut woken) = self.signal.wake.lock() {
            *woken = true;
            self.signal.condvar.notify_all();
        }
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}

fn keep(pool: &DbPool, ctx: &Context, signal: &Signal) {
    let mut next = Instant::now() + FIRST_RUN_AFTER;
    while !signal.stop.load(Ordering::SeqCst) {
        let wait = next.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            if let Ok(guard) = signal.wake.lock() {
                let _ = signal.condvar.wait_timeout_while(guard, wait, |woken| !*woken);
            }
            continue;
        }
        next = Instant::now() + EVERY;
        let outcome = pool.get().map_err(crate::error::ApiError::from).and_then(|mut conn| run(&mut conn, ctx));
        match outcome {
            Ok(report) => tracing::info!(?report, "retention applied"),
            Err(e) => tracing::warn!(error = %e, "retention failed; retrying in a day"),
        }
    }
}
