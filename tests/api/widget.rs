//! The contact-form widget and the pages, as HTTP sees them: types, the
//! security and caching headers, the size budget, and what the demo page
//! loads. The widget's behaviour in a browser is tests/browser.

use std::io::Write;

use super::helpers::{TestResponse, spawn_app};

/// The widget a council embeds must stay small (the issue's budget).
const WIDGET_GZIP_BUDGET: usize = 15 * 1024;

fn gzipped_len(bytes: &[u8]) -> usize {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap().len()
}

#[track_caller]
fn assert_hardened(response: &TestResponse, content_type: &str, corp: &str) {
    response.assert_status(200);
    assert_eq!(response.header("content-type"), Some(content_type));
    let csp = response.header("content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(response.header("cross-origin-resource-policy"), Some(corp));
    assert!(response.header("cache-control").is_some());
    assert!(response.header("etag").is_some_and(|e| e.starts_with('"')));
}

#[test]
fn pages_and_files_carry_their_types_and_security_headers() {
    let app = spawn_app();
    let js = "application/javascript; charset=utf-8";
    let css = "text/css; charset=utf-8";
    let html = "text/html; charset=utf-8";
    assert_hardened(&app.get("/widget.js").send(), js, "cross-origin");
    assert_hardened(&app.get("/widget.css").send(), css, "cross-origin");
    assert_hardened(&app.get("/widget/demo").send(), html, "same-origin");
    assert_hardened(&app.get("/questions/1").send(), html, "same-origin");
    assert_hardened(&app.get("/assets/agora.css").send(), css, "same-origin");
    assert_hardened(&app.get("/assets/demo.js").send(), js, "same-origin");
    assert_hardened(&app.get("/assets/question.js").send(), js, "same-origin");
    for page in ["/", "/docs", "/dashboard", "/account/verify?token=x"] {
        assert_hardened(&app.get(page).send(), html, "same-origin");
    }
    for (asset, content_type) in [
        ("dashboard.js", js),
        ("docs.js", js),
        ("swagger-ui-bundle.js", js),
        ("uPlot.iife.min.js", js),
        ("swagger-ui.css", css),
        ("uPlot.min.css", css),
    ] {
        assert_hardened(&app.get(&format!("/assets/{asset}")).send(), content_type, "same-origin");
    }
}

#[test]
fn large_files_are_gzipped_for_clients_that_take_it() {
    use std::io::Read;
    let app = spawn_app();
    let plain = app.get("/assets/swagger-ui-bundle.js").send();
    assert_eq!(plain.header("content-encoding"), None, "no gzip unless asked");
    assert!(plain.header("vary").is_some_and(|v| v.contains("Accept-Encoding")), "caches keep both encodings apart");
    let zipped = app.get("/assets/swagger-ui-bundle.js").header("Accept-Encoding", "gzip, br").send();
    zipped.assert_status(200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_ne!(zipped.header("etag"), plain.header("etag"), "each encoding has its own validator");
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(zipped.bytes.as_slice()).read_to_string(&mut unzipped).unwrap();
    assert_eq!(unzipped, plain.text, "the same file");
    assert!(zipped.bytes.len() * 3 < plain.text.len(), "{} bytes gzipped", zipped.bytes.len());
    let etag = zipped.header("etag").unwrap().to_owned();
    let again =
        app.get("/assets/swagger-ui-bundle.js").header("Accept-Encoding", "gzip").header("If-None-Match", &etag);
    again.send().assert_status(304);
    let refused = app.get("/assets/swagger-ui-bundle.js").header("Accept-Encoding", "gzip;q=0").send();
    assert_eq!(refused.header("content-encoding"), None);
}

#[test]
fn the_landing_page_lists_no_demo_logins_outside_demo_mode() {
    let app = spawn_app();
    let landing = app.get("/").send();
    for link in ["href=\"/docs\"", "href=\"/dashboard\"", "href=\"/widget/demo\"", "href=\"/metrics\""] {
        assert!(landing.text.contains(link), "the landing page lacks {link}");
    }
    assert!(!landing.text.contains("demo-password"), "no demo logins on a real node");
    assert!(!landing.text.contains("<!-- demo-logins -->"), "the placeholder is not sent");
}

#[test]
fn a_current_etag_gets_a_304_without_a_body() {
    let app = spawn_app();
    let first = app.get("/widget.js").send();
    let etag = first.header("etag").unwrap().to_owned();
    let again = app.get("/widget.js").header("If-None-Match", &etag).send();
    again.assert_status(304);
    assert!(again.text.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(again.header("cross-origin-resource-policy"), Some("cross-origin"));
    app.get("/widget.js").header("If-None-Match", "\"stale\"").send().assert_status(200);
    let other = app.get("/widget.css").send();
    assert_ne!(other.header("etag"), Some(etag.as_str()), "each file has its own version");
}

#[test]
fn unknown_files_and_bad_question_ids_are_problems() {
    let app = spawn_app();
    app.get("/assets/nothing.js").send().assert_problem(404, "not_found");
    app.get("/assets/..%2Fwidget.js").send().assert_problem(404, "not_found");
    app.get("/questions/abc").send().assert_problem(404, "not_found");
    app.get("/questions/0").send().assert_problem(404, "not_found");
    app.get("/questions/-3").send().assert_problem(404, "not_found");
    app.get("/account/nothing").send().assert_problem(404, "not_found");
    let wrong_method = app.call("POST", "/widget.js").send();
    wrong_method.assert_problem(405, "method_not_allowed");
}

#[test]
fn the_widget_fits_its_size_budget() {
    let app = spawn_app();
    let script = app.get("/widget.js").send();
    let style = app.get("/widget.css").send();
    let size = gzipped_len(script.text.as_bytes()) + gzipped_len(style.text.as_bytes());
    assert!(size <= WIDGET_GZIP_BUDGET, "widget.js + widget.css are {size} bytes gzipped");
}

#[test]
fn the_widget_uses_no_eval_and_writes_no_markup() {
    let app = spawn_app();
    let script = app.get("/widget.js").send().text.clone();
    for banned in
        ["eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "document.cookie"]
    {
        assert!(!script.contains(banned), "widget.js uses {banned}");
    }
    let question = app.get("/assets/question.js").send().text.clone();
    assert!(!question.contains("innerHTML"), "question.js writes markup");
}

/// `src="…"` and `href="…"` values of a page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for (start, _) in html.match_indices(attribute) {
            let rest = &html[start + attribute.len()..];
            found.push(rest[..rest.find('"').unwrap()].to_owned());
        }
    }
    found
}

/// An `on…=` attribute (onclick, onload, …) anywhere in the markup.
fn has_inline_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(i, _)| {
        let name: String = html[i + 3..].chars().take_while(char::is_ascii_alphabetic).collect();
        !name.is_empty() && html[i + 3 + name.len()..].starts_with('=')
    })
}

#[test]
fn the_pages_load_only_same_origin_files_and_no_inline_script() {
    let app = spawn_app();
    for page in ["/widget/demo", "/questions/1", "/", "/docs", "/dashboard", "/account/reset"] {
        let html = app.get(page).send().text.clone();
        let refs = references(&html);
        assert!(!refs.is_empty(), "{page} loads nothing?");
        // `data:,` is the empty icon that spares a request for /favicon.ico.
        for reference in refs.iter().filter(|r| *r != "data:,") {
            assert!(reference.starts_with('/') && !reference.starts_with("//"), "{page} loads {reference}");
            app.get(reference).send().assert_status(200);
        }
        assert!(!html.contains("<script>") && !html.contains(" style="), "{page} has inline script or style");
        assert!(!has_inline_handler(&html), "{page} has an inline event handler");
    }
    let demo = app.get("/widget/demo").send().text.clone();
    assert!(demo.contains("data-agora-textarea=\"#message\"") && demo.contains("data-agora-form=\"#contact\""));
}
