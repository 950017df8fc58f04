//! What every request handler can reach.

use std::sync::Arc;

use actix_web::web;

use crate::clock::Clock;
use crate::config::Settings;
use crate::error::{ApiError, ApiResult};
use crate::http::ratelimit::RateLimiter;
use crate::metrics::Metrics;
use crate::service::pagination::CursorCodec;
use crate::service::read_cache::ReadCache;
use crate::service::search::Search;
use crate::service::settings::{SettingsCache, SiteSettings};
use crate::service::tokens::TokenKeys;
use crate::store::{DbConn, DbPool, QueryCounter};

pub struct AppState {
    pub pool: DbPool,
    pub queries: QueryCounter,
    pub clock: Clock,
    pub tokens: TokenKeys,
    pub cursors: CursorCodec,
    pub settings: Arc<Settings>,
    /// The community's rules (the `settings` table), cached briefly.
    pub site: SettingsCache,
    pub search: Search,
    /// Serialized responses of hot reads that do not depend on the caller.
    pub reads: ReadCache<web::Bytes>,
    pub rate_limiter: RateLimiter,
    pub metrics: Metrics,
}

/// The rules without taking a database connection unless the cached copy
/// is stale (for hot paths such as search).
pub async fn current_rules(state: &web::Data<AppState>) -> ApiResult<Arc<SiteSettings>> {
    if let Some(rules) = state.site.fresh() {
        return Ok(rules);
    }
    let st = state.clone();
    state.db(move |conn| st.rules(conn)).await
}

impl AppState {
    /// The community's current rules (reputation points, privileges…).
    pub fn rules(&self, conn: &mut DbConn) -> ApiResult<Arc<SiteSettings>> {
        self.site.get(conn)
    }

    /// Runs blocking database work on actix's blocking pool with a pooled
    /// connection. A pool timeout becomes a 503.
    pub async fn db<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConn) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await
        .map_err(ApiError::from)?
    }
}
