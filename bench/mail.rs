//! Mail benchmark: what mail costs a write, and how fast the sender empties
//! a queue, against a real SMTP server on loopback (the tests' sink,
//! `tests/api/mail/smtp.rs`).
//!
//!     cargo bench --bench mail -- [--seconds 10] [--connections 8] [--queue 10000]
//!
//! 1. POST answer req/s with mail enabled (the asker wants answers by mail
//!    at once: every answer enqueues a mail in its transaction and the
//!    sender delivers it meanwhile) as a ratio to mail disabled (the asker
//!    turned that kind off: nothing is enqueued), on the release `agora
//!    serve` over SQLite, alternating off/on/off/on so drift cancels out.
//!    Target: ≥ 0.9.
//! 2. Mails delivered per second from a queue of 10,000 written straight
//!    into the outbox while the server is stopped.
//!
//! The load comes from client threads here (ureq, keep-alive), not wrk:
//! POST answer needs a fresh body per request and the figure wanted is a
//! ratio measured on one server, so the client's own cost cancels out.
//! Writes bench/results/<date>-mail.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "../tests/api/mail/smtp.rs"]
#[allow(dead_code)]
mod smtp;
use smtp::SmtpSink;

const PASSWORD: &str = "bench-password-long-enough";
const JWT_SECRET: &str = "mail-bench-secret-that-is-long-enough-0123456789";

