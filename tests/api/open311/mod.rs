//! Open311 escalation (issue 28), against a GeoReport v2 server the tests
//! start (`server.rs`, written to wiki.open311.org/GeoReport_v2; no public
//! one can be reached from here): mapping categories to service codes,
//! manual and automatic escalation end to end, statuses flowing back,
//! batch tokens, the endpoint down or slow (one case all the same), its
//! error arrays in JSON and XML, bad input, who sees what, deflection, the
//! audit log, and two nodes on PostgreSQL escalating one question at once.

mod automatic;
mod errors;
mod escalation;
mod input;
mod mapping;
mod resilience;
mod sending;
pub mod server;
mod standard;

use std::time::Duration;

use agora::config::Settings;
use agora::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse, TestUser, spawn_app_with};
use crate::webhooks::wait_until;
use server::{Attribute, Case, Kind, Open311Server, Service};

/// The key the council gave Agora.
pub const API_KEY: &str = "springfield-311-0123456789";
pub const SERVICES: &str = "/api/v1/admin/open311/services";
pub const STAFF: &str = "staff_sam";
pub const ASKER: &str = "asker_ann";

/// How long a test lets the workers run before it checks that something
/// did *not* happen (several polls, status reads and retries).
pub const QUIET: Duration = Duration::from_millis(800);

/// A worker that wakes every 20 ms, retries after 100 ms (doubling), gives
/// the endpoint 500 ms and reads statuses every 100 ms; webhooks to
/// loopback receivers, sent at once.
pub fn fast_settings(s: &mut Settings) {
    s.open311.poll_ms = 20;
    s.open311.retry_ms = 100;
    s.open311.timeout_ms = 500;
    s.open311.status_poll_ms = Some(100);
    crate::webhooks::fast_settings(s);
}

/// The council's services: a pothole (realtime, with a definition: a
/// required single-value list, an optional multi-value list, a text and a
/// line of information), a missed bin (batch: a token first), a street
/// light (realtime, no definition), graffiti (blackbox; its POSTs need an
/// attribute its definition does not list).
pub fn council_services() -> Vec<Service> {
    vec![
        Service::new("pothole", "Pothole", Kind::Realtime, "Streets")
            .keywords("road, hole, tarmac")
            .attribute(Attribute::informational("emergency", "If the hole is a danger to traffic, call 101 instead."))
            .attribute(
                Attribute::new("depth", "singlevaluelist", true, "How deep is it?")
                    .values(&[("shallow", "Less than 5 cm"), ("deep", "5 cm or more")]),
            )
            .attribute(
                Attribute::new("lanes", "multivaluelist", false, "Which lanes does it block?")
                    .values(&[("north", "Northbound"), ("south", "Southbound")]),
            )
            .attribute(Attribute::new("landmark", "string", false, "A landmark nearby")),
        Service::new("missed_bin", "Missed bin collection", Kind::Batch, "Sanitation").keywords("bin, rubbish"),
        Service::new("streetlight", "Street light out", Kind::Realtime, "Streets").keywords("lamp, light"),
        Service::new("graffiti", "Graffiti", Kind::Blackbox, "Parks")
            .keywords("paint, tag")
            .requiring_undeclared("surface"),
    ]
}

/// The categories of every scene; `parking` is never mapped.
pub const CATEGORIES: [&str; 5] = ["roads", "waste", "lighting", "vandalism", "parking"];

pub fn default_mapping() -> Value {
    json!({"roads": "pothole", "waste": "missed_bin", "lighting": "streetlight", "vandalism": "graffiti"})
}

/// An app and the council's endpoint, configured, and the people.
pub struct Scene {
    pub app: TestApp,
    pub server: Open311Server,
    pub admin: TestUser,
    pub staff: TestUser,
    pub asker: TestUser,
}

/// [`unmapped_scene`] with [`default_mapping`] saved.
pub fn scene() -> Scene {
    let s = unmapped_scene();
    map(&s.app, &s.admin, &default_mapping()).assert_status(200);
    s
}

/// An app with [`fast_settings`] whose site settings point at a fresh
/// server (its services, its key), the [`CATEGORIES`], an admin
/// (`admin_root`), a staff member ([`STAFF`]) and an asker ([`ASKER`],
/// trusted enough to ask more than three questions an hour).
pub fn unmapped_scene() -> Scene {
    let server = Open311Server::start();
    server.set_services(council_services());
    server.set_api_key(API_KEY);
    let app = spawn_app_with(fast_settings);
    let admin = app.admin();
    for slug in CATEGORIES {
        app.create_category(&admin, slug);
    }
    configure(&app, &admin, &server.endpoint(), API_KEY);
    let staff = app.user_with_roles(STAFF, &[Role::Staff]);
    let asker = app.register(ASKER);
    app.set_reputation(asker.id, 100);
    Scene { app, server, admin, staff, asker }
}

/// Points the site settings' `open311` section at an endpoint.
#[track_caller]
pub fn configure(app: &TestApp, admin: &TestUser, endpoint: &str, api_key: &str) {
    let (endpoint, api_key) = (endpoint.to_owned(), api_key.to_owned());
    app.change_settings(admin, move |doc| {
        doc["open311"]["endpoint"] = json!(endpoint);
        doc["open311"]["api_key"] = json!(api_key);
    });
}

