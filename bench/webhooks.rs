//! Webhook benchmark: what three subscribed endpoints cost a write, and how
//! fast the sender empties the queue they leave (issue 27).
//!
//!     cargo bench --bench webhooks -- [--seconds 10] [--connections 8] [--poll-ms 100]
//!
//! 1. POST answer req/s with three enabled webhook endpoints subscribed to
//!    `answer.created` (every answer enqueues three deliveries in its
//!    transaction and the sender delivers them meanwhile) as a ratio to
//!    the same three endpoints disabled (nothing is enqueued), on the
//!    release `agora serve` over SQLite, alternating off/on/off/on so drift
//!    cancels out. Target: ≥ 0.9.
//! 2. The deliveries received during the on rounds against the answers
//!    posted (did the sender keep up?), and after each on round how long
//!    the sender takes to empty what is left: deliveries/s. The queue is
//!    drained before the next round, so an off round never pays for the
//!    on round before it.
//!
//! The receiver is a minimal one here (std only, HTTP/1.1 keep-alive, 200
//! with an empty body to every request, a counter) rather than the tests'
//! `tests/api/webhooks/receiver.rs`: that one closes each connection and
//! keeps every request (headers and body), and counting them means cloning
//! them all, too costly for tens of thousands of deliveries on a machine
//! the server shares. The load comes from client threads (ureq,
//! keep-alive), as in `bench/mail.rs`. Writes
//! bench/results/<date>-webhooks.md.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "receiver.rs"]
mod receiver;
use receiver::Receiver;

const PASSWORD: &str = "bench-password-long-enough";
const JWT_SECRET: &str = "webhook-bench-secret-that-is-long-enough-0123456789";
/// Endpoints subscribed in the on rounds: deliveries per answer.
const ENDPOINTS: usize = 3;
/// The longest wait for the sender to empty the queue after a round.
const DRAIN_PATIENCE: Duration = Duration::from_secs(3600);

