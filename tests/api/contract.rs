//! The API contract every route shares: the spec matches the routes, errors
//! are problems, request ids, limits, CORS and the operations endpoints.

use serde_json::{Value, json};

use super::helpers::{TestApp, spawn_app, spawn_app_with};
use super::spec;

#[test]
fn spec_lists_exactly_the_served_routes() {
    let served: std::collections::BTreeSet<(String, String)> = agora::http::served_routes().into_iter().collect();
    let documented = spec::documented_routes();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but not in openapi.yaml: {missing:?}");
    assert!(extra.is_empty(), "in openapi.yaml but not served: {extra:?}");
}

#[test]
fn spec_lists_exactly_the_error_codes() {
    let codes: std::collections::BTreeSet<String> =
        agora::error::ErrorCode::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    assert_eq!(codes, spec::documented_error_codes());
}

#[test]
fn operations_endpoints_answer() {
    let app = spawn_app();
    assert_eq!(app.get("/healthz").send().assert_status(200).json()["status"], "ok");
    assert_eq!(app.get("/readyz").send().assert_status(200).json()["database"], "ok");
    let spec = app.get("/openapi.yaml").send();
    spec.assert_status(200);
    assert!(spec.text.starts_with("openapi: 3.1"));
    assert_eq!(spec.text, agora::http::ops::OPENAPI_YAML);
}

#[test]
fn unknown_routes_and_methods_are_problems() {
    let app = spawn_app();
    app.get("/api/v1/nothing-here").send().assert_problem(404, "not_found");
    let response = app.call("PUT", "/api/v1/me").send();
    response.assert_problem(405, "method_not_allowed");
    assert_eq!(response.header("allow"), Some("GET, PATCH, DELETE"));
    app.get("/api/v1/users/not-a-number").send().assert_problem(404, "not_found");
    app.get("/api/v1/users/99999999999999999999999").send().assert_problem(404, "not_found");
    app.get("/api/v1/users/424242").send().assert_problem(404, "not_found");
}

#[test]
fn request_ids_are_echoed_or_generated() {
    let app = spawn_app();
    let echoed = app.get("/healthz").header("X-Request-Id", "client-abc-123").send();
    assert_eq!(echoed.header("x-request-id"), Some("client-abc-123"));
    let generated = app.get("/healthz").header("X-Request-Id", "bad id with spaces").send();
    let id = generated.header("x-request-id").unwrap();
    assert_ne!(id, "bad id with spaces");
    assert_eq!(id.len(), 36, "a UUID");
    let error = app.get("/nowhere").header("X-Request-Id", "err-1").send();
    assert_eq!(error.header("x-request-id"), Some("err-1"));
}

