//! A real `agora` process: `agora serve` on a test database, for tests that
//! must kill it or run the binary as operators do, and the zero-configuration
//! start of a newcomer.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl};
use serde_json::{Value, json};

use super::helpers::TestDatabase;

pub struct Node {
    child: Child,
    pub address: String,
    agent: ureq::Agent,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Node {
    /// Starts `agora serve` on the database with `data_dir` and waits until
    /// it is ready.
    pub fn start(db: &TestDatabase, data_dir: &Path, env: &[(&str, &str)]) -> Node {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
        command
            .arg("serve")
            .env("AGORA_DATA_DIR", data_dir)
            .env("AGORA_DATABASE_URL", db.url())
            .env("AGORA_BIND", format!("127.0.0.1:{port}"))
            .env("AGORA_JWT_SECRET", "test-secret-0123456789-0123456789-abcdef")
            .env("AGORA_WORKERS", "2")
            .env("AGORA_DB_POOL_SIZE", "4")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        Node::launch(command, port, None)
    }

    /// Starts `agora serve` with nothing configured but the port, in
    /// `workdir`, as a newcomer runs it; its output goes to `log`.
    pub fn start_unconfigured(workdir: &Path, log: &Path) -> Node {
        let port = free_port();
        let mut command = unconfigured_agora(workdir);
        command
            .arg("serve")
            .env("AGORA_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"));
        Node::launch(command, port, Some(log))
    }