struct Options {
    seconds: u64,
    connections: usize,
    queue: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    Options {
        seconds: value("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10),
        connections: value("--connections").and_then(|s| s.parse().ok()).unwrap_or(8),
        queue: value("--queue").and_then(|s| s.parse().ok()).unwrap_or(10_000),
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &Path, smtp_url: &str) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(data_dir.join("server.log")).unwrap();
        let child = agora(data_dir, smtp_url)
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

    fn stop(mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn agora(data_dir: &Path, smtp_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command
        .env("AGORA_DATA_DIR", data_dir)
        .env("AGORA_JWT_SECRET", JWT_SECRET)
        .env("AGORA_RATE_LIMITS", "off")
        .env("AGORA_SMTP_URL", smtp_url)
        .env("AGORA_MAIL_POLL_MS", "50")
        .env("RUST_LOG", "warn")
        .env_remove("AGORA_DATABASE_URL")
        .env_remove("AGORA_CONFIG");
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

struct Fixture {
    asker: String,
    helper: String,
}

fn set_up(server: &Server, sink: &SmtpSink, data_dir: &Path) -> Fixture {
    let mut create = agora(data_dir, "smtp://127.0.0.1:1")
        .args(["user", "create", "--username", "bench-admin", "--email", "admin@bench.example", "--role", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    writeln!(create.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(create.wait().unwrap().success());
    let login = |name: &str| {
        let (status, session) =
            server.call("POST", "/api/v1/auth/login", None, &json!({"login": name, "password": PASSWORD}));
        assert_eq!(status, 200, "{session}");
        session["access_token"].as_str().unwrap().to_owned()
    };
    let admin = login("bench-admin");
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
    let verification = sink.wait_for("asker@bench.example", 1).remove(0);
    let token = verification.token_after("/account/verify").unwrap();
    assert_eq!(server.call("POST", "/api/v1/auth/verify-email", None, &json!({"token": token})).0, 204);
    Fixture { asker: login("asker"), helper: login("helper") }
}

/// POST answer for `seconds` from `connections` threads on a fresh
/// question; returns req/s.
fn answer_rate(server: &Server, fixture: &Fixture, options: &Options, round: usize) -> f64 {
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
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn set_mail(server: &Server, fixture: &Fixture, mode: &str) {
    let body = json!({"email": {"answer_on_my_question": mode}, "digest": "off"});
    assert_eq!(server.call("PUT", "/api/v1/me/notification-settings", Some(&fixture.asker), &body).0, 200);
}

/// Writes `n` verification mails for the asker straight into the outbox.
fn fill_queue(data_dir: &Path, n: usize) {
    use agora::store::schema::{mail_outbox, users};
    use diesel::prelude::*;
    let url = data_dir.join("agora.db").to_string_lossy().into_owned();
    let mut conn = diesel::SqliteConnection::establish(&url).unwrap();
    let (asker, email): (i64, String) =
        users::table.filter(users::username.eq("asker")).select((users::id, users::email)).first(&mut conn).unwrap();
    let now = chrono::Utc::now().naive_utc();
    conn.transaction(|conn| {
        for _ in 0..n {
            diesel::insert_into(mail_outbox::table)
                .values((
                    mail_outbox::user_id.eq(asker),
                    mail_outbox::kind.eq("verify_email"),
                    mail_outbox::to_address.eq(&email),
                    mail_outbox::payload.eq(r#"{"token":"bench-token-not-a-real-one"}"#),
                    mail_outbox::status.eq("pending"),
                    mail_outbox::next_attempt_at.eq(now),
                    mail_outbox::created_at.eq(now),
                ))
                .execute(conn)?;
        }
        diesel::QueryResult::Ok(())
    })
    .unwrap();
}

fn main() {
    let options = options();
    let data_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-mail");
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).unwrap();
    let sink = SmtpSink::start();
    let server = Server::start(&data_dir, &sink.url());
    let fixture = set_up(&server, &sink, &data_dir);

    let mut off = Vec::new();
    let mut on = Vec::new();
    for round in 0..4 {
        let enabled = round % 2 == 1;
        set_mail(&server, &fixture, if enabled { "instant" } else { "off" });
        let rate = answer_rate(&server, &fixture, &options, round);
        println!("POST answer, mail {}: {rate:.0} req/s", if enabled { "on" } else { "off" });
        if enabled { on.push(rate) } else { off.push(rate) }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let ratio = mean(&on) / mean(&off);
    println!("ratio mail on / off: {ratio:.2}");

    // Let the answers' mails drain, then time a queue of `options.queue`.
    let drain = Instant::now();
    while ureq::get(format!("{}/metrics", server.base))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .is_none_or(|m| !m.contains("agora_mail_queued 0"))
    {
        assert!(drain.elapsed() < Duration::from_secs(600), "the answers' mails did not drain");
        std::thread::sleep(Duration::from_millis(100));
    }
    let answer_mails = sink.mails().len();
    server.stop();
    fill_queue(&data_dir, options.queue);
    let started = Instant::now();
    let server = Server::start(&data_dir, &sink.url());
    sink.wait_for_total(answer_mails + options.queue, Duration::from_secs(1800));
    let seconds = started.elapsed().as_secs_f64();
    let per_second = options.queue as f64 / seconds;
    println!("{} queued mails delivered in {seconds:.1} s: {per_second:.0} mails/s", options.queue);
    server.stop();

    let mut report = String::new();
    let date = chrono::Utc::now().format("%Y-%m-%d");
    let _ = writeln!(report, "# Mail benchmark, {date}\n");
    let _ = writeln!(
        report,
        "{} `agora serve` on SQLite, SMTP to the tests' sink on loopback (`bench/mail.rs`), \
         {} client threads, {} s per round.\n",
        if cfg!(debug_assertions) { "An unoptimised (debug) build of" } else { "The release" },
        options.connections,
        options.seconds
    );
    let _ = writeln!(report, "| measure | figure |\n|---|---|");
    let _ = writeln!(report, "| POST answer, mail off (mean of 2 rounds) | {:.0} req/s |", mean(&off));
    let _ = writeln!(report, "| POST answer, mail on (mean of 2 rounds) | {:.0} req/s |", mean(&on));
    let _ = writeln!(report, "| **ratio on / off** (target ≥ 0.9) | **{ratio:.2}** |");
    let _ = writeln!(
        report,
        "| mails delivered from a queue of {} | {per_second:.0} mails/s ({seconds:.1} s, including the start) |",
        options.queue
    );
    let _ = writeln!(report, "| mails of the answer rounds, all delivered | {answer_mails} |");
    let results = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::write(results.join(format!("{date}-mail.md")), report).unwrap();
}
