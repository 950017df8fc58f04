//! The test harness: a real server on a random port over a real database
//! (a fresh SQLite file, or a fresh PostgreSQL database when
//! `AGORA_TEST_DATABASE_URL` names a server), driven over real HTTP. Every
//! response is checked against `openapi.yaml`.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use actix_web::web;
use agora::clock::Clock;
use agora::config::Settings;
use agora::domain::{Email, Password, Role, Username};
use agora::http::state::AppState;
use agora::startup::{self, Application};
use agora::store::{self, DbConn};
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{Value, json};
use ureq::http;

use super::spec;

pub const PASSWORD: &str = "correct horse battery staple";

/// The PostgreSQL server tests run against, when asked to.
/// Polls until `check` holds, failing after `limit`.
#[track_caller]
pub fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Percent-encodes everything but unreserved characters, for a value in a
/// query string.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("AGORA_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// A database that exists for one test and is removed after it.
pub enum TestDatabase {
    Sqlite { dir: PathBuf, url: String },
    Postgres { admin_url: String, name: String, url: String },
}

impl TestDatabase {
    pub fn create() -> (TestDatabase, String) {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match postgres_admin_url() {
            Some(admin_url) => {
                let name = format!("agora_test_{unique}");
                let mut admin = PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("AGORA_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create database");
                let url = with_database(&admin_url, &name);
                (TestDatabase::Postgres { admin_url, name, url: url.clone() }, url)
            }
            None => {
                let dir = std::env::temp_dir().join(format!("agora-test-{unique}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = dir.join("agora.db").to_string_lossy().into_owned();
                (TestDatabase::Sqlite { dir, url: url.clone() }, url)
            }
        }
    }

    /// A directory removed with the database (a node's data dir lives in it).
    pub fn scratch_dir(&self) -> PathBuf {
        match self {
            TestDatabase::Sqlite { dir, .. } => dir.clone(),
            TestDatabase::Postgres { name, .. } => std::env::temp_dir().join(format!("agora-test-{name}")),
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self {
            TestDatabase::Sqlite { dir, .. } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            TestDatabase::Postgres { admin_url, name, .. } => {
                if let Ok(mut admin) = PgConnection::establish(admin_url) {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
                }
                let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("agora-test-{name}")));
            }
        }
    }
}

/// Replaces the database name of a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let host_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[host_end..].find('/') {
        Some(slash) => &base[..host_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// A running server and what a test needs to drive and inspect it.
pub struct TestApp {
    pub address: String,
    pub clock: Clock,
    pub state: web::Data<AppState>,
    agent: ureq::Agent,
    server: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    /// Dropped last: the server must stop before its database goes.
    pub db: std::sync::Arc<TestDatabase>,
}

impl TestApp {
    pub fn conn(&self) -> store::PooledConn {
        self.state.pool.get().expect("database connection")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server and wait for its thread, which stops the indexer
        // after a last commit.
        drop(self.server.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(|_| {})
}

/// Spawns an app after letting the test adjust its settings.
pub fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let (db, _) = TestDatabase::create();
    let db = std::sync::Arc::new(db);
    let data_dir = db.scratch_dir().join("node-a");
    spawn_node(&db, data_dir, adjust)
}

/// Spawns a node on an existing test database with its own data dir (a
/// second API node, or the same node restarted).
pub fn spawn_node(db: &std::sync::Arc<TestDatabase>, data_dir: PathBuf, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings {
        data_dir,
        bind: "127.0.0.1:0".to_owned(),
        database_url: Some(db.url().to_owned()),
        jwt_secret: Some("test-secret-0123456789-0123456789-abcdef".to_owned()),
        workers: Some(2),
        db_pool_size: 4,
        // Generous limits so the limiter runs on every test without getting
        // in the way; the rate-limit tests set their own.
        rate_limits: agora::config::RateLimits {
            auth: agora::config::Limit { per_minute: 100_000, burst: 10_000 },
            write_per_user: agora::config::Limit { per_minute: 100_000, burst: 10_000 },
            write_per_ip: agora::config::Limit { per_minute: 100_000, burst: 10_000 },
            events: agora::config::Limit { per_minute: 100_000, burst: 10_000 },
            search: agora::config::Limit { per_minute: 100_000, burst: 10_000 },
            enabled: true,
        },
        ..Settings::default()
    };
    adjust(&mut settings);
    let database = startup::open_database(&settings).expect("open test database");
    let clock = Clock::default();
    let state = startup::build_state(settings, database, clock.clone()).expect("state");
    let (sender, receiver) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build(state).expect("bind test server");
            sender.send((app.port(), app.server().handle(), app.state())).expect("report port");
            app.run_until_stopped().await
        })
    });
    let (port, server, state) = receiver.recv_timeout(Duration::from_secs(30)).expect("server started");
    // Tests start once the search index is built, as a load balancer would
    // wait for /readyz.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !state.search.is_ready() {
        assert!(std::time::Instant::now() < deadline, "the search index was not ready in time");
        std::thread::sleep(Duration::from_millis(10));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        clock,
        state,
        agent,
        server,
        thread: Some(thread),
        db: db.clone(),
    }
}

