//! What every request handler can reach: the services' [`Context`] and the
//! parts only the HTTP layer has (the pool and its blocking pool, the
//! search side, the read cache, rate limits, metrics).

use std::sync::Arc;

use actix_web::web;

use super::ratelimit::RateLimiter;
use super::read_cache::ReadCache;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;
use crate::service::Context;
use crate::service::mail::sender::MailSender;
use crate::service::search::Search;
use crate::service::settings::SiteSettings;
use crate::store::{DbConn, DbPool, QueryCounter};

pub struct AppState {
    /// What services are given (clock, configuration, rules, keys).
    pub ctx: Context,
    pub pool: DbPool,
    /// The pool of hot reads that never write ([`AppState::read`]): on
    /// SQLite its own, smaller one; on PostgreSQL the same as `pool`.
    pub readers: DbPool,
    pub queries: QueryCounter,
    pub search: Search,
    /// Serialized responses of hot reads that do not depend on the caller.
    pub reads: ReadCache<web::Bytes>,
    pub rate_limiter: RateLimiter,
    pub metrics: Metrics,
    /// This node's mail sender.
    pub mail: MailSender,
    /// This node's webhook sender.
    pub webhooks: crate::service::webhooks::sender::WebhookSender,
    /// This node's Open311 worker.
    pub escalations: crate::service::escalation::worker::EscalationWorker,
    /// This node's page views, written once a second.
    pub views: crate::service::community::views::ViewCounter,
    /// This node's daily retention pass.
    pub retention: crate::service::privacy::retention::Keeper,
    /// GET /, rendered at start (with the demo logins in demo mode).
    pub landing: super::pages::Landing,
}

/// The rules without taking a database connection unless the cached copy
/// is stale (for hot paths such as search).
pub async fn current_rules(state: &web::Data<AppState>) -> ApiResult<Arc<SiteSettings>> {
    if let Some(rules) = state.ctx.site.fresh() {
        return Ok(rules);
    }
    let st = state.clone();
    state.db(move |conn| st.ctx.rules(conn)).await
}

impl AppState {
    /// Runs blocking database work on actix's blocking pool with a pooled
    /// connection. A pool timeout becomes a 503.
    pub async fn db<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        on_blocking_pool(self.pool.clone(), work).await
    }

    /// [`AppState::db`] for work that only reads: a page, a list, a
    /// profile. It runs on the readers' pool, where no writer waiting for
    /// its turn holds a connection.
    pub async fn read<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        on_blocking_pool(self.readers.clone(), work).await
    }
}

async fn on_blocking_pool<T, F>(pool: DbPool, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    web::block(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await
    .map_err(ApiError::from)?
}
