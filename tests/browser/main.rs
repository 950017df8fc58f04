//! The pages in a real browser: a server on a random port over a real
//! database (SQLite, or PostgreSQL when `AGORA_TEST_DATABASE_URL` is set),
//! seeded here, then node drives Debian's headless Chromium with
//! playwright-core: `scenarios.mjs` through the contact-form widget's demo
//! form, `front_door.mjs` through the landing page, the API reference and
//! the deflection dashboard, checking the figures the council reads.
//!
//! Setup installs what is missing (Chromium with apt, the npm packages with
//! `npm ci`). Where it cannot, the test prints a NOTICE and passes, unless
//! `CI` is set: then it fails.

// The API suite's harness, shared rather than copied.
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/spec.rs"]
mod spec;

use std::path::{Path, PathBuf};
use std::process::Command;

use agora::domain::Role;
use serde_json::{Value, json};

use helpers::{TestApp, TestUser, spawn_app_with};

/// The origin of the pretend council site the scenarios serve (on another
/// port of the same loopback address: Chromium keeps sites it does not see
/// on loopback from calling loopback addresses at all).
fn council_origin() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    format!("http://127.0.0.1:{}", listener.local_addr().expect("its address").port())
}

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Skips with a notice, or fails in CI, when the browser cannot be set up.
fn unavailable(why: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("browser tests cannot run in CI: {why}");
    }
    eprintln!("NOTICE: {why}; the browser tests were skipped");
}

fn succeeds(command: &mut Command) -> bool {
    command.status().is_ok_and(|s| s.success())
}

