//! Request context: a request id on every response (echoed when the client
//! sent a sane one), a tracing span carrying it, and one access-log line.
//! Headers and bodies are never logged, so tokens and passwords are not.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, web};
use tracing::Instrument;

use crate::http::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!("request", request_id = %request_id, method = %req.method(), path = %req.path());
    let started = Instant::now();
    let mut response = next.call(req).instrument(span.clone()).await?;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(state) = response.request().app_data::<web::Data<AppState>>() {
        let method = response.request().method();
        state.metrics.record_request(method.as_str(), route.clone(), status, elapsed);
        if !method.is_safe() && !LEAVES_READS_ALONE.contains(&route.as_str()) {
            // After the handler, so after its transaction committed.
            state.reads.note_write();
        }
    }
    span.in_scope(|| {
        tracing::info!(status, route = %route, elapsed_ms = elapsed * 1000.0, "handled");
    });
    Ok(response)
}

/// Writes that change nothing a cached read shows (the read cache is
/// otherwise stale after any write: a new route is safe by default).
const LEAVES_READS_ALONE: [&str; 6] = [
    "/api/v1/events",
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/me/notifications/read",
];

/// Client-chosen ids end up in logs: keep them short and printable.
fn is_sane_request_id(value: &str) -> bool {
    (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_bounded() {
        assert!(super::is_sane_request_id("abc-123"));
        assert!(!super::is_sane_request_id(""));
        assert!(!super::is_sane_request_id("a b"));
        assert!(!super::is_sane_request_id(&"a".repeat(129)));
    }
}
