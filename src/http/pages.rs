//! The front door's static pages and the contact-form widget: the files of
//! `web/`, compiled into the binary (no build step, no files to deploy),
//! served with one helper that sets the security and caching headers.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// No inline script, no eval, nothing from another host: the pages and the
/// widget's own files load only from this origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// Who may load a file from another site.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Embedding {
    /// The widget's script and stylesheet, loaded by the council's site.
    CrossOrigin,
    /// Agora's own pages and what they load.
    SameOrigin,
}

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    embedding: Embedding,
    cache_control: &'static str,
    etag: LazyLock<String>,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "application/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
/// Pages change with each release and are small: always revalidate.
const REVALIDATE: &str = "no-cache";
/// The widget is pasted into councils' sites; a short lifetime lets a fix
/// reach them within minutes, and the ETag makes the check cheap.
const SHORT: &str = "public, max-age=300";

macro_rules! asset {
    ($name:literal, $content_type:expr, $embedding:expr, $cache:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../web/", $name)),
            embedding: $embedding,
            cache_control: $cache,
            etag: LazyLock::new(|| etag_of(include_bytes!(concat!("../../web/", $name)))),
        }
    };
}

pub static WIDGET_JS: Asset = asset!("widget.js", JS, Embedding::CrossOrigin, SHORT);
pub static WIDGET_CSS: Asset = asset!("widget.css", CSS, Embedding::CrossOrigin, SHORT);
pub static WIDGET_DEMO: Asset = asset!("widget-demo.html", HTML, Embedding::SameOrigin, REVALIDATE);
pub static QUESTION_PAGE: Asset = asset!("question.html", HTML, Embedding::SameOrigin, REVALIDATE);

/// What `/assets/{name}` serves: the files the pages load.
static ASSETS: [Asset; 3] = [
    asset!("agora.css", CSS, Embedding::SameOrigin, SHORT),
    asset!("demo.js", JS, Embedding::SameOrigin, SHORT),
    asset!("question.js", JS, Embedding::SameOrigin, SHORT),
];

/// A strong validator: the first 128 bits of the body's SHA-256.
fn etag_of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// True when `If-None-Match` names the current version (or `*`).
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    let Some(value) = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// Serves an embedded file with its headers, or a 304 when the client has
/// this version already.
pub fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let etag = asset.etag.as_str();
    let mut response = if not_modified(req, etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok().content_type(asset.content_type).body(asset.body)
    };
    let corp = match asset.embedding {
        Embedding::CrossOrigin => "cross-origin",
        Embedding::SameOrigin => "same-origin",
    };
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (header::HeaderName::from_static("cross-origin-resource-policy"), corp),
        (header::CACHE_CONTROL, asset.cache_control),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// GET /widget.js
pub async fn widget_js(req: HttpRequest) -> HttpResponse {
    serve(&req, &WIDGET_JS)
}

/// GET /widget.css
pub async fn widget_css(req: HttpRequest) -> HttpResponse {
    serve(&req, &WIDGET_CSS)
}

/// GET /widget/demo: a council's contact form with the widget in it.
pub async fn widget_demo(req: HttpRequest) -> HttpResponse {
    serve(&req, &WIDGET_DEMO)
}

/// GET /questions/{id}: the page suggestions link to. The page itself is
/// the same for every question; its script reads the question from the
/// API, so a missing question is said on the page.
pub async fn question(req: HttpRequest, id: web::Path<String>) -> ApiResult<HttpResponse> {
    if !id.parse::<i64>().is_ok_and(|id| id > 0) {
        return Err(ApiError::NotFound("no such question".to_owned()));
    }
    Ok(serve(&req, &QUESTION_PAGE))
}

/// GET /assets/{name}
pub async fn asset(req: HttpRequest, name: web::Path<String>) -> ApiResult<HttpResponse> {
    match ASSETS.iter().find(|a| a.name == name.as_str()) {
        Some(asset) => Ok(serve(&req, asset)),
        None => Err(ApiError::NotFound(format!("no asset named {}", name.as_str()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_and_follow_the_content() {
        let a = etag_of(b"one");
        assert_eq!(a.len(), 34);
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert_ne!(a, etag_of(b"two"));
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let etag = "\"abc\"";
        let with = |value: &str| {
            actix_web::test::TestRequest::default().insert_header((header::IF_NONE_MATCH, value)).to_http_request()
        };
        assert!(not_modified(&with("\"abc\""), etag));
        assert!(not_modified(&with("\"x\", W/\"abc\""), etag));
        assert!(not_modified(&with("*"), etag));
        assert!(!not_modified(&with("\"x\""), etag));
        assert!(!not_modified(&actix_web::test::TestRequest::default().to_http_request(), etag));
    }
}
