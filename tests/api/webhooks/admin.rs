//! Managing endpoints: secret rotation, manual redelivery, changing,
//! disabling and deleting an endpoint, and the delivery log's pages.

use std::time::Duration;

use serde_json::{Value, json};

use super::receiver::{Receiver, signatures, verify};
use super::{PATIENCE, WEBHOOKS, audit, create_endpoint, deliveries, deliveries_page, get_endpoint, path, scene};
use super::{scene_with, send_test, wait_for_delivery, wait_until_idle};
use crate::helpers::percent_encode;

/// A valid secret no endpoint has.
const UNRELATED_SECRET: &str = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

#[test]
fn after_a_rotation_both_secrets_verify_until_the_overlap_ends() {
    let s = scene_with(|s| s.webhooks.rotation_overlap_secs = 30);
    let (app, admin) = (&s.app, &s.admin);
    let receiver = Receiver::start();
    let endpoint = create_endpoint(app, admin, &receiver.url(), &["question.created"]);
    let old = endpoint.secret.clone();
    send_test(app, admin, endpoint.id);
    let before = receiver.wait_for(1, PATIENCE).remove(0);
    assert_eq!(signatures(&before).len(), 1, "{:?}", before.header("webhook-signature"));
    verify(&before, &old).unwrap();
    assert!(verify(&before, UNRELATED_SECRET).is_err());

    let url = format!("{}/rotate-secret", path(endpoint.id));
    let rotated = app.call("POST", &url).bearer(&admin.access_token).send().assert_status(200).json();
    let new = rotated["secret"].as_str().expect("the new secret").to_owned();
    assert!(new.starts_with("whsec_") && new != old, "{rotated}");
    let expires = rotated["previous_secret_expires_at"].as_str().expect("previous_secret_expires_at");
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap().with_timezone(&chrono::Utc);
    let overlap = (expires - app.clock.now_utc()).num_seconds();
    assert!((20..=30).contains(&overlap), "the old secret signs for {overlap} s, not the 30 s of the settings");
    let shown = get_endpoint(app, admin, endpoint.id);
    assert!(shown.get("secret").is_none(), "a secret shown again: {shown}");
    assert_eq!(shown["previous_secret_expires_at"], rotated["previous_secret_expires_at"]);

    // During the overlap: two signatures, either secret verifies.
    send_test(app, admin, endpoint.id);
    let during = receiver.wait_for(2, PATIENCE).remove(1);
    assert_eq!(signatures(&during).len(), 2, "{:?}", during.header("webhook-signature"));
    assert!(signatures(&during).iter().all(|s| s.starts_with("v1,")));
    verify(&during, &new).unwrap_or_else(|e| panic!("with the new secret: {e}"));
    verify(&during, &old).unwrap_or_else(|e| panic!("with the old secret: {e}"));
    assert!(verify(&during, UNRELATED_SECRET).is_err());

    // After it: the new secret only.
    app.clock.advance(chrono::Duration::seconds(31));
    send_test(app, admin, endpoint.id);
    let after = receiver.wait_for(3, PATIENCE).remove(2);
    assert_eq!(signatures(&after).len(), 1, "{:?}", after.header("webhook-signature"));
    verify(&after, &new).unwrap_or_else(|e| panic!("with the new secret: {e}"));
    assert!(verify(&after, &old).is_err(), "the old secret still signs after the overlap");

    let entries = audit(app, admin, "webhook_rotate_secret");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (entries[0]["target_type"].as_str(), entries[0]["target_id"].as_i64()),
        (Some("webhook"), Some(endpoint.id))
    );
    assert!(!Value::from(entries).to_string().contains("whsec_"), "a secret in the audit log");
}

