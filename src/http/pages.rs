//! The front door's pages (landing, API docs, dashboard, account pages, the
//! question page) and the contact-form widget: the files of `web/`,
//! compiled into the binary (no build step, no files to deploy), served
//! with one helper that sets the security, caching and encoding headers.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

use super::state::AppState;
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
    embedding: Embedding,
    cache_control: &'static str,
    encoded: LazyLock<Encoded>,
}

/// A body as sent: as is, and gzipped when that saves bytes (the vendored
/// libraries are 2 MB as is, a quarter of that gzipped), each with its own
/// strong validator.
pub struct Encoded {
    identity: web::Bytes,
    etag: String,
    gzip: Option<(web::Bytes, String)>,
}

impl Encoded {
    pub fn new(body: impl Into<web::Bytes>) -> Self {
        let identity: web::Bytes = body.into();
        let etag = etag_of(&identity);
        let gzip = (identity.len() > GZIP_FROM_BYTES).then(|| gzip(&identity)).flatten().map(|zipped| {
            let etag = format!("{}-gzip\"", etag.trim_end_matches('"'));
            (web::Bytes::from(zipped), etag)
        });
        Encoded { identity, etag, gzip }
    }
}

/// Smaller bodies gain too little from compression to be worth a header.
const GZIP_FROM_BYTES: usize = 1024;

fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body).ok()?;
    let zipped = encoder.finish().ok()?;
    (zipped.len() < body.len()).then_some(zipped)
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "application/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
/// Pages change with each release and are small: always revalidate.
const REVALIDATE: &str = "no-cache";
/// The widget is pasted into councils' sites; a short lifetime lets a fix
/// reach them within minutes, and the ETag makes the check cheap.
const SHORT: &str = "public, max-age=300";
/// The account pages carry a token in their URL: kept nowhere.
const NO_STORE: &str = "no-store";

macro_rules! asset {
    ($name:literal, $file:literal, $content_type:expr, $embedding:expr, $cache:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            embedding: $embedding,
            cache_control: $cache,
            encoded: LazyLock::new(|| Encoded::new(&include_bytes!(concat!("../../web/", $file))[..])),
        }
    };
    ($name:literal, $content_type:expr, $embedding:expr, $cache:expr) => {
        asset!($name, $name, $content_type, $embedding, $cache)
    };
}

pub static WIDGET_JS: Asset = asset!("widget.js", JS, Embedding::CrossOrigin, SHORT);
pub static WIDGET_CSS: Asset = asset!("widget.css", CSS, Embedding::CrossOrigin, SHORT);
pub static WIDGET_DEMO: Asset = asset!("widget-demo.html", HTML, Embedding::SameOrigin, REVALIDATE);
pub static QUESTION_PAGE: Asset = asset!("question.html", HTML, Embedding::SameOrigin, REVALIDATE);
static DOCS_PAGE: Asset = asset!("docs.html", HTML, Embedding::SameOrigin, REVALIDATE);
static DASHBOARD_PAGE: Asset = asset!("dashboard.html", HTML, Embedding::SameOrigin, REVALIDATE);
static LANDING_PAGE: Asset = asset!("index.html", HTML, Embedding::SameOrigin, REVALIDATE);
static ACCOUNT_PAGES: [Asset; 3] = [
    asset!("verify", "account/verify.html", HTML, Embedding::SameOrigin, NO_STORE),
    asset!("reset", "account/reset.html", HTML, Embedding::SameOrigin, NO_STORE),
    asset!("unsubscribe", "account/unsubscribe.html", HTML, Embedding::SameOrigin, NO_STORE),
];

/// What `/assets/{name}` serves: the files the pages load, ours and the
/// vendored libraries' (web/vendor, with their licences).
static ASSETS: [Asset; 13] = [
    asset!("agora.css", CSS, Embedding::SameOrigin, SHORT),
    asset!("demo.js", JS, Embedding::SameOrigin, SHORT),
    asset!("question.js", JS, Embedding::SameOrigin, SHORT),
    asset!("account.js", "account/account.js", JS, Embedding::SameOrigin, SHORT),
    asset!("account.css", "account/account.css", CSS, Embedding::SameOrigin, SHORT),
    asset!("docs.js", JS, Embedding::SameOrigin, SHORT),
    asset!("docs.css", CSS, Embedding::SameOrigin, SHORT),
    asset!("dashboard.js", JS, Embedding::SameOrigin, SHORT),
    asset!("dashboard.css", CSS, Embedding::SameOrigin, SHORT),
    asset!("swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui-bundle.js", JS, Embedding::SameOrigin, SHORT),
    asset!("swagger-ui.css", "vendor/swagger-ui/swagger-ui.css", CSS, Embedding::SameOrigin, SHORT),
    asset!("uPlot.iife.min.js", "vendor/uplot/uPlot.iife.min.js", JS, Embedding::SameOrigin, SHORT),
    asset!("uPlot.min.css", "vendor/uplot/uPlot.min.css", CSS, Embedding::SameOrigin, SHORT),
];

/// Hashes and gzips every file on a thread of its own, so no request waits
/// on an actix worker while the 2 MB of vendored libraries are compressed.
pub fn prepare_in_background() {
    let spawned = std::thread::Builder::new().name("pages".to_owned()).spawn(|| {
        let pages = [&WIDGET_JS, &WIDGET_CSS, &WIDGET_DEMO, &QUESTION_PAGE, &DOCS_PAGE, &DASHBOARD_PAGE];
        for asset in pages.into_iter().chain(&ACCOUNT_PAGES).chain(&ASSETS) {
            LazyLock::force(&asset.encoded);
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not prepare the pages ahead; they are prepared on first request");
    }
}

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

/// True when the client takes gzip (`Accept-Encoding`, not with `q=0`).
fn accepts_gzip(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused = parts.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0)));
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

