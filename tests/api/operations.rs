//! Operations: metrics, readiness, and the database going away and coming
//! back (PostgreSQL stopped, or the SQLite file locked by another process).

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::helpers::{TestApp, TestDatabase, postgres_admin_url, spawn_app_with};
use super::process::Node;

fn metric_line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|line| line.starts_with(prefix))
}

fn metric_value(text: &str, prefix: &str) -> Option<f64> {
    metric_line(text, prefix)?.rsplit(' ').next()?.parse().ok()
}

#[test]
fn metrics_count_requests_by_route_template_and_show_index_lag() {
    let app = spawn_app_with(|_| {});
    let admin = app.admin();
    app.create_category(&admin, "bins");
    let question = app.ask(&admin, "bins", "When is the green bin collected on Elm Street", &[]);
    let id = question["id"].as_i64().unwrap();
    for _ in 0..3 {
        app.get(&format!("/api/v1/questions/{id}")).send().assert_status(200);
    }
    app.get("/api/v1/questions/999999999").send().assert_status(404);
    app.get("/no/such/path/at/all").send().assert_status(404);
    let event = json!({"events": [{"event_id": "6f1c1f0e-8d4b-4a52-9a7e-2f4f4b7c9d10", "type": "search_performed", "visitor_id": "v-metrics",
        "occurred_at": app.clock.now_utc().to_rfc3339(), "query": "bins"}]});
    app.post("/api/v1/events", &event).send().assert_status(202);
    app.post("/api/v1/events", &event).send().assert_status(202);

    let response = app.get("/metrics").send().assert_status(200).text.clone();
    let route = r#"route="/api/v1/questions/{id}""#;
    assert_eq!(
        metric_value(&response, &format!(r#"agora_http_requests_total{{method="GET",{route},status="200"}}"#)),
        Some(3.0),
        "{response}"
    );
    assert_eq!(
        metric_value(&response, &format!(r#"agora_http_requests_total{{method="GET",{route},status="404"}}"#)),
        Some(1.0)
    );
    // Unknown paths share one label value, whatever the path.
    assert!(
        metric_line(&response, r#"agora_http_requests_total{method="GET",route="unmatched",status="404"}"#).is_some()
    );
    assert!(!response.contains("/no/such/path"), "raw paths must not become labels");
    assert!(
        metric_line(
            &response,
            &format!(r#"agora_http_request_duration_seconds_bucket{{le="0.001",method="GET",{route}}}"#)
        )
        .is_some(),
        "{response}"
    );
    assert_eq!(metric_value(&response, r#"agora_events_ingested_total{outcome="stored"}"#), Some(1.0));
    assert_eq!(metric_value(&response, r#"agora_events_ingested_total{outcome="duplicate"}"#), Some(1.0));
    assert_eq!(metric_value(&response, "agora_database_up "), Some(1.0));
    assert_eq!(metric_value(&response, "agora_search_index_ready "), Some(1.0));
    assert_eq!(metric_value(&response, "agora_db_pool_max_connections "), Some(4.0));
    assert!(metric_value(&response, "agora_db_queries_total ").unwrap() > 0.0);
    assert!(metric_value(&response, "agora_search_index_lag_entries ").is_some());
    assert!(metric_value(&response, "agora_search_index_lag_seconds ").is_some());
}

/// A TCP relay between the server and PostgreSQL that can be cut (the
/// port refuses connections and open ones are reset) and restored, as
/// when PostgreSQL is stopped and started again.
struct Relay {
    port: u16,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay { port, down: Arc::new(AtomicBool::new(false)), open: Arc::new(Mutex::new(Vec::new())) };
        let (down, open) = (relay.down.clone(), relay.open.clone());
        std::thread::spawn(move || accept_loop(listener, port, upstream, down, open));
        relay
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
        // Let the accept loop drop its listener.
        std::thread::sleep(Duration::from_millis(100));
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

fn accept_loop(
    mut listener: TcpListener,
    port: u16,
    upstream: String,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
) {
    listener.set_nonblocking(true).unwrap();
    loop {
        if down.load(Ordering::SeqCst) {
            drop(listener);
            while down.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            listener = TcpListener::bind(("127.0.0.1", port)).expect("rebind the relay port");
            listener.set_nonblocking(true).unwrap();
        }
        match listener.accept() {
            Ok((client, _)) => {
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let mut tracked = open.lock().unwrap();
                tracked.push(client.try_clone().unwrap());
                tracked.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// `postgres://user@host:port/db` with host:port replaced.
fn via_relay(url: &str, port: u16) -> String {
    let start = url.find('@').map_or_else(|| url.find("://").unwrap() + 3, |at| at + 1);
    let end = start + url[start..].find('/').unwrap();
    format!("{}127.0.0.1:{port}{}", &url[..start], &url[end..])
}

fn upstream_of(url: &str) -> String {
    let start = url.find('@').map_or_else(|| url.find("://").unwrap() + 3, |at| at + 1);
    let end = start + url[start..].find('/').unwrap();
    let host_port = &url[start..end];
    if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") }
}

/// Asserts a 503 problem that came back quickly.
#[track_caller]
fn assert_quick_503(app: &TestApp, method: &str, path: &str, body: Option<&serde_json::Value>, token: &str) {
    let started = Instant::now();
    let mut call = app.call(method, path).bearer(token);
    if let Some(body) = body {
        call = call.json(body);
    }
    let response = call.send();
    let elapsed = started.elapsed();
    response.assert_problem(503, "service_unavailable");
    assert!(response.header("retry-after").is_some());
    assert!(elapsed < Duration::from_secs(5), "{method} {path} took {elapsed:?} to fail");
}

#[track_caller]
fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn postgres_going_away_gives_quick_503s_and_the_node_recovers_by_itself() {
    let Some(_) = postgres_admin_url() else { return };
    let relay_port = Arc::new(Mutex::new(None::<Relay>));
    let slot = relay_port.clone();
    let app = spawn_app_with(move |settings| {
        let url = settings.database_url.clone().unwrap();
        let relay = Relay::start(upstream_of(&url));
        settings.database_url = Some(via_relay(&url, relay.port));
        settings.db_timeout_ms = 1000;
        *slot.lock().unwrap() = Some(relay);
    });
    let relay = relay_port.lock().unwrap().take().unwrap();
    let admin = app.admin();
    app.create_category(&admin, "parking");
    let question = app.ask(&admin, "parking", "Where do I renew a resident parking permit", &[]);
    let id = question["id"].as_i64().unwrap();
    app.get("/readyz").send().assert_status(200);

    relay.cut();
    assert_quick_503(&app, "GET", &format!("/api/v1/questions/{id}"), None, &admin.access_token);
    let new_question = json!({"title": "Is the car park on Mill Lane free on Sundays",
        "body": "The sign is unclear about weekends and bank holidays.", "category": "parking"});
    assert_quick_503(&app, "POST", "/api/v1/questions", Some(&new_question), &admin.access_token);
    assert_quick_503(&app, "GET", "/api/v1/me", None, &admin.access_token);
    app.get("/readyz").send().assert_problem(503, "service_unavailable");
    app.get("/healthz").send().assert_status(200);
    let metrics = app.get("/metrics").send().assert_status(200).text.clone();
    assert_eq!(metric_value(&metrics, "agora_database_up "), Some(0.0), "{metrics}");

    relay.restore();
    wait_until("the node is ready again", || app.get("/readyz").send().status == 200);
    app.get(&format!("/api/v1/questions/{id}")).send().assert_status(200);
    let created =
        app.post("/api/v1/questions", &new_question).bearer(&admin.access_token).send().assert_status(201).json();
    let new_id = created["id"].as_i64().unwrap();
    // The indexer recovered too.
    wait_until("the new question is searchable", || {
        let page = app.get("/api/v1/search?q=Mill%20Lane%20Sundays").send().json();
        page["items"].as_array().unwrap().iter().any(|hit| hit["question_id"].as_i64() == Some(new_id))
    });
}

/// Another process holding SQLite's write lock (an operator's shell, a
/// copy tool): writes get quick 503s, reads go on (WAL), /readyz says not
/// ready, and everything recovers when the lock goes. The server runs as
/// its own process: its writer queue is per process.
#[test]
fn a_sqlite_file_locked_by_another_process_gives_quick_503s_on_writes() {
    if postgres_admin_url().is_some() {
        return;
    }
    let category = json!({"slug": "noise", "name": "Noise", "description": "Neighbours, dogs, parties"});
    let question = json!({"title": "Who do I call about a barking dog at night",
        "body": "It goes on from midnight until three most nights.", "category": "noise"});
    let env = [("AGORA_DB_TIMEOUT_MS", "1000"), ("AGORA_RATE_LIMITS", "off")];
    let LoneNode { db, node, admin, question } = LoneNode::start(&env, &category, &question);
    let answers = format!("/api/v1/questions/{}/answers", question["id"]);
    let answer = json!({"body": "Environmental health takes noise complaints online, day or night."});

    let locker = SqliteLocker::lock(&db);

    // Several writers at once all fail within the timeout: none waits for
    // the ones queued before it to time out first.
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let (status, problem) = node.call("POST", &answers, Some(&answer), Some(&admin));
                assert_eq!((status, problem["code"].as_str()), (503, Some("service_unavailable")), "{problem}");
            });
        }
    });
    assert!(started.elapsed() < Duration::from_secs(5), "queued writers took {:?}", started.elapsed());
    assert_eq!(node.call("GET", &format!("/api/v1/questions/{}", question["id"]), None, None).0, 200);
    let started = Instant::now();
    let (status, problem) = node.call("GET", "/readyz", None, None);
    assert_eq!((status, problem["code"].as_str()), (503, Some("service_unavailable")), "{problem}");
    assert!(started.elapsed() < Duration::from_secs(3));

    locker.release();
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.call("GET", "/readyz", None, None).0 != 200 {
        assert!(Instant::now() < deadline, "the node did not become ready again");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(node.call("POST", &answers, Some(&answer), Some(&admin)).0, 201);
}

/// A server running as its own process on a new SQLite file (its writer
/// queue and pools are its own, apart from the test's), with an admin,
/// `root`, who has made `category` and asked `question` in it.
struct LoneNode {
    // Dropped in this order: the server stops before its file goes.
    node: Node,
    db: TestDatabase,
    admin: String,
    question: serde_json::Value,
}

impl LoneNode {
    fn start(env: &[(&str, &str)], category: &serde_json::Value, question: &serde_json::Value) -> LoneNode {
        let (db, _) = TestDatabase::create();
        let data_dir = db.scratch_dir().join("node");
        let node = Node::start(&db, &data_dir, env);
        let admin = node.create_admin(&db, &data_dir);
        assert_eq!(node.call("POST", "/api/v1/categories", Some(category), Some(&admin)).0, 201);
        let (status, question) = node.call("POST", "/api/v1/questions", Some(question), Some(&admin));
        assert_eq!(status, 201, "{question}");
        LoneNode { node, db, admin, question }
    }
}

/// Another process holding SQLite's write lock (`BEGIN EXCLUSIVE`, which in
/// WAL mode still lets readers read), until released.
struct SqliteLocker(std::process::Child);

impl SqliteLocker {
    fn lock(db: &TestDatabase) -> SqliteLocker {
        let mut locker = Command::new("python3")
            .arg("-c")
            .arg(
                "import sqlite3, sys\n\
                 db = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                 db.execute('BEGIN EXCLUSIVE')\n\
                 print('locked', flush=True)\n\
                 sys.stdin.read()\n\
                 db.execute('ROLLBACK')\n",
            )
            .arg(db.url())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 with sqlite3 runs the locking process");
        let mut first_line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(locker.stdout.as_mut().unwrap()), &mut first_line)
            .unwrap();
        assert_eq!(first_line.trim(), "locked");
        SqliteLocker(locker)
    }

    fn release(mut self) {
        self.0.stdin.take().unwrap().write_all(b"done").unwrap();
        self.0.wait().unwrap();
    }
}

/// Writers waiting for SQLite's write lock hold every connection of the
/// request pool (here 2) while they wait; residents' reads (a question
/// page, the list, a profile) have a pool of their own and are served
/// meanwhile, and the writers' answers land once the lock goes.
#[test]
fn question_pages_are_served_while_writers_hold_every_request_connection() {
    if postgres_admin_url().is_some() {
        return;
    }
    let env = [("AGORA_DB_POOL_SIZE", "2"), ("AGORA_DB_TIMEOUT_MS", "15000"), ("AGORA_RATE_LIMITS", "off")];
    let category = json!({"slug": "roads", "name": "Roads", "description": "Potholes, gritting, street lights"});
    let question = json!({"title": "Which roads get gritted when it snows",
        "body": "Our hill was not gritted last winter and the bus could not get up.", "category": "roads"});
    let LoneNode { db, node, admin, question } = LoneNode::start(&env, &category, &question);
    let page = format!("/api/v1/questions/{}", question["id"]);
    let answers = format!("{page}/answers");
    let answer =
        json!({"body": "The gritting routes are on the council's winter page, main roads and bus routes first."});

    let locker = SqliteLocker::lock(&db);
    let landed = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let (status, body) = node.call("POST", &answers, Some(&answer), Some(&admin));
                assert_eq!(status, 201, "{body}");
                landed.fetch_add(1, Ordering::SeqCst);
            });
        }
        // The writers are in: both request connections are theirs.
        std::thread::sleep(Duration::from_millis(500));
        // Signed in, so that no read cache answers for the database.
        for path in [page.as_str(), "/api/v1/questions", "/api/v1/categories"] {
            let started = Instant::now();
            let (status, body) = node.call("GET", path, None, Some(&admin));
            assert_eq!(status, 200, "GET {path}: {body}");
            assert!(started.elapsed() < Duration::from_secs(3), "GET {path} waited {:?}", started.elapsed());
        }
        assert_eq!(landed.load(Ordering::SeqCst), 0, "a writer got past the lock: the test held nothing");
        locker.release();
    });
    assert_eq!(landed.load(Ordering::SeqCst), 4);
    let (_, page) = node.call("GET", &page, None, Some(&admin));
    assert_eq!(page["answers"].as_array().unwrap().len(), 4);
}
