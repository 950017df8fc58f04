//! A real `agora serve` process on a test database, for tests that must
//! kill it or run the binary as operators do.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        let child = command.spawn().expect("start agora serve");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let node = Node { child, address: format!("http://127.0.0.1:{port}"), agent };
        let deadline = Instant::now() + Duration::from_secs(60);
        while node.get("/readyz").0 != 200 {
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