#[test]
fn a_delivery_is_redelivered_with_the_same_webhook_id() {
    let s = scene();
    let (app, admin) = (&s.app, &s.admin);
    let receiver = Receiver::start();
    let endpoint = create_endpoint(app, admin, &receiver.url(), &["question.created"]);
    let ping = send_test(app, admin, endpoint.id);
    let id = ping["id"].as_i64().unwrap();
    let message_id = ping["message_id"].as_str().unwrap().to_owned();
    wait_for_delivery(app, admin, endpoint.id, id, "the ping to succeed", |d| d["status"] == "succeeded");

    // The receiver answers 5000 bytes this time: the log keeps the first kB.
    receiver.set_body(&"x".repeat(5000));
    let url = format!("{}/deliveries/{id}/redeliver", path(endpoint.id));
    let again = app.call("POST", &url).bearer(&admin.access_token).send().assert_status(202).json();
    assert_eq!((again["id"].as_i64(), again["message_id"].as_str()), (Some(id), Some(message_id.as_str())));
    assert_eq!(again["status"], "pending", "{again}");
    let requests = receiver.wait_for(2, PATIENCE);
    assert!(requests.iter().all(|r| r.webhook_id() == message_id), "{:?}", requests);
    verify(&requests[1], &endpoint.secret).unwrap();
    assert_eq!(requests[0].json(), requests[1].json(), "the same event");

    let detail = wait_for_delivery(app, admin, endpoint.id, id, "the redelivery to succeed", |d| {
        let last = d["attempts_log"].as_array().and_then(|log| log.last().cloned()).unwrap_or_default();
        d["status"] == "succeeded" && last["response_body"].as_str().is_some_and(|b| b.starts_with('x'))
    });
    assert_eq!(detail["attempts"], 1, "attempts count from 0 again: {detail}");
    let log = detail["attempts_log"].as_array().unwrap();
    let kept = log.last().unwrap()["response_body"].as_str().unwrap();
    assert!((1000..=1024).contains(&kept.len()) && kept.bytes().all(|b| b == b'x'), "{} bytes kept", kept.len());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(receiver.requests().len(), 2);

    // Unknown deliveries, another endpoint's, and unknown endpoints: 404.
    let other_receiver = Receiver::start();
    let other = create_endpoint(app, admin, &other_receiver.url(), &["question.created"]);
    let theirs = send_test(app, admin, other.id)["id"].as_i64().unwrap();
    let not_found = [
        ("POST", format!("{}/deliveries/999999/redeliver", path(endpoint.id))),
        ("GET", format!("{}/deliveries/999999", path(endpoint.id))),
        ("POST", format!("{}/deliveries/{theirs}/redeliver", path(endpoint.id))),
        ("GET", format!("{}/deliveries/{theirs}", path(endpoint.id))),
        ("POST", format!("{}/deliveries/{id}/redeliver", path(424242))),
        ("GET", format!("{}/deliveries/{id}", path(424242))),
    ];
    for (method, url) in &not_found {
        let response = app.call(method, url).bearer(&admin.access_token).send();
        assert_eq!(response.status, 404, "{method} {url}: {}", response.text);
        response.assert_problem(404, "not_found");
    }
    let entries = audit(app, admin, "webhook_redeliver");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["target_type"], "webhook");
}