/// Serves an embedded file with its headers, or a 304 when the client has
/// this version already.
pub fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    respond(req, asset, &asset.encoded)
}

/// Serves `body` with the headers `asset` stands for.
fn respond(req: &HttpRequest, asset: &Asset, body: &Encoded) -> HttpResponse {
    let (bytes, etag, gzipped) = match &body.gzip {
        Some((zipped, etag)) if accepts_gzip(req) => (zipped, etag.as_str(), true),
        _ => (&body.identity, body.etag.as_str(), false),
    };
    let mut response = if not_modified(req, etag) {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok().content_type(asset.content_type).body(bytes.clone())
    };
    let corp = match asset.embedding {
        Embedding::CrossOrigin => "cross-origin",
        Embedding::SameOrigin => "same-origin",
    };
    // A page whose URL holds a token must not hand it on as a referrer.
    let referrer = if asset.cache_control == NO_STORE { "no-referrer" } else { "strict-origin-when-cross-origin" };
    let headers = response.headers_mut();
    let fixed = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, referrer),
        (header::HeaderName::from_static("cross-origin-resource-policy"), corp),
        (header::CACHE_CONTROL, asset.cache_control),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if body.gzip.is_some() {
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// The landing page as this node serves it: in demo mode it lists the
/// demo logins, rendered once at start.
pub struct Landing(Encoded);

impl Landing {
    /// `demo_logins`: (role, username, password) of the demo accounts.
    pub fn new(demo_logins: Option<&[(&str, &str, &str)]>) -> Self {
        let page = std::str::from_utf8(LANDING_PAGE.encoded.identity.as_ref()).unwrap_or_default();
        let logins = demo_logins.map(demo_logins_html).unwrap_or_default();
        Landing(Encoded::new(page.replace("<!-- demo-logins -->", &logins)))
    }
}

impl Default for Landing {
    fn default() -> Self {
        Landing::new(None)
    }
}

fn demo_logins_html(logins: &[(&str, &str, &str)]) -> String {
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let rows: String = logins
        .iter()
        .map(|(role, username, password)| {
            format!(
                "<tr><th scope=\"row\">{}</th><td><code>{}</code></td><td><code>{}</code></td></tr>",
                escape(role),
                escape(username),
                escape(password)
            )
        })
        .collect();
    format!(
        "<section aria-labelledby=\"demo-logins\"><h2 id=\"demo-logins\">Demo logins</h2>\
         <p>This node runs the demo community (<code>serve --demo</code>). Sign in with these, as seeded:</p>\
         <table><caption class=\"visually-hidden\">Demo accounts</caption><thead><tr><th scope=\"col\">Role</th>\
         <th scope=\"col\">Username</th><th scope=\"col\">Password</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )
}

/// GET /: what this node is and where everything is.
pub async fn landing(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    respond(&req, &LANDING_PAGE, &state.landing.0)
}

/// GET /docs: the API reference, rendered from `/openapi.yaml`.
pub async fn docs(req: HttpRequest) -> HttpResponse {
    serve(&req, &DOCS_PAGE)
}

/// GET /dashboard: the deflection dashboard (analysts and admins sign in
/// on the page; its script calls the deflection API).
pub async fn dashboard(req: HttpRequest) -> HttpResponse {
    serve(&req, &DASHBOARD_PAGE)
}

/// GET /account/{page}: the pages mail links open (verify, reset,
/// unsubscribe); their script reads the token from the URL.
pub async fn account(req: HttpRequest, page: web::Path<String>) -> ApiResult<HttpResponse> {
    match ACCOUNT_PAGES.iter().find(|a| a.name == page.as_str()) {
        Some(asset) => Ok(serve(&req, asset)),
        None => Err(ApiError::NotFound(format!("no account page named {}", page.as_str()))),
    }
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

    #[test]
    fn gzip_is_taken_unless_refused() {
        let with = |value: &str| {
            actix_web::test::TestRequest::default().insert_header((header::ACCEPT_ENCODING, value)).to_http_request()
        };
        assert!(accepts_gzip(&with("gzip, deflate, br")));
        assert!(accepts_gzip(&with("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&with("*")));
        assert!(!accepts_gzip(&with("gzip;q=0")));
        assert!(!accepts_gzip(&with("br, identity")));
        assert!(!accepts_gzip(&actix_web::test::TestRequest::default().to_http_request()));
    }

    #[test]
    fn large_bodies_are_gzipped_under_their_own_validator() {
        use std::io::Read;
        let body = "let answer = 42;\n".repeat(200);
        let encoded = Encoded::new(body.clone());
        let (zipped, etag) = encoded.gzip.as_ref().expect("a repetitive body compresses");
        assert_ne!(etag, &encoded.etag);
        assert!(etag.starts_with('"') && etag.ends_with("-gzip\""));
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(zipped.as_ref()).read_to_string(&mut unzipped).unwrap();
        assert_eq!(unzipped, body);
        assert!(Encoded::new("tiny").gzip.is_none());
    }

    #[test]
    fn demo_logins_are_escaped_into_the_landing_page() {
        let landing = Landing::new(Some(&[("admin", "council-admin", "<pass&word>")]));
        let html = std::str::from_utf8(&landing.0.identity).unwrap();
        assert!(html.contains("<code>council-admin</code>"));
        assert!(html.contains("&lt;pass&amp;word&gt;"));
        let plain = Landing::default();
        assert!(!std::str::from_utf8(&plain.0.identity).unwrap().contains("Demo logins"));
    }
}
