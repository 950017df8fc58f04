//! The sender: one thread per node that claims due mail, composes it, hands
//! it over outside any transaction and records the outcome. It also runs
//! the digest pass and prunes old outbox rows now and then.
//!
//! Delivery is at least once: a node killed between the hand-over and the
//! record sends that mail again when its lease lapses, under the same
//! `Message-ID`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use super::compose::{self, Prepared};
use super::digest;
use super::transport::Transport;
use crate::error::ApiResult;
use crate::service::Context;
use crate::service::delivery::{self, Outcome, Runner, Signal};
use crate::store::mail::OutboxMail;
use crate::store::{self, DbPool, write_transaction};

/// Mails claimed per pass.
const BATCH: i64 = 50;
/// Sent, failed and dropped rows are kept this long for inspection.
const RETENTION_DAYS: i64 = 30;
/// How often the housekeeping (digests, pruning) runs unless configured.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// What the sender did since the process started (for /metrics).
#[derive(Debug, Default)]
pub struct SenderStats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    pub retried: AtomicU64,
}

/// The running sender of this node.
pub struct MailSender {
    runner: Runner,
    pub stats: Arc<SenderStats>,
}

impl MailSender {
    /// Starts the thread. `pool` should be the sender's own (it holds a
    /// connection only between hand-overs, never during one).
    pub fn start(pool: DbPool, ctx: Context, transport: Transport) -> MailSender {
        let stats = Arc::new(SenderStats::default());
        tracing::info!(to = %transport.describe(), "mail sender started");
        let poll = Duration::from_millis(ctx.config.mail.poll_ms.max(5));
        let housekeeping_every = match ctx.config.mail.housekeeping_secs {
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
            None => Some(HOUSEKEEPING_EVERY),
        };
        let worker = Worker { pool, ctx, transport, stats: stats.clone() };
        let mut last_housekeeping = Instant::now();
        let mut digests = digest::Cursor::default();
        let mut housekeeping_underway = false;
        let runner = Runner::start("mail-sender", poll, move |signal| {
            let claimed = worker.pass(signal).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "mail sender pass failed; retrying");
                0
            });
            let mut more = claimed >= BATCH as usize;
            if let Some(every) = housekeeping_every
                && (housekeeping_underway || last_housekeeping.elapsed() >= every)
            {
                if !housekeeping_underway {
                    last_housekeeping = Instant::now();
                }
                match worker.housekeeping(&mut digests) {
                    // The next step follows at once, after the mail due by then.
                    Ok(step) => {
                        housekeeping_underway = !step.finished;
                        more |= housekeeping_underway || step.enqueued > 0;
                    }
                    Err(e) => {
                        housekeeping_underway = false;
                        tracing::warn!(error = %e, "mail housekeeping failed");
                    }
                }
            }
            more
        });
        MailSender { runner, stats }
    }

    /// Looks for due mail now rather than at the next poll.
    pub fn wake(&self) {
        self.runner.wake();
    }

    /// Stops after the mail in hand; what is left stays queued.
    pub fn stop(&self) {
        self.runner.stop();
    }
}

struct Worker {
    pool: DbPool,
    ctx: Context,
    transport: Transport,
    stats: Arc<SenderStats>,
}

impl Worker {
    /// Claims a batch of due mail and delivers it; returns how many.
    fn pass(&self, signal: &Signal) -> ApiResult<usize> {
        let now = self.ctx.now();
        let claimed = {
            let mut conn = self.pool.get()?;
            write_transaction(&mut conn, |conn| store::mail::claim_due(conn, now, now + delivery::LEASE, BATCH))?
        };
        for mail in &claimed {
            if signal.stopping() {
                // Left claimed: its lease lapses and a sender takes it again.
                break;
            }
            self.deliver(mail)?;
        }
        Ok(claimed.len())
    }

    fn deliver(&self, mail: &OutboxMail) -> ApiResult<()> {
        let prepared = {
            let mut conn = self.pool.get()?;
            compose::prepare(&mut conn, &self.ctx, mail)
        };
        let (outcome, address) = match prepared {
            Ok(Prepared::Mail { message, address }) => {
                (self.transport.send(&message, &format!("{:08}-{}.eml", mail.id, mail.kind)), Some(address))
            }
            Ok(Prepared::Drop(reason)) => (Outcome::Dropped(reason), None),
            Err(e) => (Outcome::Temporary(format!("composing: {e}")), None),
        };
        self.record(mail, outcome, address.as_deref())
    }

    fn record(&self, mail: &OutboxMail, outcome: Outcome, address: Option<&str>) -> ApiResult<()> {
        let now = self.ctx.now();
        let mut conn = self.pool.get()?;
        write_transaction(&mut conn, |conn| -> ApiResult<()> {
            match &outcome {
                Outcome::Delivered => {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    store::mail::finish(conn, mail.id, "sent", None, now)?;
                }
                Outcome::Dropped(reason) => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(mail_id = mail.id, kind = %mail.kind, reason = %reason, "mail dropped");
                    store::mail::finish(conn, mail.id, "dropped", Some(reason), now)?;
                }
                Outcome::Permanent(reason) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(mail_id = mail.id, user_id = mail.user_id, reason = %reason, "mail refused for good; address marked undeliverable");
                    store::mail::finish(conn, mail.id, "failed", Some(reason), now)?;
                    if let Some(address) = address {
                        store::mail::mark_undeliverable(conn, mail.user_id, address, now)?;
                    }
                }
                Outcome::Temporary(reason) => self.retry_or_give_up(conn, mail, reason, now)?,
            }
            Ok(())
        })
    }

    fn retry_or_give_up(
        &self,
        conn: &mut store::DbConn,
        mail: &OutboxMail,
        reason: &str,
        now: NaiveDateTime,
    ) -> ApiResult<()> {
        let mail_settings = &self.ctx.config.mail;
        if delivery::exhausted(mail.attempts, mail_settings.max_attempts) {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(mail_id = mail.id, attempts = mail.attempts, reason = %reason, "mail given up");
            store::mail::finish(conn, mail.id, "failed", Some(reason), now)?;
            return Ok(());
        }
        self.stats.retried.fetch_add(1, Ordering::Relaxed);
        let base = chrono::Duration::milliseconds(mail_settings.retry_ms as i64);
        let at = delivery::next_attempt(now, mail.attempts, base);
        tracing::info!(mail_id = mail.id, attempts = mail.attempts, reason = %reason, "mail delayed; will retry");
        store::mail::retry_at(conn, mail.id, at, reason)?;
        Ok(())
    }

    /// Takes the next step of the digest pass and, once it is finished,
    /// prunes.
    fn housekeeping(&self, digests: &mut digest::Cursor) -> ApiResult<digest::Step> {
        let mut conn = self.pool.get()?;
        let step = digest::step(&mut conn, &self.ctx, digests, digest::USERS_PER_STEP)?;
        if step.enqueued > 0 {
            tracing::info!(digests = step.enqueued, "digests enqueued");
        }
        if !step.finished {
            return Ok(step);
        }
        let now = self.ctx.now();
        write_transaction(&mut conn, |conn| -> ApiResult<()> {
            store::mail::prune_finished(conn, now - chrono::Duration::days(RETENTION_DAYS))?;
            store::mail::delete_tokens_before(conn, now - chrono::Duration::days(1))?;
            Ok(())
        })?;
        Ok(step)
    }
}