#[test]
fn endpoints_are_changed_switched_off_and_on_and_deleted() {
    let s = scene();
    let (app, admin) = (&s.app, &s.admin);
    let first = Receiver::start();
    let second = Receiver::start();
    let endpoint = create_endpoint(app, admin, &first.url(), &["question.created"]);
    let created = &endpoint.created;
    assert_eq!(created["url"], first.url());
    assert_eq!(created["events"], json!(["question.created"]));
    assert_eq!(created["description"], "test receiver");
    assert_eq!(created["enabled"], true);
    for field in ["disabled_reason", "failing_since", "previous_secret_expires_at"] {
        assert!(created[field].is_null(), "{field}: {created}");
    }
    assert!(super::is_timestamp(&created["created_at"]) && super::is_timestamp(&created["updated_at"]));
    assert_eq!(endpoint.secret.len(), "whsec_".len() + 44, "32 bytes in base64: {}", endpoint.secret);
    standardwebhooks::Webhook::new(&endpoint.secret).expect("a secret standardwebhooks reads");

    let shown = get_endpoint(app, admin, endpoint.id);
    let mut without_secret = created.clone();
    without_secret.as_object_mut().unwrap().remove("secret");
    assert_eq!(shown, without_secret);
    let list = app.get(WEBHOOKS).bearer(&admin.access_token).send().assert_status(200).json();
    assert_eq!(list, json!({"items": [without_secret], "next_cursor": null, "has_more": false}));

    let change =
        json!({"events": ["answer.created", "flag.created"], "description": "BI pipeline", "url": second.url()});
    let changed = app.patch(&path(endpoint.id), &change).bearer(&admin.access_token).send().assert_status(200).json();
    assert_eq!(changed["events"], json!(["answer.created", "flag.created"]), "{changed}");
    assert_eq!(
        (changed["description"].as_str(), changed["url"].as_str()),
        (Some("BI pipeline"), Some(second.url().as_str()))
    );
    assert!(changed.get("secret").is_none());
    assert_eq!(get_endpoint(app, admin, endpoint.id), changed);
    for (body, field) in [
        (json!({"url": "ftp://127.0.0.1/x"}), "url"),
        (json!({"events": []}), "events"),
        (json!({"events": ["ping"]}), "events"),
        (json!({"description": "d".repeat(501)}), "description"),
    ] {
        let problem = app
            .patch(&path(endpoint.id), &body)
            .bearer(&admin.access_token)
            .send()
            .assert_problem(422, "validation_failed");
        let named = problem["errors"][0]["field"].as_str().unwrap_or_default();
        assert!(named.starts_with(field), "{body}: the field {named:?}, not {field}: {problem}");
    }
    app.patch(&path(endpoint.id), &json!({}))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(422, "validation_failed");

    // Off: no pings; on again: pinged at the new URL.
    let off = app.patch(&path(endpoint.id), &json!({"enabled": false})).bearer(&admin.access_token).send();
    assert_eq!(off.assert_status(200).json()["enabled"], false);
    let test_url = format!("{}/test", path(endpoint.id));
    app.call("POST", &test_url).bearer(&admin.access_token).send().assert_problem(409, "endpoint_disabled");
    let on = app.patch(&path(endpoint.id), &json!({"enabled": true})).bearer(&admin.access_token).send();
    assert_eq!(on.assert_status(200).json()["enabled"], true);
    send_test(app, admin, endpoint.id);
    let pinged = second.wait_for(1, PATIENCE).remove(0);
    verify(&pinged, &endpoint.secret).unwrap();
    wait_until_idle(app, admin, endpoint.id);
    assert!(first.requests().is_empty(), "sent to the old URL");

    // Deleted, with its deliveries.
    app.call("DELETE", &path(endpoint.id)).bearer(&admin.access_token).send().assert_status(204);
    for (method, url) in [
        ("GET", path(endpoint.id)),
        ("DELETE", path(endpoint.id)),
        ("GET", format!("{}/deliveries", path(endpoint.id))),
        ("POST", format!("{}/test", path(endpoint.id))),
        ("POST", format!("{}/rotate-secret", path(endpoint.id))),
    ] {
        app.call(method, &url).bearer(&admin.access_token).send().assert_problem(404, "not_found");
    }
    app.patch(&path(endpoint.id), &json!({"description": "gone"}))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(404, "not_found");
    let list = app.get(WEBHOOKS).bearer(&admin.access_token).send().assert_status(200).json();
    assert_eq!(list["items"], json!([]));

    for action in ["webhook_create", "webhook_update", "webhook_delete"] {
        let entries = audit(app, admin, action);
        assert!(!entries.is_empty(), "no {action} in the audit log");
        assert!(entries.iter().all(|e| e["target_type"] == "webhook" && e["target_id"] == endpoint.id), "{entries:?}");
    }
}

#[test]
fn the_delivery_log_is_newest_first_a_page_at_a_time_and_filtered_by_status() {
    let s = scene();
    let (app, admin) = (&s.app, &s.admin);
    let receiver = Receiver::start();
    let endpoint = create_endpoint(app, admin, &receiver.url(), &["question.created"]);
    let ids: Vec<i64> = (0..3).map(|_| send_test(app, admin, endpoint.id)["id"].as_i64().unwrap()).collect();
    receiver.wait_for(3, PATIENCE);
    wait_until_idle(app, admin, endpoint.id);

    let first = deliveries_page(app, admin, endpoint.id, "limit=2");
    let page_ids = |page: &Value| -> Vec<i64> {
        page["items"].as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect()
    };
    assert_eq!(page_ids(&first), [ids[2], ids[1]], "{first}");
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().expect("a cursor");
    let second = deliveries_page(app, admin, endpoint.id, &format!("limit=2&cursor={}", percent_encode(cursor)));
    assert_eq!(page_ids(&second), [ids[0]], "{second}");
    assert_eq!((second["has_more"].as_bool(), second["next_cursor"].is_null()), (Some(false), true), "{second}");

    assert_eq!(deliveries(app, admin, endpoint.id, "status=succeeded").len(), 3);
    for status in ["pending", "failed", "abandoned"] {
        assert!(deliveries(app, admin, endpoint.id, &format!("status={status}")).is_empty(), "{status}");
    }
    for query in ["status=sending", "status=bogus", "limit=0", "limit=101", "cursor=not-a-cursor"] {
        let response = app.get(&format!("{}/deliveries?{query}", path(endpoint.id))).bearer(&admin.access_token).send();
        assert!(response.status == 400 || response.status == 422, "{query}: {} {}", response.status, response.text);
    }
}
