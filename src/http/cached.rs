//! Hot reads served from the read cache (`service::read_cache`), keyed by
//! the request's path and query. A handler looks up first and, on a miss,
//! answers through the slot it got, which keeps the serialized response.

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;

pub enum Lookup {
    Hit(HttpResponse),
    Miss(Slot),
}

/// Where a freshly made response goes; `key` is `None` when the request
/// must not be cached.
pub struct Slot {
    key: Option<String>,
    stamp: u64,
}

impl Slot {
    /// A request whose response depends on the caller (or records
    /// something): made afresh and not kept.
    pub fn bypass() -> Slot {
        Slot { key: None, stamp: 0 }
    }

    /// 200 with `value` as JSON, kept for the next caller.
    pub fn respond<T: Serialize>(self, state: &AppState, value: &T) -> ApiResult<HttpResponse> {
        Ok(json_response(self.keep(state, value)?))
    }

    /// `value` as JSON, kept for the next caller.
    pub fn keep<T: Serialize>(self, state: &AppState, value: &T) -> ApiResult<web::Bytes> {
        let body = web::Bytes::from(serde_json::to_vec(value).map_err(ApiError::internal)?);
        if let Some(key) = self.key {
            let weight = body.len();
            state.reads.insert(key, self.stamp, body.clone(), weight);
        }
        Ok(body)
    }
}

/// The cached response for `req`, or the slot to answer it through; a
/// request that is not `cacheable` (its response depends on the caller, or
/// it records something) gets a slot that keeps nothing. The stamp is
/// taken before the handler reads anything.
pub fn lookup(state: &AppState, req: &HttpRequest, cacheable: bool) -> Lookup {
    if !cacheable || !state.reads.enabled() {
        return Lookup::Miss(Slot::bypass());
    }
    let key = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or_else(|| req.path()).to_owned();
    let stamp = state.reads.stamp();
    match state.reads.get(&key) {
        Some(body) => {
            state.metrics.record_read_cache(true);
            Lookup::Hit(json_response(body))
        }
        None => {
            state.metrics.record_read_cache(false);
            Lookup::Miss(Slot { key: Some(key), stamp })
        }
    }
}

/// The cached JSON under `key`, a part of responses that is the same for
/// every caller although the whole response is not (a contact form's
/// suggestions, beside its own arm), or the slot to keep it through. Keys
/// of parts never start with `/`, so they cannot meet a path.
pub fn part(state: &AppState, key: String) -> Result<web::Bytes, Slot> {
    debug_assert!(!key.starts_with('/'));
    if !state.reads.enabled() {
        return Err(Slot::bypass());
    }
    let stamp = state.reads.stamp();
    let found = state.reads.get(&key);
    state.metrics.record_read_cache(found.is_some());
    found.ok_or(Slot { key: Some(key), stamp })
}

/// 200 with `body`, which is JSON.
pub fn json(body: impl Into<web::Bytes>) -> HttpResponse {
    json_response(body.into())
}

/// Drops what is cached for a path (a change the stamp does not see).
pub fn forget(state: &AppState, path: &str) {
    state.reads.remove(path);
}

fn json_response(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json"))).body(body)
}
