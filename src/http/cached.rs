//! Hot reads served from the read cache (`service::read_cache`), keyed by
//! the request's path and query. A handler looks up first and, on a miss,
//! answers through the slot it got, which keeps the serialized response.

use std::sync::Arc;

use actix_web::http::header::{CONTENT_TYPE, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::community::questions::QuestionDetail;
use crate::store::deflection::QuestionFacts;

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
        let body = web::Bytes::from(serde_json::to_vec(value).map_err(ApiError::internal)?);
        if let Some(key) = self.key {
            let weight = body.len();
            state.reads.insert(key, self.stamp, body.clone(), weight);
        }
        Ok(json_response(body))
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

fn json_response(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json"))).body(body)
}

/// A question page as anonymous readers see it, in its own cache
/// (`AppState::pages`, keyed by question id). Its view count moves with
/// every counted view, which the stamp does not see: the page is kept as
/// the bytes either side of the count, and each response writes in the
/// stored count plus this node's views not written yet. When the view
/// writer raises a question's stored count, it raises the cached page's by
/// as much (dropping the page instead emptied the cache every second under
/// steady views). So a counted view is served from the cache like any other
/// read, instead of dropping the page for the next reader. A page read
/// from the database while a flush commits may keep a count off by that
/// flush's views of it, for at most the cache's time to live.
pub struct CachedPage {
    head: web::Bytes,
    tail: web::Bytes,
    stored_views: i64,
    /// What a counted view records about the question.
    pub facts: QuestionFacts,
}

/// The key that starts the count in a serialized page. A string value can
/// hold these bytes only escaped (`\"view_count\":`), so the first match is
/// the page's own field, which comes before the answers and comments.
const VIEW_COUNT_KEY: &[u8] = b"\"view_count\":";

impl CachedPage {
    /// `page.view_count` must be the stored count, without pending views.
    pub fn of(page: &QuestionDetail) -> ApiResult<CachedPage> {
        let body = serde_json::to_vec(page).map_err(ApiError::internal)?;
        let (at, end) =
            count_span(&body).ok_or_else(|| ApiError::internal("a question page without its view count"))?;
        let body = web::Bytes::from(body);
        Ok(CachedPage {
            head: body.slice(..at),
            tail: body.slice(end..),
            stored_views: page.view_count,
            facts: page.facts(),
        })
    }

    /// 200 with the page, its count the stored one plus `pending`.
    pub fn respond(&self, pending: i64) -> HttpResponse {
        let count = (self.stored_views + pending).to_string();
        let mut body = Vec::with_capacity(self.head.len() + count.len() + self.tail.len());
        body.extend_from_slice(&self.head);
        body.extend_from_slice(count.as_bytes());
        body.extend_from_slice(&self.tail);
        json_response(web::Bytes::from(body))
    }

    /// The same page after the view writer raised its stored count.
    pub fn with_stored_views_added(&self, views: i64) -> CachedPage {
        CachedPage {
            head: self.head.clone(),
            tail: self.tail.clone(),
            stored_views: self.stored_views + views,
            facts: self.facts.clone(),
        }
    }

    fn weight(&self) -> usize {
        self.head.len() + self.tail.len() + 64
    }
}

/// Where the first count's digits start and end.
fn count_span(body: &[u8]) -> Option<(usize, usize)> {
    let at = body.windows(VIEW_COUNT_KEY.len()).position(|w| w == VIEW_COUNT_KEY)? + VIEW_COUNT_KEY.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit() || **b == b'-').count();
    (digits > 0).then_some((at, at + digits))
}

/// The cached page of question `id`, or the stamp to keep a fresh one with.
pub fn page(state: &AppState, id: i64) -> Result<Arc<CachedPage>, u64> {
    let stamp = state.pages.stamp();
    if !state.pages.enabled() {
        return Err(stamp);
    }
    match state.pages.get(&id.to_string()) {
        Some(page) => {
            state.metrics.record_read_cache(true);
            Ok(page)
        }
        None => {
            state.metrics.record_read_cache(false);
            Err(stamp)
        }
    }
}

/// Keeps a page read after `stamp` was taken.
pub fn keep_page(state: &AppState, id: i64, stamp: u64, page: Arc<CachedPage>) {
    let weight = page.weight();
    state.pages.insert(id.to_string(), stamp, page, weight);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_found_after_text_that_imitates_it() {
        let head = br#"{"id":1,"title":"x\"view_count\":7 \"view_count\": 9","view_count":"#;
        let body = [&head[..], b"41", br#","status":"open","answers":[{"view_count":3}]}"#].concat();
        assert_eq!(count_span(&body), Some((head.len(), head.len() + 2)));
        assert_eq!(count_span(br#"{"title":"\"view_count\":5"}"#), None);
    }
}
