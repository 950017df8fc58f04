//! Bad input: with the default settings, URLs to loopback, private,
//! link-local (the metadata address), shared, multicast or documentation
//! addresses, or names resolving to them, are refused, and so are other
//! schemes, credentials in the URL and over-long URLs; bad events and
//! descriptions; malformed JSON; unknown endpoints; callers who are not
//! admins; the 51st endpoint.

use agora::domain::Role;
use serde_json::{Value, json};

use super::{ALL_EVENTS, WEBHOOKS, fast_settings, path};
use crate::helpers::{TestApp, TestUser, spawn_app, spawn_app_with};

/// A public address, taken with the default settings (nothing is sent
/// to it: these tests cause no event it subscribes to).
const PUBLIC: &str = "https://93.184.215.14/hook";

fn create(app: &TestApp, admin: &TestUser, body: &Value) -> crate::helpers::TestResponse {
    app.post(WEBHOOKS, body).bearer(&admin.access_token).send()
}

/// Asserts a 422 `validation_failed` on `field` (or a part of it, such
/// as `events[0]`).
#[track_caller]
fn assert_refused(app: &TestApp, admin: &TestUser, body: &Value, field: &str) {
    let response = create(app, admin, body);
    assert_eq!(response.status, 422, "{body}: {}", response.text);
    let problem = response.assert_problem(422, "validation_failed");
    let named = problem["errors"][0]["field"].as_str().unwrap_or_default();
    assert!(named.starts_with(field), "{body}: the field {named:?}, not {field}: {problem}");
}

#[test]
fn private_addresses_other_schemes_and_long_urls_are_refused_by_default() {
    let app = spawn_app();
    let admin = app.admin();
    let long = format!("https://93.184.215.14/{}", "a".repeat(2100));
    let refused = [
        "https://127.0.0.1/hook",
        "https://127.8.9.10/hook",
        "https://10.0.0.1/hook",
        "https://172.16.5.4/hook",
        "https://192.168.1.20/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fe80::1]/hook",
        "https://[fc00::1]/hook",
        "https://0.0.0.0/hook",
        "https://100.64.0.1/hook",
        "https://224.0.0.1/hook",
        "https://255.255.255.255/hook",
        "https://192.0.2.10/hook",
        // 127.0.0.1 written as one number.
        "https://2130706433/hook",
        // Names resolving to loopback.
        "https://localhost/hook",
        "https://localhost:8443/hook",
        // Not https, or not a URL to a host.
        "http://example.org/hook",
        "http://93.184.215.14/hook",
        "ftp://example.org/x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https:///hook",
        "not a url",
        "",
        // Credentials in the URL.
        "https://user:secret@93.184.215.14/hook",
        long.as_str(),
    ];
    for url in refused {
        assert_refused(&app, &admin, &json!({"url": url, "events": ["question.created"]}), "url");
    }
    // A public address is taken, with a port too.
    for url in [PUBLIC, "https://93.184.215.14:8443/hook"] {
        let response = create(&app, &admin, &json!({"url": url, "events": ["question.escalated"]}));
        assert_eq!(response.status, 201, "{url}: {}", response.text);
        app.call("DELETE", &path(response.json()["id"].as_i64().unwrap()))
            .bearer(&admin.access_token)
            .send()
            .assert_status(204);
    }
    // The same rules when the URL is changed.
    let endpoint = create(&app, &admin, &json!({"url": PUBLIC, "events": ["question.escalated"]})).json();
    let id = endpoint["id"].as_i64().unwrap();
    for url in ["https://127.0.0.1/hook", "https://169.254.169.254/latest/meta-data", "https://localhost/hook"] {
        let response = app.patch(&path(id), &json!({"url": url})).bearer(&admin.access_token).send();
        assert_eq!(response.status, 422, "{url}: {}", response.text);
        assert_eq!(response.json()["errors"][0]["field"], "url");
    }
}

