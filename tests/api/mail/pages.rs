//! The account pages mail links open by default.

use crate::helpers::spawn_app;

#[test]
fn account_pages_are_plain_html_under_a_strict_policy() {
    let app = spawn_app();
    for path in ["/account/verify?token=abc", "/account/reset?token=abc", "/account/unsubscribe?token=abc"] {
        let page = app.get(path).send();
        page.assert_status(200);
        assert!(page.header("content-type").unwrap().starts_with("text/html"));
        let csp = page.header("content-security-policy").unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.header("referrer-policy"), Some("no-referrer"), "the URL carries a token");
        // One same-origin script, no inline code or handlers.
        assert_eq!(page.text.matches("<script").count(), 1);
        assert!(page.text.contains(r#"<script src="/assets/account.js" defer></script>"#));
        for handler in ["onclick=", "onload=", "onsubmit=", "onerror=", "javascript:"] {
            assert!(!page.text.contains(handler), "{path}: {handler}");
        }
        assert!(page.text.contains("role=\"status\""), "results are announced to screen readers");
    }
    let script = app.get("/assets/account.js").send();
    script.assert_status(200);
    assert!(script.header("content-type").unwrap().starts_with("application/javascript"));
    assert!(!script.text.contains("http://") && !script.text.contains("https://"), "no other host");
    app.get("/assets/account.css").send().assert_status(200);
    app.call("POST", "/account/verify").send().assert_status(405);
    app.get("/account/nothing").send().assert_problem(404, "not_found");
}
