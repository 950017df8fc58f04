//! The account pages mail links open by default (`/account/verify`,
//! `/account/reset`, `/account/unsubscribe`): static HTML with one
//! same-origin script, embedded in the binary, under a Content-Security-
//! Policy that allows no inline script and no other host. They call the
//! JSON API like any frontend.
//!
//! Kept apart from the other pages on purpose, so it folds into the
//! general page serving (`pages.rs`) in one move when that lands.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// (path, content type, body) of every asset.
const ASSETS: [(&str, &str, &str); 5] = [
    ("/account/verify", "text/html; charset=utf-8", include_str!("../../web/account/verify.html")),
    ("/account/reset", "text/html; charset=utf-8", include_str!("../../web/account/reset.html")),
    ("/account/unsubscribe", "text/html; charset=utf-8", include_str!("../../web/account/unsubscribe.html")),
    ("/account/account.js", "text/javascript; charset=utf-8", include_str!("../../web/account/account.js")),
    ("/account/account.css", "text/css; charset=utf-8", include_str!("../../web/account/account.css")),
];

/// Registers every asset (GET only).
pub fn configure(cfg: &mut web::ServiceConfig) {
    for (path, content_type, body) in ASSETS {
        cfg.route(path, web::get().to(move || serve(content_type, body)));
    }
}

async fn serve(content_type: &'static str, body: &'static str) -> HttpResponse {
    // The pages carry tokens in their URL: no caching, no referrer.
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}