#[test]
fn bad_bodies_are_problems_never_500() {
    let app = spawn_app();
    let register = "/api/v1/auth/register";
    let malformed = app.call("POST", register).raw("application/json", "{\"username\": ").send();
    malformed.assert_problem(400, "malformed_json");
    app.call("POST", register).raw("application/json", "").send().assert_problem(400, "malformed_json");
    app.call("POST", register)
        .raw("application/json", vec![0xff, 0xfe, 0x00])
        .send()
        .assert_problem(400, "malformed_json");
    app.call("POST", register).raw("text/plain", "hello").send().assert_problem(415, "unsupported_media_type");
    app.call("POST", register).send().assert_problem(415, "unsupported_media_type");

    let wrong_type = app.post(register, &json!({"username": 5, "email": "a@b.org", "password": "x"})).send();
    let body = wrong_type.assert_problem(422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "username");

    let missing = app.post(register, &json!({"username": "someone"})).send();
    assert_eq!(missing.assert_problem(422, "validation_failed")["errors"][0]["field"], "email");

    let unknown = app
        .post(
            register,
            &json!({"username": "u1234", "email": "a@b.org", "password": "correct horse battery", "admin": true}),
        )
        .send();
    assert_eq!(unknown.assert_problem(422, "validation_failed")["errors"][0]["field"], "admin");

    for body in [json!(null), json!([]), json!("text"), json!(12), json!({"username": {"nested": [1, 2]}})] {
        let response = app.post(register, &body).send();
        assert!(response.status == 400 || response.status == 422, "{body}: {}", response.status);
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let response = app.call("POST", register).raw("application/json", deep).send();
    assert!(response.status == 400 || response.status == 422, "deep nesting: {}", response.status);
}

#[test]
fn oversized_bodies_are_413() {
    let app = spawn_app();
    let huge = json!({"username": "x".repeat(300 * 1024), "email": "a@b.org", "password": "correct horse battery"});
    app.post("/api/v1/auth/register", &huge).send().assert_problem(413, "payload_too_large");
    let user = app.register("biggie");
    let bio = json!({"bio": "y".repeat(257 * 1024)});
    app.patch("/api/v1/me", &bio).bearer(&user.access_token).send().assert_problem(413, "payload_too_large");
    // Just under the limit is read, and refused by the field's own limit.
    let big_but_allowed = json!({"bio": "y".repeat(200 * 1024)});
    let response = app.patch("/api/v1/me", &big_but_allowed).bearer(&user.access_token).send();
    assert_eq!(response.assert_problem(422, "validation_failed")["errors"][0]["field"], "bio");
}

#[test]
fn malformed_requests_never_reach_500() {
    let app = spawn_app();
    let user = app.register("fuzzy");
    let bodies: Vec<Value> = vec![
        json!({}),
        json!(null),
        json!({"login": null, "password": null}),
        json!({"login": "x".repeat(5000), "password": "y".repeat(5000)}),
        json!({"refresh_token": ""}),
        json!({"refresh_token": "z".repeat(10_000)}),
        json!({"display_name": "\u{0000}\u{0007}"}),
        json!({"area": 12}),
        json!({"current_password": [], "new_password": {}}),
        json!({"username": "\u{202e}evil", "email": "\u{0000}@x.org", "password": "\u{0000}".repeat(20)}),
        json!({"n": 1e308, "m": -1, "s": "\u{d7ff}"}),
    ];
    for route in agora::http::served_routes() {
        let path = route.1.replace("{id}", "1").replace("{slug}", "waste");
        for body in &bodies {
            for token in [None, Some(user.access_token.as_str()), Some("garbage.token.value")] {
                let mut call = app.call(&route.0, &path).json(body);
                if let Some(token) = token {
                    call = call.bearer(token);
                }
                let response = call.send();
                assert!(response.status < 500, "{} {path} {body}: {}", route.0, response.text);
            }
        }
    }
}

fn preflight(app: &TestApp, origin: &str) -> super::helpers::TestResponse {
    app.call("OPTIONS", "/api/v1/me")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "PATCH")
        .header("Access-Control-Request-Headers", "authorization, content-type")
        .send()
}

#[test]
fn cors_allows_configured_origins_only() {
    let app = spawn_app_with(|s| s.cors_origins = vec!["https://council.example".to_owned()]);
    let allowed = preflight(&app, "https://council.example");
    assert_eq!(allowed.status, 200);
    assert_eq!(allowed.header("access-control-allow-origin"), Some("https://council.example"));
    let simple = app.get("/healthz").header("Origin", "https://council.example").send();
    assert_eq!(simple.header("access-control-allow-origin"), Some("https://council.example"));
    let exposed = simple.header("access-control-expose-headers").unwrap_or_default().to_lowercase();
    for header in ["x-request-id", "ratelimit-remaining", "retry-after"] {
        assert!(exposed.contains(header), "{header} not exposed: {exposed}");
    }
    let other = app.get("/healthz").header("Origin", "https://evil.example").send();
    assert_eq!(other.status, 200, "the server never refuses; the browser does");
    assert_eq!(other.header("access-control-allow-origin"), None);
}