#[test]
fn bad_events_descriptions_and_bodies_are_refused() {
    let app = spawn_app();
    let admin = app.admin();
    for events in [
        json!([]),
        json!(["question.deleted"]),
        json!(["ping"]),
        json!(["question.created", "ping"]),
        json!(["question.created", "question.created"]),
        json!("question.created"),
    ] {
        assert_refused(&app, &admin, &json!({"url": PUBLIC, "events": events}), "events");
    }
    assert_refused(&app, &admin, &json!({"url": PUBLIC}), "events");
    assert_refused(&app, &admin, &json!({"events": ["question.created"]}), "url");
    let long = "d".repeat(501);
    assert_refused(
        &app,
        &admin,
        &json!({"url": PUBLIC, "events": ["question.created"], "description": long}),
        "description",
    );
    // All nine subscribable types at once are fine, and 500 characters of description.
    let body = json!({"url": PUBLIC, "events": ALL_EVENTS, "description": "d".repeat(500)});
    let created = create(&app, &admin, &body).assert_status(201).json();
    assert_eq!(created["events"].as_array().unwrap().len(), 9);

    let unknown = create(&app, &admin, &json!({"url": PUBLIC, "events": ["question.created"], "secret": "whsec_mine"}));
    assert!(unknown.status == 400 || unknown.status == 422, "an unknown field: {}", unknown.text);
    app.call("POST", WEBHOOKS)
        .raw("application/json", "{\"url\": ")
        .bearer(&admin.access_token)
        .send()
        .assert_problem(400, "malformed_json");
    app.call("PATCH", &path(created["id"].as_i64().unwrap()))
        .raw("application/json", "{\"enabled\": tru")
        .bearer(&admin.access_token)
        .send()
        .assert_problem(400, "malformed_json");
}

#[test]
fn only_admins_reach_webhooks_and_unknown_endpoints_are_404() {
    let app = spawn_app();
    let admin = app.admin();
    let resident = app.register("resident");
    let moderator = app.user_with_roles("mod_mia", &[Role::Moderator]);
    let body = json!({"url": PUBLIC, "events": ["question.escalated"]});
    for user in [&resident, &moderator] {
        app.post(WEBHOOKS, &body).bearer(&user.access_token).send().assert_problem(403, "forbidden");
        app.get(WEBHOOKS).bearer(&user.access_token).send().assert_problem(403, "forbidden");
    }
    app.post(WEBHOOKS, &body).send().assert_problem(401, "unauthorized");
    app.get(WEBHOOKS).send().assert_problem(401, "unauthorized");
    assert_eq!(app.get(WEBHOOKS).bearer(&admin.access_token).send().json()["items"], json!([]));

    let unknown = path(424242);
    for (method, url) in [
        ("GET", unknown.clone()),
        ("DELETE", unknown.clone()),
        ("POST", format!("{unknown}/rotate-secret")),
        ("POST", format!("{unknown}/test")),
        ("GET", format!("{unknown}/deliveries")),
        ("GET", format!("{unknown}/deliveries/1")),
        ("POST", format!("{unknown}/deliveries/1/redeliver")),
    ] {
        app.call(method, &url).bearer(&admin.access_token).send().assert_problem(404, "not_found");
    }
    app.patch(&unknown, &json!({"enabled": false})).bearer(&admin.access_token).send().assert_problem(404, "not_found");
}

#[test]
fn with_private_addresses_allowed_http_and_loopback_are_taken_but_not_the_51st_endpoint() {
    let app = spawn_app_with(fast_settings);
    let admin = app.admin();
    // Still refused: other schemes, credentials, over-long URLs.
    let long = format!("http://127.0.0.1:9/{}", "a".repeat(2100));
    for url in ["ftp://127.0.0.1/x", "http://user:secret@127.0.0.1:9/hook", "file:///etc/passwd", long.as_str()] {
        assert_refused(&app, &admin, &json!({"url": url, "events": ["question.escalated"]}), "url");
    }
    for i in 0..50 {
        let url = format!("http://127.0.0.1:9/hook/{i}");
        let response = create(&app, &admin, &json!({"url": url, "events": ["question.escalated"]}));
        assert_eq!(response.status, 201, "endpoint {i}: {}", response.text);
    }
    let extra = json!({"url": "https://[::1]:9/hook", "events": ["question.escalated"]});
    create(&app, &admin, &extra).assert_problem(409, "conflict");
    let list = app.get(WEBHOOKS).bearer(&admin.access_token).send().assert_status(200).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 50);
    assert_eq!((list["has_more"].as_bool(), list["next_cursor"].is_null()), (Some(false), true));
    let ids: Vec<i64> = list["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
}