/// Both browser tests set up at once on a fresh machine; two `apt-get`s
/// (or `npm ci`s) at once fight over dpkg's lock and one fails. The first
/// test sets up, the other waits for it.
static SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn chromium() -> Option<PathBuf> {
    let _one_at_a_time = SETUP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = std::env::var_os("AGORA_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    eprintln!("Chromium is missing; installing Debian's chromium and chromium-driver");
    let installed = succeeds(Command::new("apt-get").args(["install", "-y", "chromium", "chromium-driver"]))
        || (succeeds(Command::new("apt-get").arg("update"))
            && succeeds(Command::new("apt-get").args(["install", "-y", "chromium", "chromium-driver"])));
    (installed && path.exists()).then_some(path)
}

/// playwright-core and axe-core, pinned by package-lock.json.
fn node_packages(dir: &Path) -> bool {
    let _one_at_a_time = SETUP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !succeeds(Command::new("node").arg("--version").stdout(std::process::Stdio::null())) {
        return false;
    }
    let ready = |d: &Path| d.join("node_modules/playwright-core").exists() && d.join("node_modules/axe-core").exists();
    ready(dir) || (succeeds(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(dir)) && ready(dir))
}

/// What the scenarios are given beside the server's address.
struct Seed {
    admin: TestUser,
    analyst: TestUser,
}

const QUESTIONS: [(&str, &str); 6] = [
    ("When is my green bin collected?", "Green bins are collected every other Tuesday; the calendar is online."),
    ("My bin was not collected this week", "Report a missed collection within two working days and it is collected."),
    ("Can I get a bigger green bin for garden waste?", "Households of five or more can ask for a 240 litre bin."),
    ("How do I get a residents parking permit?", "Apply online with proof of address; it takes five working days."),
    ("Who repairs a pothole on my street?", "Report it on the council's site; the highways team repairs it."),
    (
        "<img src=x onerror=\"window.__agoraXss=1\"> Street light <b>flickering</b> all night",
        "Report the street light with its number; it is repaired within a week.",
    ),
];

fn seed(app: &TestApp) -> Seed {
    let admin = app.user_with_roles("widget_admin", &[Role::Admin]);
    let analyst = app.user_with_roles("widget_analyst", &[Role::Analyst]);
    let staff = app.user_with_roles("widget_staff", &[Role::Staff]);
    let asker = app.register("widget_resident");
    app.set_reputation(asker.id, 5000);
    app.create_category(&admin, "waste");
    for (title, answer) in QUESTIONS {
        let question = app.ask(&asker, "waste", title, &[])["id"].as_i64().unwrap();
        let answer = app.answer(&staff, question, answer)["id"].as_i64().unwrap();
        let accept = json!({"answer_id": answer});
        let url = format!("/api/v1/questions/{question}/accept");
        app.post(&url, &accept).bearer(&asker.access_token).send().assert_status(200);
    }
    wait_until_indexed(app);
    Seed { admin, analyst }
}

fn similar(app: &TestApp, text: &str) -> Value {
    let url = format!("/api/v1/questions/similar?text={}", text.replace(' ', "+"));
    app.get(&url).send().assert_status(200).json()
}

fn wait_until_indexed(app: &TestApp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while similar(app, "street light flickering")["items"].as_array().is_none_or(Vec::is_empty) {
        assert!(std::time::Instant::now() < deadline, "the seeded questions were never indexed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn the_widget_works_in_a_real_browser() {
    let dir = browser_dir();
    let Some(chromium) = chromium() else {
        return unavailable("Chromium is not installed and apt-get could not install it");
    };
    if !node_packages(&dir) {
        return unavailable("node, or the npm packages of tests/browser (npm ci), are not available");
    }
    let council = council_origin();
    let app = spawn_app_with(|s| s.cors_origins = vec![council.clone()]);
    let seed = seed(&app);
    let mut node = Command::new("node");
    node.arg("scenarios.mjs")
        .current_dir(&dir)
        .env("AGORA_URL", &app.address)
        .env("AGORA_CHROMIUM", &chromium)
        .env("AGORA_COUNCIL_ORIGIN", &council)
        .env("AGORA_ANALYST_TOKEN", &seed.analyst.access_token)
        .env("AGORA_ADMIN_TOKEN", &seed.admin.access_token);
    let status = node.status().expect("run node");
    assert!(status.success(), "the browser scenarios failed (their output is above)");
}

/// The front door's community: confirmed deflections in two categories
/// (three for a waste question, one for a parking one), and a search that
/// found nothing whose text is markup.
struct FrontDoor {
    analyst: TestUser,
}

const FRONT_DOOR_QUESTIONS: [(&str, &str, usize); 3] = [
    ("waste", "When is my green bin collected?", 3),
    ("waste", "Can I get a bigger green bin for garden waste?", 0),
    ("parking", "How do I get a residents parking permit?", 1),
];
const MARKUP_QUERY: &str = "<img src=x onerror=\"window.__agoraXss=1\"> bulky waste";
const FILTER_CATEGORY: &str = "parking";

fn seed_front_door(app: &TestApp) -> FrontDoor {
    let admin = app.user_with_roles("front_admin", &[Role::Admin]);
    let analyst = app.user_with_roles("front_analyst", &[Role::Analyst]);
    let staff = app.user_with_roles("front_staff", &[Role::Staff]);
    let asker = app.register("front_resident");
    app.set_reputation(asker.id, 5000);
    app.create_category(&admin, "waste");
    app.create_category(&admin, FILTER_CATEGORY);
    let at = (chrono::Utc::now() - chrono::Duration::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut events = Vec::new();
    for (category, title, confirmations) in FRONT_DOOR_QUESTIONS {
        let question = app.ask(&asker, category, title, &[])["id"].as_i64().unwrap();
        let answer =
            app.answer(&staff, question, "Every other Tuesday; the calendar is online.")["id"].as_i64().unwrap();
        let url = format!("/api/v1/questions/{question}/accept");
        app.post(&url, &json!({"answer_id": answer})).bearer(&asker.access_token).send().assert_status(200);
        for n in 0..confirmations {
            let (visitor, intent) = (format!("visitor-{question}-{n}"), format!("intent-{question}-{n}"));
            // As the widget does: the server's token for the intent first.
            let reply = app.get(&format!("/api/v1/questions/similar?text=bins&intent_id={intent}")).send();
            let token = reply.json()["intent_token"].as_str().expect("intent token").to_owned();
            for kind in ["contact_intent_started", "contact_intent_confirmed_resolved"] {
                events.push(json!({
                    "event_id": uuid::Uuid::new_v4(), "type": kind, "occurred_at": at,
                    "visitor_id": visitor, "intent_id": intent, "question_id": question,
                    "intent_token": token,
                }));
            }
        }
    }
    events.push(json!({
        "event_id": uuid::Uuid::new_v4(), "type": "search_performed", "occurred_at": at,
        "visitor_id": "visitor-searcher", "query": MARKUP_QUERY, "result_ids": [],
    }));
    app.post("/api/v1/events", &json!({"events": events}))
        .header("user-agent", DESKTOP_CHROME)
        .send()
        .assert_status(202);
    FrontDoor { analyst }
}

/// A resident's browser (a test client's own agent counts as a bot).
const DESKTOP_CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

/// "METHOD /path" of every operation in openapi.yaml.
fn spec_operations() -> Vec<String> {
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml")).unwrap();
    let spec: Value = serde_norway::from_str(&text).expect("openapi.yaml parses");
    let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in methods.iter().filter(|m| item.get(**m).is_some()) {
            operations.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations
}

#[test]
fn the_front_door_works_in_a_real_browser() {
    let dir = browser_dir();
    let Some(chromium) = chromium() else {
        return unavailable("Chromium is not installed and apt-get could not install it");
    };
    if !node_packages(&dir) {
        return unavailable("node, or the npm packages of tests/browser (npm ci), are not available");
    }
    let app = spawn_app_with(|_| {});
    let seed = seed_front_door(&app);
    let mut node = Command::new("node");
    node.arg("front_door.mjs")
        .current_dir(&dir)
        .env("AGORA_URL", &app.address)
        .env("AGORA_CHROMIUM", &chromium)
        .env("AGORA_PASSWORD", helpers::PASSWORD)
        .env("AGORA_ANALYST_LOGIN", "front_analyst")
        .env("AGORA_RESIDENT_LOGIN", "front_resident")
        .env("AGORA_ANALYST_TOKEN", &seed.analyst.access_token)
        .env("AGORA_SPEC_OPERATIONS", serde_json::to_string(&spec_operations()).unwrap())
        .env("AGORA_FILTER_CATEGORY", FILTER_CATEGORY)
        .env("AGORA_MARKUP_QUERY", MARKUP_QUERY);
    let status = node.status().expect("run node");
    assert!(status.success(), "the front door's browser scenarios failed (their output is above)");
}