    /// Spawns the prepared command and waits until it is ready; `log` is
    /// where its output goes, to show if it fails.
    fn launch(mut command: Command, port: u16, log: Option<&Path>) -> Node {
        let child = command.spawn().expect("start agora serve");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut node = Node { child, address: format!("http://127.0.0.1:{port}"), agent };
        let deadline = Instant::now() + Duration::from_secs(60);
        while node.get("/readyz").0 != 200 {
            if let Ok(Some(status)) = node.child.try_wait() {
                let output = log.and_then(|log| std::fs::read_to_string(log).ok()).unwrap_or_default();
                panic!("agora serve exited before it was ready ({status}): {output}");
            }
            assert!(Instant::now() < deadline, "agora serve did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        match self.agent.get(format!("{}{path}", self.address)).call() {
            Ok(mut response) => {
                let status = response.status().as_u16();
                (status, response.body_mut().read_json().unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    pub fn post(&self, path: &str, body: &Value, token: &str) -> (u16, Value) {
        let mut response = self
            .agent
            .post(format!("{}{path}", self.address))
            .header("Authorization", format!("Bearer {token}"))
            .send_json(body)
            .expect("request");
        let status = response.status().as_u16();
        (status, response.body_mut().read_json().unwrap_or(Value::Null))
    }

    /// Any request; status 0 when the server did not answer.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>, token: Option<&str>) -> (u16, Value) {
        let url = format!("{}{path}", self.address);
        let mut request = ureq::http::Request::builder().method(method).uri(url);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let result = match body {
            Some(body) => {
                self.agent.run(request.header("Content-Type", "application/json").body(body.to_string()).unwrap())
            }
            None => self.agent.run(request.body(String::new()).unwrap()),
        };
        match result {
            Ok(mut response) => {
                let status = response.status().as_u16();
                (status, response.body_mut().read_json().unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        }
    }

    /// Creates the admin `root` with `agora user create` (as an operator
    /// does on a new install) and returns their access token.
    pub fn create_admin(&self, db: &TestDatabase, data_dir: &Path) -> String {
        let password = super::helpers::PASSWORD;
        agora(
            db,
            data_dir,
            &["user", "create", "--username", "root", "--email", "root@example.org", "--role", "admin"],
            &format!("{password}\n"),
        );
        self.login("root", password)
    }

    pub fn login(&self, login: &str, password: &str) -> String {
        let (status, session) = self.post("/api/v1/auth/login", &json!({"login": login, "password": password}), "none");
        assert_eq!(status, 200, "{session}");
        session["access_token"].as_str().unwrap().to_owned()
    }

    pub fn search_ids(&self, q: &str) -> Vec<i64> {
        let (status, page) = self.get(&format!("/api/v1/search?q={q}&limit=100"));
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().iter().map(|h| h["question_id"].as_i64().unwrap()).collect()
    }

    /// SIGTERM, as systemd stops a service; waits for the exit and
    /// returns whether it was clean (within `limit`).
    pub fn terminate(mut self, limit: Duration) -> bool {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The names of the process's threads (Linux's /proc).
    pub fn thread_names(&self) -> Vec<String> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).expect("the node's /proc entry");
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect()
    }

    /// SIGKILL: no graceful shutdown, no last commit.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `agora` binary on a database, as an operator would.
pub fn agora(db: &TestDatabase, data_dir: &Path, args: &[&str], stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(args)
        .env("AGORA_DATA_DIR", data_dir)
        .env("AGORA_DATABASE_URL", db.url())
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run agora");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "agora {args:?} failed: {text}");
    text
}

/// The `agora` binary run in `workdir` with no `AGORA_*` variable from the
/// test's environment.
fn unconfigured_agora(workdir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_agora"));
    command.current_dir(workdir).env("RUST_LOG", "warn");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AGORA_") {
            command.env_remove(name);
        }
    }
    command
}

/// An empty working directory, removed with its log after the test.
struct Workdir {
    path: PathBuf,
    log: PathBuf,
}

impl Workdir {
    fn new() -> Workdir {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let path = std::env::temp_dir().join(format!("agora-workdir-{unique}"));
        std::fs::create_dir_all(&path).expect("working directory");
        let log = std::env::temp_dir().join(format!("agora-workdir-{unique}.log"));
        Workdir { path, log }
    }

    fn entries(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path.join(dir))
            .expect("read dir")
            .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode(&self, path: &str) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(self.path.join(path)).expect("metadata").permissions().mode() & 0o777
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path.join(path)).expect("read file")
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_file(&self.log);
    }
}

#[test]
fn serve_starts_with_nothing_configured_and_stops_on_sigterm() {
    let workdir = Workdir::new();
    let node = Node::start_unconfigured(&workdir.path, &workdir.log);
    let (status, ready) = node.get("/readyz");
    assert_eq!((status, &ready["status"]), (200, &json!("ready")), "{ready}");
    assert_eq!(workdir.entries("."), vec!["data"], "everything lives in data/");
    let data = workdir.entries("data");
    for expected in ["agora.db", "index", "jwt_secret"] {
        assert!(data.iter().any(|name| name == expected), "no data/{expected} in {data:?}");
    }
    assert_eq!(workdir.mode("data"), 0o700);
    assert_eq!(workdir.mode("data/jwt_secret"), 0o600);
    let secret = workdir.read("data/jwt_secret");
    assert!(secret.trim().len() >= 32, "a short secret: {} characters", secret.trim().len());

    let body = json!({"username": "newcomer", "email": "newcomer@example.org", "password": super::helpers::PASSWORD});
    let (status, session) = node.call("POST", "/api/v1/auth/register", Some(&body), None);
    assert_eq!(status, 201, "{session}");
    let token = session["access_token"].as_str().unwrap().to_owned();
    assert!(node.terminate(Duration::from_secs(30)), "agora serve did not exit cleanly on SIGTERM");

    // A restart keeps the secret, so sessions outlive it.
    let node = Node::start_unconfigured(&workdir.path, &workdir.log);
    assert_eq!(workdir.read("data/jwt_secret"), secret);
    let (status, me) = node.call("GET", "/api/v1/me", None, Some(&token));
    assert_eq!((status, &me["username"]), (200, &json!("newcomer")), "{me}");
    assert!(node.terminate(Duration::from_secs(30)), "agora serve did not exit cleanly on SIGTERM");
}

/// The allocator's configuration (lib.rs) is linked into the binary, not
/// only into the library: jemalloc's background threads, which return freed
/// pages to the system, run in `agora serve`.
#[cfg(target_os = "linux")]
#[test]
fn serve_returns_freed_memory_through_the_allocators_background_threads() {
    let workdir = Workdir::new();
    let node = Node::start_unconfigured(&workdir.path, &workdir.log);
    let threads = node.thread_names();
    assert!(threads.iter().any(|name| name.starts_with("jemalloc_bg")), "no jemalloc background thread in {threads:?}");
}

#[test]
fn migrate_creates_a_fresh_database() {
    let workdir = Workdir::new();
    let migrate = || {
        let output = unconfigured_agora(&workdir.path).arg("migrate").output().expect("run agora migrate");
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "agora migrate failed: {text}");
    };
    migrate();
    assert_eq!(workdir.entries("."), vec!["data"]);
    assert_eq!(workdir.mode("data"), 0o700);
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count();
    let applied = || {
        let url = workdir.path.join("data/agora.db").to_string_lossy().into_owned();
        let mut conn = diesel::SqliteConnection::establish(&url).expect("open the migrated database");
        let mut count = |table: &str| {
            diesel::sql_query(format!("SELECT count(*) AS n FROM {table}"))
                .get_result::<Count>(&mut conn)
                .unwrap_or_else(|e| panic!("{table}: {e}"))
                .n
        };
        (count("__diesel_schema_migrations"), count("users"))
    };
    assert_eq!(applied(), (migrations as i64, 0));
    // Running it again is harmless.
    migrate();
    assert_eq!(applied(), (migrations as i64, 0));
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