/// A response, already checked against the spec.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub text: String,
    /// The body as received (`text` is it as UTF-8, lossily).
    pub bytes: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and, for errors, the problem code.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> Value {
        self.assert_status(status);
        let body = self.json();
        assert_eq!(body["code"], code, "problem: {body}");
        assert_eq!(body["status"], status, "problem: {body}");
        body
    }
}

/// A request under construction.
pub struct Call<'a> {
    app: &'a TestApp,
    method: http::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl<'a> Call<'a> {
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(serde_json::to_vec(body).expect("serialize"));
        self.header("Content-Type", "application/json")
    }

    /// A raw body, sent as-is with the given content type.
    pub fn raw(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.header("Content-Type", content_type)
    }

    #[track_caller]
    pub fn send(self) -> TestResponse {
        let url = format!("{}{}", self.app.address, self.path);
        let mut builder = http::Request::builder().method(self.method.clone()).uri(&url);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let request = builder.body(self.body.unwrap_or_default()).expect("request");
        let mut response = self.app.agent.run(request).unwrap_or_else(|e| panic!("{} {url}: {e}", self.method));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.body_mut().with_config().limit(50 * 1024 * 1024).read_to_vec().unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let result = TestResponse { status, headers, text, bytes };
        check_response(self.method.as_str(), &self.path, &result);
        result
    }
}

/// What every response must satisfy, whatever the test: a request id, no
/// 500 (a 503 is the database busy, a 502 the council's Open311 endpoint
/// failing: neither is a fault of ours), problem+json for errors, and the
/// documented schema.
#[track_caller]
fn check_response(method: &str, path: &str, response: &TestResponse) {
    assert!(response.header("x-request-id").is_some(), "{method} {path}: no X-Request-Id");
    assert!(
        response.status < 500 || response.status == 502 || response.status == 503,
        "{method} {path}: server error {}",
        response.text
    );
    if response.status >= 400 {
        let content_type = response.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("application/problem+json"), "{method} {path}: error as {content_type}");
    }
    spec::check_against_spec(method, path, response);
}

impl TestApp {
    pub fn call(&self, method: &str, path: &str) -> Call<'_> {
        Call {
            app: self,
            method: http::Method::from_bytes(method.as_bytes()).expect("method"),
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn get(&self, path: &str) -> Call<'_> {
        self.call("GET", path)
    }

    pub fn post(&self, path: &str, body: &Value) -> Call<'_> {
        self.call("POST", path).json(body)
    }

    pub fn patch(&self, path: &str, body: &Value) -> Call<'_> {
        self.call("PATCH", path).json(body)
    }

    /// Registers a resident through the API.
    #[track_caller]
    pub fn register(&self, username: &str) -> TestUser {
        let response = self
            .post(
                "/api/v1/auth/register",
                &json!({"username": username, "email": format!("{username}@example.org"), "password": PASSWORD}),
            )
            .send();
        response.assert_status(201);
        TestUser::from_session(&response.json())
    }

    #[track_caller]
    pub fn login(&self, login: &str, password: &str) -> TestResponse {
        self.post("/api/v1/auth/login", &json!({"login": login, "password": password})).send()
    }

    /// Creates a user with roles directly (as `agora user create` does) and
    /// logs in through the API.
    #[track_caller]
    pub fn user_with_roles(&self, username: &str, roles: &[Role]) -> TestUser {
        let mut conn = self.conn();
        agora::service::accounts::create_user_cli(
            &mut conn,
            self.clock.now(),
            &Username::parse_allowing_reserved(username).unwrap(),
            &Email::parse(&format!("{username}@example.org")).unwrap(),
            &Password::parse(PASSWORD, None).unwrap(),
            roles,
        )
        .expect("create user");
        let response = self.login(username, PASSWORD);
        response.assert_status(200);
        TestUser::from_session(&response.json())
    }

    /// Direct database work; it may change what reads show, like a write
    /// through this node (so the read cache starts afresh). The page views
    /// the node holds are written first, so the database shows them.
    pub fn with_conn<T>(&self, f: impl FnOnce(&mut DbConn) -> T) -> T {
        let mut conn = self.conn();
        self.state.views.flush(&mut conn).expect("page views written");
        let result = f(&mut conn);
        self.state.reads.note_write();
        result
    }
}

