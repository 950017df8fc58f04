//! Operations endpoints: liveness, readiness, metrics and the API
//! description.

use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::metrics::{IndexLag, MailState, ScrapeState, WebhookState};
use crate::service::health;

/// The spec, compiled in so the served document always matches the build.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database takes writes and the index is usable. A load balancer
/// stops sending traffic to a node that says no.
pub async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let probe = state.db(health::database_writable).await;
    if probe.is_err() {
        return Err(ApiError::Unavailable("the database is not reachable or does not take writes".to_owned()));
    }
    if !state.search.is_ready() {
        return Err(ApiError::Unavailable("the search index is being built".to_owned()));
    }
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": "ok", "index": "ok"})))
}

/// Prometheus text exposition. The scrape's own database probe is the
/// indexer-lag query; when it fails the metrics still render, with
/// `agora_database_up 0`.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let position = state.search.status.position.load(Ordering::Relaxed);
    let now = state.ctx.clock.now();
    let lag = state
        .db(move |conn| health::index_lag(conn, position, now))
        .await
        .ok()
        .map(|(entries, seconds)| IndexLag { entries, seconds });
    let mail_queue = state.db(move |conn| health::mail_queue(conn, now)).await.ok();
    let stats = &state.mail.stats;
    let mail = MailState {
        queue: mail_queue,
        sent: stats.sent.load(Ordering::Relaxed),
        failed: stats.failed.load(Ordering::Relaxed),
        dropped: stats.dropped.load(Ordering::Relaxed),
    };
    let webhook_queue = state.db(move |conn| crate::service::webhooks::queue(conn, now)).await.ok();
    let stats = &state.webhooks.stats;
    let webhooks = WebhookState {
        queue: webhook_queue,
        succeeded: stats.succeeded.load(Ordering::Relaxed),
        failed: stats.failed.load(Ordering::Relaxed),
        abandoned: stats.abandoned.load(Ordering::Relaxed),
    };
    let pool = state.pool.state();
    let (read_cache_bytes, read_cache_entries) = state.reads.size();
    let scrape = ScrapeState {
        pool_max: state.pool.max_size(),
        pool_open: pool.connections,
        pool_idle: pool.idle_connections,
        queries: state.queries.get(),
        index_ready: state.search.is_ready(),
        index_lag: lag,
        read_cache_bytes,
        read_cache_entries,
        mail,
        webhooks,
    };
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render(&scrape))
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml; charset=utf-8").body(OPENAPI_YAML)
}
