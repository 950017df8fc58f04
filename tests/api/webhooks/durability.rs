//! Deliveries survive `kill -9` (they are rows written with their cause),
//! and two nodes on one PostgreSQL database never attempt one delivery at
//! the same time.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use super::receiver::{Receiver, verify};
use super::{WEBHOOKS, create_endpoint, deliveries, fast_settings, path, wait_until, wait_until_idle};
use crate::helpers::{TestDatabase, postgres_admin_url, spawn_app_with, spawn_node};
use crate::process::Node;

#[test]
fn deliveries_pending_when_the_process_is_killed_are_sent_after_the_restart() {
    let (db, _) = TestDatabase::create();
    let data_dir = db.scratch_dir().join("node");
    // Nothing listens until after the kill; retries every 200 ms for ten
    // seconds, in case the sender tried before it.
    let port = Receiver::reserve_port();
    let retries = vec!["200"; 50].join(",");
    // A sender that looks for due deliveries only every ten minutes: what
    // is queued stays queued until the kill.
    let slow = [
        ("AGORA_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("AGORA_WEBHOOK_POLL_MS", "600000"),
        ("AGORA_WEBHOOK_RETRY_MS", retries.as_str()),
    ];
    let node = Node::start(&db, &data_dir, &slow);
    let token = node.create_admin(&db, &data_dir);
    let category = json!({"slug": "bins", "name": "Bins", "description": "Collections"});
    let (status, body) = node.post("/api/v1/categories", &category, &token);
    assert_eq!(status, 201, "{body}");
    let hook = json!({"url": Receiver::reserved_url(port), "events": ["question.created"]});
    let (status, endpoint) = node.post(WEBHOOKS, &hook, &token);
    assert_eq!(status, 201, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let endpoint_id = endpoint["id"].as_i64().unwrap();
    let mut asked = BTreeSet::new();
    for i in 0..3 {
        let question = json!({
            "title": format!("Question number {i} asked before the crash"),
            "body": "A body that is long enough for a question about the bins.",
            "category": "bins",
            "tags": [],
        });
        let (status, created) = node.post("/api/v1/questions", &question, &token);
        assert_eq!(status, 201, "{created}");
        asked.insert(created["id"].as_i64().unwrap());
    }
    node.kill();

    let receiver = Receiver::start_on(port);
    let fast = [
        ("AGORA_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("AGORA_WEBHOOK_POLL_MS", "20"),
        ("AGORA_WEBHOOK_RETRY_MS", retries.as_str()),
    ];
    let node = Node::start(&db, &data_dir, &fast);
    receiver.wait_for(3, Duration::from_secs(30));
    let settled = wait_until("every delivery to succeed after the restart", || {
        let (status, page) =
            node.call("GET", &format!("{}/deliveries?limit=100", path(endpoint_id)), None, Some(&token));
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if status == 200 && items.len() == 3 && items.iter().all(|d| d["status"] == "succeeded") {
            Ok(items)
        } else {
            Err(format!("{status} {page}"))
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3, "{:#?}", requests.iter().map(|r| r.summary()).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = requests.iter().map(|r| r.webhook_id()).collect();
    assert_eq!(ids.len(), 3, "a webhook-id twice: {ids:?}");
    let logged: BTreeSet<&str> = settled.iter().filter_map(|d| d["message_id"].as_str()).collect();
    assert_eq!(ids, logged);
    let questions: BTreeSet<i64> =
        requests.iter().filter_map(|r| r.json()["data"]["question"]["id"].as_i64()).collect();
    assert_eq!(questions, asked);
    for request in &requests {
        assert_eq!(request.event_type(), "question.created");
        verify(request, &secret).unwrap_or_else(|e| panic!("{}: {e}", request.summary()));
    }
    drop(node);
}

#[test]
fn two_nodes_on_postgresql_never_attempt_one_delivery_at_once() {
    if postgres_admin_url().is_none() {
        eprintln!("NOTICE: AGORA_TEST_DATABASE_URL not set; the two-node webhook test runs on PostgreSQL only");
        return;
    }
    let a = spawn_app_with(fast_settings);
    let b = spawn_node(&a.db, a.db.scratch_dir().join("node-b"), fast_settings);
    let admin = a.admin();
    a.create_category(&admin, "waste");
    // Each request is held 50 ms: a second attempt of the same delivery
    // would overlap it.
    let receiver = Receiver::start();
    receiver.set_delay(Duration::from_millis(50));
    let endpoint = create_endpoint(&a, &admin, &receiver.url(), &["question.created"]);
    let mut asked = BTreeSet::new();
    for i in 0..30 {
        let node = if i % 2 == 0 { &a } else { &b };
        let title = format!("Question number {i} for the two nodes");
        asked.insert(node.ask(&admin, "waste", &title, &[])["id"].as_i64().unwrap());
    }
    receiver.wait_for(30, Duration::from_secs(60));
    wait_until_idle(&a, &admin, endpoint.id);
    std::thread::sleep(Duration::from_millis(500));

    let requests = receiver.requests();
    assert_eq!(requests.len(), 30, "{:#?}", requests.iter().map(|r| r.summary()).collect::<Vec<_>>());
    let ids: BTreeSet<&str> = requests.iter().map(|r| r.webhook_id()).collect();
    assert_eq!(ids.len(), 30, "a delivery was sent twice");
    assert_eq!(receiver.max_in_flight_per_id(), 1, "two attempts of one delivery at once");
    let questions: BTreeSet<i64> =
        requests.iter().filter_map(|r| r.json()["data"]["question"]["id"].as_i64()).collect();
    assert_eq!(questions, asked);
    for request in &requests {
        verify(request, &endpoint.secret).unwrap_or_else(|e| panic!("{}: {e}", request.summary()));
    }
    let log: Vec<Value> = deliveries(&a, &admin, endpoint.id, "");
    assert_eq!(log.len(), 30);
    assert!(log.iter().all(|d| d["status"] == "succeeded" && d["attempts"] == 1), "{log:?}");
}