/// A logged-in user as a test sees it.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub access_token: String,
    pub refresh_token: String,
}

impl TestUser {
    pub fn from_session(session: &Value) -> TestUser {
        TestUser {
            id: session["user"]["id"].as_i64().expect("user id"),
            access_token: session["access_token"].as_str().expect("access token").to_owned(),
            refresh_token: session["refresh_token"].as_str().expect("refresh token").to_owned(),
        }
    }
}

/// Shortcuts for the Q&A tests.
impl TestApp {
    pub fn admin(&self) -> TestUser {
        self.user_with_roles("admin_root", &[Role::Admin])
    }

    #[track_caller]
    pub fn create_category(&self, admin: &TestUser, slug: &str) -> Value {
        let body = json!({"slug": slug, "name": format!("Category {slug}"), "description": "Test category"});
        self.post("/api/v1/categories", &body).bearer(&admin.access_token).send().assert_status(201).json()
    }

    /// Asks a question through the API and returns the created page.
    #[track_caller]
    pub fn ask(&self, user: &TestUser, category: &str, title: &str, tags: &[&str]) -> Value {
        let body = json!({
            "title": title,
            "body": format!("{title} - some more detail so the body is long enough."),
            "category": category,
            "tags": tags,
        });
        self.post("/api/v1/questions", &body).bearer(&user.access_token).send().assert_status(201).json()
    }

    #[track_caller]
    pub fn answer(&self, user: &TestUser, question_id: i64, body: &str) -> Value {
        self.post(&format!("/api/v1/questions/{question_id}/answers"), &json!({"body": body}))
            .bearer(&user.access_token)
            .send()
            .assert_status(201)
            .json()
    }

    /// Sets a user's reputation directly (reputation events come later).
    pub fn set_reputation(&self, user_id: i64, reputation: i32) {
        use agora::store::schema::users;
        use diesel::prelude::*;
        self.with_conn(|conn| {
            diesel::update(users::table.find(user_id)).set(users::reputation.eq(reputation)).execute(conn).unwrap()
        });
    }

    pub fn question(&self, id: i64) -> Value {
        self.get(&format!("/api/v1/questions/{id}")).send().assert_status(200).json()
    }
}

/// Settings and reputation shortcuts.
impl TestApp {
    /// Changes the community settings through the admin API.
    #[track_caller]
    pub fn change_settings(&self, admin: &TestUser, change: impl FnOnce(&mut Value)) {
        let mut settings =
            self.get("/api/v1/admin/settings").bearer(&admin.access_token).send().assert_status(200).json();
        change(&mut settings);
        self.call("PUT", "/api/v1/admin/settings")
            .json(&settings)
            .bearer(&admin.access_token)
            .send()
            .assert_status(200);
    }

    pub fn reputation(&self, user_id: i64) -> i64 {
        self.get(&format!("/api/v1/users/{user_id}")).send().assert_status(200).json()["reputation"].as_i64().unwrap()
    }

    /// 1 + the sum of the user's ledger.
    pub fn ledger_reputation(&self, user_id: i64) -> i64 {
        self.with_conn(|conn| agora::store::reputation::for_user(conn, user_id).unwrap())
            .iter()
            .map(|e| i64::from(e.delta))
            .sum::<i64>()
            + 1
    }
}
