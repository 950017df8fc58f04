//! The webhook sender: one thread per node claims due deliveries, builds
//! and signs each body, POSTs it outside any transaction and records the
//! attempt. Endpoints are served side by side, each one's deliveries in
//! order, so a slow receiver holds up only itself.
//!
//! Delivery is at least once: a node killed between the POST and the
//! record sends it again when its lease lapses, under the same
//! `webhook-id`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use super::events::{self, Body};
use super::transport::{Client, Response, signature};
use crate::error::ApiResult;
use crate::service::Context;
use crate::service::delivery::{self, Runner, Signal};
use crate::service::mail::{self, MailKind, WebhookDisabledPayload};
use crate::store::notifications::NotificationInsertForm;
use crate::store::webhooks::{AttemptInsertForm, Delivery, DeliveryOutcome, Endpoint};
use crate::store::{self, DbConn, DbPool, write_transaction};

/// Deliveries claimed per pass. With one endpoint timing out on every
/// attempt the pass still ends well inside the lease: a timeout defers the
/// rest of that endpoint's batch.
const BATCH: i64 = 40;
/// Endpoints served at once.
const PARALLEL_ENDPOINTS: usize = 4;
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// What the sender did since the process started (for /metrics).
#[derive(Debug, Default)]
pub struct WebhookStats {
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub abandoned: AtomicU64,
}

/// The running sender of this node.
pub struct WebhookSender {
    runner: Runner,
    pub stats: Arc<WebhookStats>,
}

impl WebhookSender {
    /// Starts the thread on its own `pool` (a connection per endpoint
    /// served at once, held only between attempts).
    pub fn start(pool: DbPool, ctx: Context) -> WebhookSender {
        let stats = Arc::new(WebhookStats::default());
        let poll = Duration::from_millis(ctx.config.webhooks.poll_ms.max(5));
        let client = Client::new(&ctx.config.webhooks);
        let worker = Worker { pool, ctx, client, stats: stats.clone() };
        let mut last_prune = Instant::now();
        let runner = Runner::start("webhook-sender", poll, move |signal| {
            let claimed = worker.pass(signal).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "webhook sender pass failed; retrying");
                0
            });
            if last_prune.elapsed() >= PRUNE_EVERY {
                last_prune = Instant::now();
                if let Err(e) = worker.prune() {
                    tracing::warn!(error = %e, "pruning the webhook log failed");
                }
            }
            claimed >= BATCH as usize
        });
        WebhookSender { runner, stats }
    }

    /// Looks for due deliveries now rather than at the next poll.
    pub fn wake(&self) {
        self.runner.wake();
    }

    /// Stops after the attempts in hand; what is left stays queued.
    pub fn stop(&self) {
        self.runner.stop();
    }
}

struct Worker {
    pool: DbPool,
    ctx: Context,
    client: Client,
    stats: Arc<WebhookStats>,
}

/// Whether the rest of an endpoint's batch should be tried now.
enum Next {
    Continue,
    /// The receiver could not be reached: the rest waits until then.
    Defer(NaiveDateTime),
    /// The endpoint is disabled: the rest was abandoned with it.
    Stop,
}

impl Worker {
    /// Claims a batch of due deliveries and attempts them; returns how many.
    fn pass(&self, signal: &Signal) -> ApiResult<usize> {
        let now = self.ctx.now();
        let (claimed, endpoints, bodies) = {
            let mut conn = self.pool.get()?;
            let claimed = write_transaction(&mut conn, |conn| {
                store::webhooks::claim_due(conn, now, now + delivery::LEASE, BATCH)
            })?;
            let mut ids: Vec<i64> = claimed.iter().map(|d| d.endpoint_id).collect();
            ids.sort_unstable();
            ids.dedup();
            let endpoints = store::webhooks::endpoints_by_id(&mut conn, &ids)?;
            let bodies = self.bodies(&mut conn, &claimed);
            (claimed, endpoints, bodies)
        };
        let mut by_endpoint: Vec<(Endpoint, Vec<Delivery>)> = Vec::new();
        let index: HashMap<i64, usize> = endpoints.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
        let mut groups: HashMap<i64, Vec<Delivery>> = HashMap::new();
        for d in &claimed {
            groups.entry(d.endpoint_id).or_default().push(d.clone());
        }
        for (endpoint_id, deliveries) in groups {
            // An endpoint deleted since the claim took its deliveries along.
            if let Some(&i) = index.get(&endpoint_id) {
                by_endpoint.push((endpoints[i].clone(), deliveries));
            }
        }
        for chunk in by_endpoint.chunks(PARALLEL_ENDPOINTS) {
            std::thread::scope(|scope| {
                for (endpoint, deliveries) in chunk {
                    let bodies = &bodies;
                    scope.spawn(move || self.serve(endpoint, deliveries, bodies, signal));
                }
            });
        }
        Ok(claimed.len())
    }