struct Options {
    seconds: u64,
    connections: usize,
    poll_ms: u64,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    Options {
        seconds: value("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10),
        connections: value("--connections").and_then(|s| s.parse().ok()).unwrap_or(8),
        poll_ms: value("--poll-ms").and_then(|s| s.parse().ok()).unwrap_or(100),
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &Path, options: &Options) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(data_dir.join("server.log")).unwrap();
        let child = agora(data_dir, options)
            .arg("serve")
            .env("AGORA_BIND", format!("127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("agora serve");
        let server = Server { child, base: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        while ureq::get(format!("{}/readyz", server.base)).call().is_err() {
            assert!(started.elapsed() < Duration::from_secs(120), "the server did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn call(&self, method: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        call(&agent(), &self.base, method, path, token, body)
    }

    fn metrics(&self) -> String {
        ureq::get(format!("{}/metrics", self.base))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default()
    }

    fn stop(mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// No SMTP: the few mails (verification at registration) are written as
/// `.eml` files under the data directory.
fn agora(data_dir: &Path, options: &Options) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .env("AGORA_DATA_DIR", data_dir)
        .env("AGORA_JWT_SECRET", JWT_SECRET)
        .env("AGORA_RATE_LIMITS", "off")
        .env("AGORA_WEBHOOK_ALLOW_PRIVATE", "true")
        .env("AGORA_WEBHOOK_POLL_MS", options.poll_ms.to_string())
        .env("RUST_LOG", "warn")
        .env_remove("AGORA_DATABASE_URL")
        .env_remove("AGORA_CONFIG")
        .env_remove("AGORA_SMTP_URL")
        .env_remove("AGORA_WEBHOOK_RETRY_MS");
    command
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn call(agent: &ureq::Agent, base: &str, method: &str, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let url = format!("{base}{path}");
    let mut request =
        ureq::http::Request::builder().method(method).uri(&url).header("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let request = request.body(serde_json::to_vec(body).unwrap()).unwrap();
    let mut response = agent.run(request).unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A metric's value in a /metrics text: `name` with the registry's
/// `agora_` prefix or without, and with `label` (e.g.
/// `outcome="succeeded"`) among its labels when given.
fn metric(text: &str, name: &str, label: Option<&str>) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .find(|(series, _)| {
            let bare = series.split('{').next().unwrap_or_default();
            (bare == name || bare == format!("agora_{name}")) && label.is_none_or(|label| series.contains(label))
        })
        .and_then(|(_, value)| value.trim().parse().ok())
}

/// Sessions of the three accounts (renewed each round: an access token
/// lasts 15 minutes).
struct Fixture {
    admin: String,
    asker: String,
    helper: String,
}

impl Fixture {
    fn log_in(server: &Server) -> Fixture {
        let login = |name: &str| {
            let (status, session) =
                server.call("POST", "/api/v1/auth/login", None, &json!({"login": name, "password": PASSWORD}));
            assert_eq!(status, 200, "{session}");
            session["access_token"].as_str().unwrap().to_owned()
        };
        Fixture { admin: login("bench-admin"), asker: login("asker"), helper: login("helper") }
    }
}

fn set_up(server: &Server, data_dir: &Path, options: &Options) -> Fixture {
    let mut create = agora(data_dir, options)
        .args(["user", "create", "--username", "bench-admin", "--email", "admin@bench.example", "--role", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(create.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(create.wait().unwrap().success());
    let (status, session) =
        server.call("POST", "/api/v1/auth/login", None, &json!({"login": "bench-admin", "password": PASSWORD}));
    assert_eq!(status, 200, "{session}");
    let admin = session["access_token"].as_str().unwrap().to_owned();
    let (status, mut settings) = server.call("GET", "/api/v1/admin/settings", Some(&admin), &Value::Null);
    assert_eq!(status, 200);
    settings["new_accounts"]["younger_than_hours"] = json!(0);
    assert_eq!(server.call("PUT", "/api/v1/admin/settings", Some(&admin), &settings).0, 200);
    let category = json!({"slug": "bins", "name": "Bins", "description": "Bins and recycling"});
    assert_eq!(server.call("POST", "/api/v1/categories", Some(&admin), &category).0, 201);
    for name in ["asker", "helper"] {
        let body = json!({"username": name, "email": format!("{name}@bench.example"), "password": PASSWORD});
        assert_eq!(server.call("POST", "/api/v1/auth/register", None, &body).0, 201);
    }
    let fixture = Fixture::log_in(server);
    // The same in every round, and out of the way: no answer mails.
    let body = json!({"email": {"answer_on_my_question": "off"}, "digest": "off"});
    assert_eq!(server.call("PUT", "/api/v1/me/notification-settings", Some(&fixture.asker), &body).0, 200);
    fixture
}

/// Creates the endpoints, all pointing at the receiver and subscribed to
/// `answer.created`, and disables them; returns their ids.
fn create_endpoints(server: &Server, admin: &str, url: &str) -> Vec<i64> {
    let ids: Vec<i64> = (0..ENDPOINTS)
        .map(|i| {
            let body = json!({"url": url, "events": ["answer.created"], "description": format!("bench receiver {i}")});
            let (status, created) = server.call("POST", "/api/v1/admin/webhooks", Some(admin), &body);
            assert_eq!(status, 201, "{created}");
            created["id"].as_i64().unwrap()
        })
        .collect();
    set_enabled(server, admin, &ids, false);
    ids
}

fn set_enabled(server: &Server, admin: &str, ids: &[i64], enabled: bool) {
    for id in ids {
        let (status, endpoint) =
            server.call("PATCH", &format!("/api/v1/admin/webhooks/{id}"), Some(admin), &json!({"enabled": enabled}));
        assert_eq!(status, 200, "{endpoint}");
        assert_eq!(endpoint["enabled"], enabled, "{endpoint}");
    }
}

/// POST answer for `seconds` from `connections` threads on a fresh
/// question; returns the answers posted and the seconds taken.
fn post_answers(server: &Server, fixture: &Fixture, options: &Options, round: usize) -> (u64, f64) {
    let question = json!({"title": format!("Bench question number {round} about bins"),
        "body": "The green bin was not emptied this week on our street.", "category": "bins", "tags": []});
    let (status, created) = server.call("POST", "/api/v1/questions", Some(&fixture.asker), &question);
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..options.connections)
        .map(|t| {
            let (stop, done, base, token) = (stop.clone(), done.clone(), server.base.clone(), fixture.helper.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let body = json!({"body": format!("Answer {t}-{n}: report it on the council's missed bin form.")});
                    let (status, _) =
                        call(&agent, &base, "POST", &format!("/api/v1/questions/{id}/answers"), Some(&token), &body);
                    assert_eq!(status, 201);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(options.seconds));
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().unwrap();
    }
    (done.load(Ordering::Relaxed), started.elapsed().as_secs_f64())
}

/// How the sender emptied what an on round left.
struct Drain {
    /// Deliveries not yet received when the round ended.
    backlog: u64,
    /// From the end of the round to the last of them received.
    seconds: f64,
}

impl Drain {
    fn per_second(&self) -> Option<f64> {
        (self.backlog > 0 && self.seconds > 0.0).then(|| self.backlog as f64 / self.seconds)
    }
}

struct Round {
    webhooks: bool,
    answers: u64,
    seconds: f64,
    /// Deliveries the receiver got while the answers were being posted.
    received: u64,
    drain: Option<Drain>,
}

impl Round {
    fn rate(&self) -> f64 {
        self.answers as f64 / self.seconds
    }

    fn expected(&self) -> u64 {
        if self.webhooks { self.answers * ENDPOINTS as u64 } else { 0 }
    }
}

/// Waits until the receiver has `target` deliveries; returns the seconds.
fn wait_for_deliveries(receiver: &Receiver, target: u64) -> f64 {
    let started = Instant::now();
    let mut reported = Instant::now();
    while receiver.received() < target {
        assert!(
            started.elapsed() < DRAIN_PATIENCE,
            "the sender did not empty its queue: {} of {target} deliveries received (server.log)",
            receiver.received()
        );
        if reported.elapsed() >= Duration::from_secs(10) {
            reported = Instant::now();
            println!("  draining: {} of {target} deliveries received", receiver.received());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    started.elapsed().as_secs_f64()
}

/// Waits until /metrics shows no delivery waiting (pending or failed).
fn wait_until_idle(server: &Server) {
    let started = Instant::now();
    loop {
        let metrics = server.metrics();
        if metric(&metrics, "webhook_queue_length", None) == Some(0.0) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "deliveries still waiting though all were received: {}",
            metrics.lines().filter(|l| l.contains("webhook")).collect::<Vec<_>>().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn main() {
    let options = options();
    let data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-webhooks");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).unwrap();
    let receiver = Receiver::start();
    let server = Server::start(&data_dir, &options);
    let fixture = set_up(&server, &data_dir, &options);
    let endpoints = create_endpoints(&server, &fixture.admin, &receiver.url());

    let mut rounds: Vec<Round> = Vec::new();
    for round in 0..4 {
        let webhooks = round % 2 == 1;
        let fixture = Fixture::log_in(&server);
        set_enabled(&server, &fixture.admin, &endpoints, webhooks);
        let before = receiver.received();
        let (answers, seconds) = post_answers(&server, &fixture, &options, round);
        let at_end = receiver.received();
        let mut measured = Round { webhooks, answers, seconds, received: at_end - before, drain: None };
        if webhooks {
            let target = before + measured.expected();
            let backlog = target.saturating_sub(at_end);
            let seconds = wait_for_deliveries(&receiver, target);
            wait_until_idle(&server);
            measured.drain = Some(Drain { backlog, seconds });
        }
        print!(
            "POST answer, webhooks {}: {:.0} req/s ({} answers",
            if webhooks { "on" } else { "off" },
            measured.rate(),
            measured.answers
        );
        match &measured.drain {
            Some(drain) => println!(
                "; {} of {} deliveries received during the round, the other {} in {:.2} s{})",
                measured.received,
                measured.expected(),
                drain.backlog,
                drain.seconds,
                drain.per_second().map(|r| format!(": {r:.0} deliveries/s")).unwrap_or_default()
            ),
            None => println!("; {} deliveries received)", measured.received),
        }
        rounds.push(measured);
    }
    let mean = |webhooks: bool| {
        let rates: Vec<f64> = rounds.iter().filter(|r| r.webhooks == webhooks).map(Round::rate).collect();
        rates.iter().sum::<f64>() / rates.len() as f64
    };
    let (off, on) = (mean(false), mean(true));
    let ratio = on / off;
    println!("ratio webhooks on / off: {ratio:.2}");

    let on_rounds: Vec<&Round> = rounds.iter().filter(|r| r.webhooks).collect();
    let answers_on: u64 = on_rounds.iter().map(|r| r.answers).sum();
    let expected_on: u64 = on_rounds.iter().map(|r| r.expected()).sum();
    let received_during: u64 = on_rounds.iter().map(|r| r.received).sum();
    let sent_in_on_rounds: f64 =
        on_rounds.iter().map(|r| r.seconds + r.drain.as_ref().map_or(0.0, |d| d.seconds)).sum();
    let overall_per_second = expected_on as f64 / sent_in_on_rounds;
    let last = on_rounds.last().and_then(|r| r.drain.as_ref()).expect("an on round");
    let metrics = server.metrics();
    let outcome = |name: &str| {
        metric(&metrics, "webhook_deliveries_total", Some(format!("outcome=\"{name}\"").as_str())).unwrap_or(0.0) as u64
    };
    let (succeeded, failed, abandoned) = (outcome("succeeded"), outcome("failed"), outcome("abandoned"));
    let received_total = receiver.received();
    println!(
        "deliveries: {received_total} received for {expected_on} expected ({answers_on} answers × {ENDPOINTS}); \
         sender outcomes: {succeeded} succeeded, {failed} failed, {abandoned} abandoned"
    );
    server.stop();

    let mut report = String::new();
    let date = chrono::Utc::now().format("%Y-%m-%d");
    let _ = writeln!(report, "# Webhooks benchmark, {date}\n");
    let _ = writeln!(
        report,
        "{} `agora serve` on SQLite (`bench/webhooks.rs`), {} client threads posting answers to one question, \
         {} s per round, the sender polling every {} ms. On: {ENDPOINTS} enabled endpoints subscribed to \
         `answer.created`, all pointing at a receiver on loopback (HTTP/1.1 keep-alive, `200` at once), so \
         {ENDPOINTS} deliveries per answer; off: the same endpoints disabled (PATCH `enabled: false`), \
         nothing enqueued. Rounds alternate off/on/off/on; after each on round the queue is emptied before \
         the next round starts.\n",
        if cfg!(debug_assertions) { "An unoptimised (debug) build of" } else { "The release" },
        options.connections,
        options.seconds,
        options.poll_ms
    );
    let _ = writeln!(
        report,
        "| round | webhooks | POST answer | answers | deliveries received during the round | left at its end | emptied in |"
    );
    let _ = writeln!(report, "|---|---|---|---|---|---|---|");
    for (i, round) in rounds.iter().enumerate() {
        let (expected, left, drained) = match &round.drain {
            Some(drain) => (
                format!(" of {}", round.expected()),
                drain.backlog.to_string(),
                format!(
                    "{:.2} s{}",
                    drain.seconds,
                    drain.per_second().map(|r| format!(" ({r:.0} deliveries/s)")).unwrap_or_default()
                ),
            ),
            None => (String::new(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            report,
            "| {} | {} | {:.0} req/s | {} | {}{expected} | {left} | {drained} |",
            i + 1,
            if round.webhooks { "on" } else { "off" },
            round.rate(),
            round.answers,
            round.received
        );
    }
    let _ = writeln!(report, "\n| measure | figure |\n|---|---|");
    let _ = writeln!(report, "| POST answer, webhooks off (mean of 2 rounds) | {off:.0} req/s |");
    let _ = writeln!(report, "| POST answer, {ENDPOINTS} endpoints on (mean of 2 rounds) | {on:.0} req/s |");
    let _ = writeln!(report, "| **ratio on / off** (target ≥ 0.9) | **{ratio:.2}** |");
    let _ = writeln!(
        report,
        "| deliveries received during the on rounds | {received_during} of {expected_on} ({:.0} %; {answers_on} answers × {ENDPOINTS}) |",
        if expected_on == 0 { 0.0 } else { 100.0 * received_during as f64 / expected_on as f64 }
    );
    let _ = writeln!(
        report,
        "| queue left by the last round, emptied | {} deliveries in {:.2} s{} |",
        last.backlog,
        last.seconds,
        last.per_second().map(|r| format!(": **{r:.0} deliveries/s**")).unwrap_or_default()
    );
    let _ = writeln!(
        report,
        "| deliveries/s over the on rounds and their draining | {overall_per_second:.0} ({expected_on} in {sent_in_on_rounds:.1} s) |"
    );
    let _ = writeln!(
        report,
        "| received in all / sender outcomes | {received_total} / {succeeded} succeeded, {failed} failed, {abandoned} abandoned |"
    );
    let results = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::write(results.join(format!("{date}-webhooks.md")), report).unwrap();
}
