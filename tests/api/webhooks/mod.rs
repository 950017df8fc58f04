//! Webhooks (issue 27), against a real HTTP receiver on loopback
//! (`receiver.rs`) that checks every signature with the `standardwebhooks`
//! crate: every event type, retries and the delivery log, 410 and
//! three days of failures disabling an endpoint, secret rotation,
//! redelivery, hidden posts not sent, redirects not followed, `kill -9`
//! and two nodes on PostgreSQL, and the refusal of private addresses.

mod admin;
mod delivery;
mod disabling;
mod durability;
mod events;
pub mod receiver;
mod validation;

use std::time::{Duration, Instant};

use agora::config::Settings;
use serde_json::{Value, json};

use super::helpers::{PASSWORD, TestApp, TestUser, spawn_app_with};

pub const WEBHOOKS: &str = "/api/v1/admin/webhooks";

/// Every type an endpoint may subscribe to (`ping` is not one).
pub const ALL_EVENTS: [&str; 9] = [
    "question.created",
    "answer.created",
    "question.solved",
    "answer.verified",
    "flag.created",
    "post.hidden",
    "question.escalated",
    "escalation.updated",
    "user.suspended",
];

/// How long a test waits for what should happen.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Loopback receivers allowed, a sender that looks every 20 ms and
/// retries five times, 100 ms apart.
pub fn fast_settings(s: &mut Settings) {
    s.webhooks.allow_private = true;
    s.webhooks.poll_ms = 20;
    s.webhooks.retry_schedule_ms = vec![100, 100, 100, 100, 100];
}

pub struct Scene {
    pub app: TestApp,
    pub admin: TestUser,
}

/// An app with [`fast_settings`], its admin (`admin_root`) and a `waste`
/// category.
pub fn scene() -> Scene {
    scene_with(|_| {})
}

/// As [`scene`], with more settings changed after [`fast_settings`].
pub fn scene_with(adjust: impl FnOnce(&mut Settings)) -> Scene {
    let app = spawn_app_with(|s| {
        fast_settings(s);
        adjust(s);
    });
    let admin = app.admin();
    app.create_category(&admin, "waste");
    Scene { app, admin }
}

/// An endpoint as created: its id and the secret shown once.
pub struct Endpoint {
    pub id: i64,
    pub secret: String,
    pub created: Value,
}

pub fn path(id: i64) -> String {
    format!("{WEBHOOKS}/{id}")
}

#[track_caller]
pub fn create_endpoint(app: &TestApp, admin: &TestUser, url: &str, events: &[&str]) -> Endpoint {
    let body = json!({"url": url, "events": events, "description": "test receiver"});
    let created = app.post(WEBHOOKS, &body).bearer(&admin.access_token).send().assert_status(201).json();
    Endpoint {
        id: created["id"].as_i64().expect("endpoint id"),
        secret: created["secret"].as_str().expect("the secret").to_owned(),
        created,
    }
}

#[track_caller]
pub fn get_endpoint(app: &TestApp, admin: &TestUser, id: i64) -> Value {
    app.get(&path(id)).bearer(&admin.access_token).send().assert_status(200).json()
}

/// `POST …/test`: queues a ping; returns the delivery.
#[track_caller]
pub fn send_test(app: &TestApp, admin: &TestUser, id: i64) -> Value {
    let delivery =
        app.call("POST", &format!("{}/test", path(id))).bearer(&admin.access_token).send().assert_status(202).json();
    assert_eq!(delivery["event_type"], "ping", "{delivery}");
    assert_eq!(delivery["endpoint_id"], id, "{delivery}");
    delivery
}

/// A page of the delivery log; `query` is added to the query string.
#[track_caller]
pub fn deliveries_page(app: &TestApp, admin: &TestUser, id: i64, query: &str) -> Value {
    let url = format!("{}/deliveries?{query}", path(id));
    app.get(&url).bearer(&admin.access_token).send().assert_status(200).json()
}

/// The endpoint's deliveries (up to 100, newest first); `query` is e.g.
/// `status=failed` or empty.
#[track_caller]
pub fn deliveries(app: &TestApp, admin: &TestUser, id: i64, query: &str) -> Vec<Value> {
    let query = if query.is_empty() { "limit=100".to_owned() } else { format!("limit=100&{query}") };
    let page = deliveries_page(app, admin, id, &query);
    page["items"].as_array().expect("items").clone()
}

#[track_caller]
pub fn delivery(app: &TestApp, admin: &TestUser, id: i64, delivery_id: i64) -> Value {
    let url = format!("{}/deliveries/{delivery_id}", path(id));
    app.get(&url).bearer(&admin.access_token).send().assert_status(200).json()
}

/// Polls `probe` until it gives a value; `Err` carries what it saw, for
/// the failure message.
#[track_caller]
pub fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) => assert!(Instant::now() < deadline, "timed out waiting for {what}; last seen: {seen}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the delivery's detail satisfies `done`; returns it.
#[track_caller]
pub fn wait_for_delivery(
    app: &TestApp,
    admin: &TestUser,
    id: i64,
    delivery_id: i64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(what, || {
        let detail = delivery(app, admin, id, delivery_id);
        if done(&detail) { Ok(detail) } else { Err(detail.to_string()) }
    })
}

/// Waits until none of the endpoint's deliveries is pending or failed
/// (waiting for a retry).
#[track_caller]
pub fn wait_until_idle(app: &TestApp, admin: &TestUser, id: i64) {
    wait_until("the endpoint's deliveries to be settled", || {
        let mut waiting = deliveries(app, admin, id, "status=pending");
        waiting.extend(deliveries(app, admin, id, "status=failed"));
        if waiting.is_empty() { Ok(()) } else { Err(Value::from(waiting).to_string()) }
    })
}

/// The kinds of the user's inbox notifications.
#[track_caller]
pub fn notification_kinds(app: &TestApp, user: &TestUser) -> Vec<String> {
    let inbox = app.get("/api/v1/me/notifications").bearer(&user.access_token).send().assert_status(200).json();
    inbox["items"].as_array().expect("items").iter().filter_map(|n| n["kind"].as_str().map(str::to_owned)).collect()
}

/// A fresh session (access tokens last 15 minutes of the app's clock).
#[track_caller]
pub fn relogin(app: &TestApp, username: &str) -> TestUser {
    TestUser::from_session(&app.login(username, PASSWORD).assert_status(200).json())
}

/// The audit log's entries of one action.
#[track_caller]
pub fn audit(app: &TestApp, admin: &TestUser, action: &str) -> Vec<Value> {
    let page = app
        .get(&format!("/api/v1/mod/audit-log?action={action}"))
        .bearer(&admin.access_token)
        .send()
        .assert_status(200)
        .json();
    page["items"].as_array().expect("items").clone()
}

/// `msg_` and 32 hexadecimal digits.
pub fn is_message_id(id: &str) -> bool {
    id.strip_prefix("msg_").is_some_and(|hex| hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The value of an unlabelled metric line (`name value`), whatever the
/// prefix of its name.
pub fn metric(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .find(|(n, _)| *n == name || n.ends_with(&format!("_{name}")))
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// Whether a string is an RFC 3339 timestamp.
pub fn is_timestamp(value: &Value) -> bool {
    value.as_str().is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
}