/// Changes one field of the settings' `open311` section.
#[track_caller]
pub fn set_open311(app: &TestApp, admin: &TestUser, field: &str, value: Value) {
    app.change_settings(admin, move |doc| doc["open311"][field] = value);
}

/// `PUT /admin/open311/services`.
pub fn map(app: &TestApp, admin: &TestUser, mapping: &Value) -> TestResponse {
    app.call("PUT", SERVICES).json(&json!({"mapping": mapping})).bearer(&admin.access_token).send()
}

/// The mapping as GET shows it.
#[track_caller]
pub fn mapping(app: &TestApp, admin: &TestUser) -> Value {
    app.get(SERVICES).bearer(&admin.access_token).send().assert_status(200).json()["mapping"].clone()
}

#[track_caller]
pub fn ask(app: &TestApp, user: &TestUser, category: &str, title: &str) -> i64 {
    app.ask(user, category, title, &[])["id"].as_i64().expect("question id")
}

/// `POST /questions` with a whole body (the Open311 fields among them).
#[track_caller]
pub fn ask_with(app: &TestApp, user: &TestUser, body: &Value) -> i64 {
    let created = app.post("/api/v1/questions", body).bearer(&user.access_token).send();
    created.assert_status(201).json()["id"].as_i64().expect("question id")
}

pub fn escalate(app: &TestApp, user: &TestUser, question: i64, body: &Value) -> TestResponse {
    app.post(&format!("/api/v1/questions/{question}/escalate"), body).bearer(&user.access_token).send()
}

/// Escalates and checks the 202; returns the escalation.
#[track_caller]
pub fn escalate_ok(app: &TestApp, user: &TestUser, question: i64, body: &Value) -> Value {
    let escalation = escalate(app, user, question, body).assert_status(202).json()["escalation"].clone();
    assert_eq!(escalation["question_id"], question, "{escalation}");
    assert!(matches!(escalation["status"].as_str(), Some("pending" | "submitted")), "{escalation}");
    escalation
}

/// `GET /questions/{id}/escalation`, as `user` or anonymously.
pub fn escalation_response(app: &TestApp, user: Option<&TestUser>, question: i64) -> TestResponse {
    let call = app.get(&format!("/api/v1/questions/{question}/escalation"));
    match user {
        Some(user) => call.bearer(&user.access_token).send(),
        None => call.send(),
    }
}

#[track_caller]
pub fn escalation(app: &TestApp, user: &TestUser, question: i64) -> Value {
    escalation_response(app, Some(user), question).assert_status(200).json()
}

/// Polls the escalation until `done`; returns it.
#[track_caller]
pub fn wait_for_escalation(
    app: &TestApp,
    user: &TestUser,
    question: i64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_until(what, || {
        let escalation = escalation(app, user, question);
        if done(&escalation) { Ok(escalation) } else { Err(escalation.to_string()) }
    })
}

/// Whether the council's id is known.
pub fn has_id(escalation: &Value) -> bool {
    escalation["service_request_id"].as_str().is_some_and(|id| !id.is_empty())
}

/// The question's detail as a signed-in user reads it (not from the
/// anonymous read cache).
#[track_caller]
pub fn detail(app: &TestApp, user: &TestUser, question: i64) -> Value {
    app.get(&format!("/api/v1/questions/{question}")).bearer(&user.access_token).send().assert_status(200).json()
}

/// A second escalation of one question: 409 (`conflict` or
/// `already_escalated`).
#[track_caller]
pub fn assert_already_escalated(response: &TestResponse) {
    response.assert_status(409);
    let body = response.json();
    assert!(matches!(body["code"].as_str(), Some("conflict" | "already_escalated")), "{body}");
}

/// The fields a validation problem names.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().into_iter().flatten().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect()
}

/// The message of the problem's error on `field`.
#[track_caller]
pub fn error_message(problem: &Value, field: &str) -> String {
    let errors = problem["errors"].as_array().unwrap_or_else(|| panic!("no errors in {problem}"));
    let error = errors.iter().find(|e| e["field"] == field).unwrap_or_else(|| panic!("no error on {field}: {problem}"));
    error["message"].as_str().unwrap_or_default().to_owned()
}

/// Whether a description links to the question (`…/questions/{id}`, not
/// `…/questions/{id}7`).
pub fn links_to(description: &str, question: i64) -> bool {
    let needle = format!("/questions/{question}");
    description
        .match_indices(needle.as_str())
        .any(|(at, _)| !description[at + needle.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

/// The server's cases about one question.
pub fn cases_for(server: &Open311Server, question: i64) -> Vec<Case> {
    server.requests().into_iter().filter(|c| links_to(&c.description, question)).collect()
}

/// The user's inbox notifications of one kind about one question.
#[track_caller]
pub fn notifications(app: &TestApp, user: &TestUser, kind: &str, question: i64) -> usize {
    let inbox = app.get("/api/v1/me/notifications").bearer(&user.access_token).send().assert_status(200).json();
    let items = inbox["items"].as_array().cloned().unwrap_or_default();
    items.iter().filter(|n| n["kind"] == kind && n["question_id"] == question).count()
}

/// `GET` without the harness's checks, for statuses it refuses (502).
pub fn raw_get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut response = agent
        .get(format!("{}{path}", app.address))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.body_mut().read_json().unwrap_or(Value::Null))
}