    /// Each event's body, built once however many endpoints hear it (they
    /// share the `webhook-id`, so the same event reads the same to all).
    fn bodies(&self, conn: &mut DbConn, claimed: &[Delivery]) -> HashMap<String, Body> {
        let mut bodies = HashMap::new();
        for d in claimed {
            if bodies.contains_key(&d.message_id) {
                continue;
            }
            match events::body(conn, &self.ctx, d) {
                Ok(body) => {
                    bodies.insert(d.message_id.clone(), body);
                }
                Err(e) => {
                    tracing::warn!(delivery_id = d.id, error = %e, "webhook body failed to build; its lease will lapse")
                }
            }
        }
        bodies
    }

    /// One endpoint's deliveries, in order. Outcomes are recorded together
    /// at the end (one write for the batch, not one per attempt: the
    /// sender must not queue the residents' writes behind its own), except
    /// when an answer changes what happens to the rest.
    fn serve(&self, endpoint: &Endpoint, deliveries: &[Delivery], bodies: &HashMap<String, Body>, signal: &Signal) {
        let mut answered: Vec<(&Delivery, Response)> = Vec::new();
        for (i, d) in deliveries.iter().enumerate() {
            if signal.stopping() {
                self.record_all(endpoint, &answered);
                // Back in the queue now, rather than when the lease lapses.
                let rest: Vec<i64> = deliveries[i..].iter().map(|d| d.id).collect();
                self.release(&rest, self.ctx.now());
                return;
            }
            let Some(body) = bodies.get(&d.message_id) else { continue };
            let response = match self.send(endpoint, d, body) {
                Ok(Some(response)) => response,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(delivery_id = d.id, error = %e, "webhook delivery failed; its lease will lapse");
                    continue;
                }
            };
            let decisive = response.status.is_none() || response.status == Some(410);
            answered.push((d, response));
            if !decisive {
                continue;
            }
            match self.record_all(endpoint, &answered) {
                Next::Continue => answered.clear(),
                Next::Defer(at) => {
                    let rest: Vec<i64> = deliveries[i + 1..].iter().map(|d| d.id).collect();
                    self.release(&rest, at);
                    return;
                }
                Next::Stop => return,
            }
        }
        self.record_all(endpoint, &answered);
    }

    /// Records a batch of attempts in one transaction; says what the rest
    /// of the endpoint's batch should do.
    fn record_all(&self, endpoint: &Endpoint, answered: &[(&Delivery, Response)]) -> Next {
        if answered.is_empty() {
            return Next::Continue;
        }
        let recorded = self.pool.get().map_err(Into::into).and_then(|mut conn| {
            write_transaction(&mut conn, |conn| -> ApiResult<Next> {
                let mut next = Next::Continue;
                for (d, response) in answered {
                    next = match (self.record(conn, endpoint, d, response)?, next) {
                        (_, Next::Stop) | (Next::Stop, _) => Next::Stop,
                        (Next::Defer(at), _) => Next::Defer(at),
                        (Next::Continue, kept) => kept,
                    };
                }
                Ok(next)
            })
        });
        recorded.unwrap_or_else(|e| {
            tracing::warn!(endpoint_id = endpoint.id, error = %e, "webhook outcomes failed to record; their leases will lapse");
            Next::Continue
        })
    }

    fn release(&self, ids: &[i64], at: NaiveDateTime) {
        if ids.is_empty() {
            return;
        }
        let released = self.pool.get().map_err(Into::into).and_then(|mut conn| -> ApiResult<()> {
            Ok(write_transaction(&mut conn, |conn| store::webhooks::release(conn, ids, at))?)
        });
        if let Err(e) = released {
            tracing::warn!(error = %e, "releasing webhook deliveries failed; their lease will lapse");
        }
    }

    /// Builds, signs and POSTs a delivery; `None` when it was not sent (and
    /// that is recorded already).
    fn send(&self, endpoint: &Endpoint, d: &Delivery, body: &Body) -> ApiResult<Option<Response>> {
        let now = self.ctx.now();
        if !endpoint.enabled {
            self.finish_unsent(d, "abandoned: the endpoint is disabled", now)?;
            return Ok(None);
        }
        let body = match body {
            Body::Send(body) => body,
            Body::NotSent(reason) => {
                tracing::info!(delivery_id = d.id, event = %d.event_type, reason = %reason, "webhook not sent");
                self.finish_unsent(d, reason, now)?;
                return Ok(None);
            }
        };
        let timestamp = now.and_utc().timestamp();
        let headers = [
            ("webhook-id", d.message_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signatures(endpoint, &d.message_id, timestamp, body, now)),
        ];
        Ok(Some(self.client.post(&endpoint.url, &headers, body)))
    }

    fn finish_unsent(&self, d: &Delivery, reason: &str, now: NaiveDateTime) -> ApiResult<()> {
        self.stats.abandoned.fetch_add(1, Ordering::Relaxed);
        let outcome = DeliveryOutcome {
            status: "abandoned",
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            response_status: d.response_status,
            duration_ms: d.duration_ms,
            last_error: Some(reason),
            at: now,
        };
        let mut conn = self.pool.get()?;
        write_transaction(&mut conn, |conn| Ok(store::webhooks::record_outcome(conn, d.id, &outcome)?))
    }

    /// Records the attempt and what follows from it (inside the batch's
    /// transaction).
    fn record(&self, conn: &mut DbConn, endpoint: &Endpoint, d: &Delivery, response: &Response) -> ApiResult<Next> {
        let now = self.ctx.now();
        let settings = &self.ctx.config.webhooks;
        let attempts = d.attempts + 1;
        let succeeded = response.status.is_some_and(|s| (200..300).contains(&s));
        let gone = response.status == Some(410);
        let error = match (response.status, &response.error) {
            (_, Some(error)) => Some(error.clone()),
            (Some(status), None) if !succeeded => Some(format!("the receiver answered {status}")),
            _ => None,
        };
        store::webhooks::insert_attempt(
            conn,
            &AttemptInsertForm {
                delivery_id: d.id,
                attempted_at: now,
                succeeded,
                response_status: response.status.map(i32::from),
                duration_ms: response.duration_ms,
                response_body: response.excerpt.as_deref(),
                error: error.as_deref(),
            },
        )?;
        let mut outcome = DeliveryOutcome {
            status: "succeeded",
            attempts,
            next_attempt_at: now,
            response_status: response.status.map(i32::from),
            duration_ms: Some(response.duration_ms),
            last_error: error.as_deref(),
            at: now,
        };
        if succeeded {
            self.stats.succeeded.fetch_add(1, Ordering::Relaxed);
            store::webhooks::record_outcome(conn, d.id, &outcome)?;
            store::webhooks::note_success(conn, endpoint.id)?;
            return Ok(Next::Continue);
        }
        if gone {
            self.stats.abandoned.fetch_add(1, Ordering::Relaxed);
            outcome.status = "abandoned";
            store::webhooks::record_outcome(conn, d.id, &outcome)?;
            self.disable(conn, endpoint, "the receiver answered 410 Gone", now)?;
            return Ok(Next::Stop);
        }
        let next = delivery::next_scheduled(now, attempts, &settings.retry_schedule_ms);
        match next {
            Some(at) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                outcome.status = "failed";
                outcome.next_attempt_at = at;
            }
            None => {
                self.stats.abandoned.fetch_add(1, Ordering::Relaxed);
                outcome.status = "abandoned";
            }
        }
        store::webhooks::record_outcome(conn, d.id, &outcome)?;
        let failing_since = store::webhooks::note_failure(conn, endpoint.id, now)?.unwrap_or(now);
        let disable_after = chrono::Duration::seconds(settings.disable_after_secs as i64);
        if now - failing_since >= disable_after {
            let since = crate::clock::rfc3339::format(&failing_since);
            self.disable(conn, endpoint, &format!("every attempt failed since {since}"), now)?;
            return Ok(Next::Stop);
        }
        Ok(match (response.status, next) {
            (None, Some(at)) => Next::Defer(at),
            _ => Next::Continue,
        })
    }

    /// Disables the endpoint and tells every admin, in the inbox and by
    /// mail (to their address, verified or not: it is an operations alert).
    fn disable(&self, conn: &mut DbConn, endpoint: &Endpoint, reason: &str, now: NaiveDateTime) -> ApiResult<()> {
        if !store::webhooks::disable(conn, endpoint.id, reason, now)? {
            return Ok(());
        }
        tracing::warn!(endpoint_id = endpoint.id, reason = %reason, "webhook endpoint disabled");
        let alert =
            WebhookDisabledPayload { endpoint_id: endpoint.id, url: endpoint.url.clone(), reason: reason.to_owned() };
        for (admin_id, email) in store::users::with_role(conn, crate::domain::Role::Admin)? {
            let notification_id = store::notifications::insert(
                conn,
                &NotificationInsertForm {
                    user_id: admin_id,
                    kind: "webhook_disabled",
                    question_id: None,
                    answer_id: None,
                    comment_id: None,
                    actor_id: None,
                    created_at: now,
                },
            )?;
            mail::enqueue(conn, admin_id, MailKind::WebhookDisabled, Some(&email), Some(notification_id), &alert, now)?;
        }
        Ok(())
    }

    fn prune(&self) -> ApiResult<()> {
        let before = self.ctx.now() - chrono::Duration::days(i64::from(self.ctx.config.webhooks.log_days));
        let mut conn = self.pool.get()?;
        let pruned = write_transaction(&mut conn, |conn| store::webhooks::prune(conn, before))?;
        if pruned > 0 {
            tracing::info!(pruned, "old webhook deliveries pruned");
        }
        Ok(())
    }
}

/// The `webhook-signature` header: the current secret's signature, and
/// during a rotation the previous secret's too (receivers accept either).
fn signatures(endpoint: &Endpoint, message_id: &str, timestamp: i64, body: &str, now: NaiveDateTime) -> String {
    let mut header = signature(&endpoint.secret, message_id, timestamp, body);
    if let (Some(previous), Some(until)) = (&endpoint.previous_secret, endpoint.previous_secret_expires_at)
        && until > now
    {
        header.push(' ');
        header.push_str(&signature(previous, message_id, timestamp, body));
    }
    header
}
