//! Rate limits: token buckets per client address (and per user for writes)
//! on logins, writes, deflection events and search. Limited routes carry
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a request
//! over the limit gets 429 with `Retry-After`.
//!
//! On PostgreSQL the buckets live in the shared database
//! (`rate_limit_buckets`, one statement per check), so several nodes behind
//! a load balancer allow the limit, not the limit times the nodes. On
//! SQLite (one node) they live in memory. Should the shared check fail
//! (the database is down), the node falls back to its own buckets: the
//! request meets the database's 503 soon enough.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError, web};

use crate::config::{Limit, RateLimits};
use crate::domain::Role;
use crate::error::ApiError;
use crate::http::state::AppState;
use crate::service::rate_limits;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Class {
    Auth,
    WriteUser,
    WriteIp,
    Events,
    Search,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// What a check decided, and the header values to send.
#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the bucket is full again (or, when refused, until one
    /// more request is allowed).
    pub reset_secs: u64,
}

type Buckets = HashMap<(Class, String), Bucket>;

pub struct RateLimiter {
    pub(crate) limits: RateLimits,
    /// The buckets, and when idle ones were last swept.
    buckets: Mutex<(Buckets, Instant)>,
    /// Buckets in the shared database (PostgreSQL) rather than in memory.
    shared: bool,
    /// Seconds after `born` of the last sweep of the shared buckets.
    last_shared_sweep: AtomicU64,
    born: Instant,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter {
            limits,
            buckets: Mutex::new((HashMap::new(), Instant::now())),
            shared: false,
            last_shared_sweep: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// Buckets shared by every node through the database.
    pub fn shared(mut self, shared: bool) -> RateLimiter {
        self.shared = shared;
        self
    }

    /// Whether this request should also sweep idle shared buckets (once a
    /// minute per node).
    fn due_for_sweep(&self, now: Instant) -> bool {
        let secs = now.duration_since(self.born).as_secs();
        let last = self.last_shared_sweep.load(Ordering::Relaxed);
        secs >= last + 60
            && self.last_shared_sweep.compare_exchange(last, secs, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    fn limit_of(&self, class: Class) -> Limit {
        match class {
            Class::Auth => self.limits.auth,
            Class::WriteUser => self.limits.write_per_user,
            Class::WriteIp => self.limits.write_per_ip,
            Class::Events => self.limits.events,
            Class::Search => self.limits.search,
        }
    }

    /// What a bucket's state after a take means: remaining tokens and when
    /// the bucket is full again, or, refused, when one more is allowed.
    /// The same for buckets in memory and in the shared database.
    fn decide(limit: Limit, allowed: bool, tokens: f64) -> Decision {
        let capacity = f64::from(limit.burst.max(1));
        let rate = f64::from(limit.per_minute.max(1)) / 60.0;
        if allowed {
            let reset = ((capacity - tokens) / rate).ceil().max(0.0) as u64;
            Decision { allowed, limit: limit.burst, remaining: tokens.max(0.0).floor() as u32, reset_secs: reset }
        } else {
            let wait = ((1.0 - tokens) / rate).ceil().max(1.0) as u64;
            Decision { allowed, limit: limit.burst, remaining: 0, reset_secs: wait }
        }
    }

    fn check(&self, class: Class, key: &str, now: Instant) -> Decision {
        let limit = self.limit_of(class);
        let capacity = f64::from(limit.burst.max(1));
        let rate = f64::from(limit.per_minute.max(1)) / 60.0;
        let Ok(mut guard) = self.buckets.lock() else {
            return Decision { allowed: true, limit: limit.burst, remaining: 0, reset_secs: 0 };
        };
        let (buckets, swept) = &mut *guard;
        // Forget idle clients now and then so memory stays bounded.
        if now.duration_since(*swept) > Duration::from_secs(60) {
            buckets.retain(|_, b| now.duration_since(b.updated) < Duration::from_secs(600));
            *swept = now;
        }
        let bucket = buckets.entry((class, key.to_owned())).or_insert(Bucket { tokens: capacity, updated: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * rate).min(capacity);
        bucket.updated = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        Self::decide(limit, allowed, bucket.tokens)
    }
}

/// The classes a request counts against, with their keys.
fn classify(req: &ServiceRequest, state: &AppState) -> Vec<(Class, String)> {
    let path = req.path();
    if !path.starts_with("/api/v1/") {
        return Vec::new();
    }
    let ip = super::extract::client_ip(req.request(), state.ctx.config.trust_forwarded_for);
    let method = req.method();
    let is_read = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    match (is_read, path) {
        (
            false,
            "/api/v1/auth/login"
            | "/api/v1/auth/register"
            | "/api/v1/auth/refresh"
            | "/api/v1/auth/password-reset"
            | "/api/v1/auth/password-reset/confirm"
            | "/api/v1/auth/verify-email"
            | "/api/v1/unsubscribe",
        ) => vec![(Class::Auth, ip)],
        (false, "/api/v1/events") => vec![(Class::Events, ip)],
        (true, "/api/v1/search" | "/api/v1/questions/similar") => vec![(Class::Search, ip)],
        (true, _) => Vec::new(),
        (false, _) => {
            let mut classes = vec![(Class::WriteIp, ip)];
            if let Some((user_id, roles)) = token_subject(req, state)
                && !roles.contains(&Role::Admin)
            {
                classes.push((Class::WriteUser, user_id.to_string()));
            }
            classes
        }
    }
}

/// The user a (correctly signed, unexpired) bearer token names. Revocation
/// is the handler's business; this only keys the bucket.
fn token_subject(req: &ServiceRequest, state: &AppState) -> Option<(i64, Vec<Role>)> {
    let header = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
    let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer "))?;
    let claims = state.ctx.tokens.verify(token.trim(), state.ctx.clock.now_utc()).ok()?;
    Some((claims.sub.parse().ok()?, claims.roles))
}

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

fn set_headers(headers: &mut HeaderMap, decision: &Decision) {
    headers.insert(LIMIT, HeaderValue::from(decision.limit));
    headers.insert(REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(RESET, HeaderValue::from(decision.reset_secs));
}

/// The middleware: checks every bucket the request counts against and
/// reports the tightest.
pub async fn limit_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    if !state.rate_limiter.limits.enabled {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let now = Instant::now();
    let classes = classify(&req, &state);
    let decisions = if state.rate_limiter.shared && !classes.is_empty() {
        shared_decisions(&state, &classes, now).await
    } else {
        None
    };
    let decisions: Vec<Decision> = decisions.unwrap_or_else(|| {
        classes.into_iter().map(|(class, key)| state.rate_limiter.check(class, &key, now)).collect()
    });
    let Some(tightest) = decisions.iter().min_by_key(|d| (d.allowed, d.remaining)).copied() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    if !tightest.allowed {
        let error = ApiError::RateLimited {
            retry_after_secs: tightest.reset_secs,
            detail: "too many requests; slow down".to_owned(),
        };
        let mut response = error.error_response();
        set_headers(response.headers_mut(), &tightest);
        return Ok(req.into_response(response).map_into_right_body());
    }
    let mut response = next.call(req).await?;
    set_headers(response.headers_mut(), &tightest);
    Ok(response.map_into_left_body())
}

/// The request's buckets checked in the shared database; `None` when the
/// database could not be asked.
async fn shared_decisions(
    state: &web::Data<AppState>,
    classes: &[(Class, String)],
    now: Instant,
) -> Option<Vec<Decision>> {
    let limiter = &state.rate_limiter;
    let checks: Vec<(String, Limit)> =
        classes.iter().map(|(class, key)| (format!("{class:?}:{key}"), limiter.limit_of(*class))).collect();
    let sweep = limiter.due_for_sweep(now);
    let outcome = state
        .db(move |conn| {
            if sweep {
                rate_limits::sweep_shared(conn)?;
            }
            checks
                .into_iter()
                .map(|(bucket, limit)| {
                    let capacity = f64::from(limit.burst.max(1));
                    let rate = f64::from(limit.per_minute.max(1)) / 60.0;
                    let (allowed, tokens) = rate_limits::take_shared(conn, &bucket, capacity, rate)?;
                    Ok(RateLimiter::decide(limit, allowed, tokens))
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await;
    match outcome {
        Ok(decisions) => Some(decisions),
        Err(e) => {
            tracing::warn!(error = %e, "shared rate limits unavailable; using this node's");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_a_burst_then_the_rate() {
        let limiter =
            RateLimiter::new(RateLimits { search: Limit { per_minute: 60, burst: 3 }, ..RateLimits::default() });
        let start = Instant::now();
        for remaining in [2, 1, 0] {
            let d = limiter.check(Class::Search, "ip", start);
            assert!(d.allowed);
            assert_eq!(d.remaining, remaining);
        }
        let refused = limiter.check(Class::Search, "ip", start);
        assert!(!refused.allowed);
        assert_eq!(refused.reset_secs, 1);
        assert!(limiter.check(Class::Search, "other ip", start).allowed, "buckets are per key");
        assert!(limiter.check(Class::Search, "ip", start + Duration::from_millis(1100)).allowed, "one token a second");
    }
}
