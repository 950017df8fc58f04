//! The release `agora` binary as the benchmarks run it: a fresh database
//! per run, its commands, and `agora serve` on a free loopback port.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub(crate) const PASSWORD: &str = "bench-password-long-enough";
const JWT_SECRET: &str = "load-bench-secret-that-is-long-enough-0123456789";

pub(crate) fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-load")
}

/// The `agora` this build made.
pub(crate) fn this_build() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_agora"))
}

/// Where one run keeps its database and index, and which `agora` runs it.
pub(crate) struct Target {
    pub(crate) backend: &'static str,
    pub(crate) data_dir: PathBuf,
    database_url: Option<String>,
    binary: PathBuf,
    /// Settings of this run only (`AGORA_SMTP_URL`, say).
    extra_env: Vec<(String, String)>,
}

impl Target {
    /// Runs another `agora` (an earlier commit's, for before and after in
    /// one run).
    pub(crate) fn with_binary(mut self, binary: PathBuf) -> Target {
        self.binary = binary;
        self
    }

    pub(crate) fn with_env(mut self, name: &str, value: &str) -> Target {
        self.extra_env.push((name.to_owned(), value.to_owned()));
        self
    }

    fn agora(&self) -> Command {
        Command::new(&self.binary)
    }

    fn env(&self, command: &mut Command) {
        command
            .env("AGORA_DATA_DIR", &self.data_dir)
            .env("AGORA_JWT_SECRET", JWT_SECRET)
            .env("AGORA_RATE_LIMITS", "off");
        command.env_remove("AGORA_DATABASE_URL").env_remove("AGORA_CONFIG");
        if let Some(url) = &self.database_url {
            command.env("AGORA_DATABASE_URL", url);
        }
        for (name, value) in &self.extra_env {
            command.env(name, value);
        }
        // For profiling experiments: BENCH_SERVER_X=v reaches the server
        // (only) as X=v, e.g. BENCH_SERVER_MALLOC_CONF=dirty_decay_ms:10000.
        for (key, value) in std::env::vars() {
            if let Some(name) = key.strip_prefix("BENCH_SERVER_") {
                command.env(name, value);
            }
        }
    }

    /// Runs an `agora` command to success and returns its standard output.
    pub(crate) fn run(&self, args: &[&str]) -> String {
        let mut command = self.agora();
        command.args(args);
        self.env(&mut command);
        let output = command.output().expect("agora");
        assert!(output.status.success(), "agora {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// On a PostgreSQL whose autovacuum is off (this machine's CI
    /// configuration), an `ANALYZE` of the run's database in place of
    /// autovacuum's autoanalyze, which a council's server runs; whether it
    /// ran. Without it, plans cached while the growing tables were empty
    /// scan them in full (docs/deploy.md).
    pub(crate) fn analyze_if_autovacuum_off(&self) -> bool {
        use agora::store::{self, DbConn};
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let Some(url) = &self.database_url else { return false };
        let mut conn = DbConn::establish(url).expect("PostgreSQL");
        if !store::postgres_autovacuum_off(&mut conn).unwrap() {
            return false;
        }
        conn.batch_execute("ANALYZE").unwrap();
        true
    }

    /// `agora reindex` from the restored database: the questions per second
    /// it reports (database reads, documents, index build and commit).
    pub(crate) fn reindex_rate(&self) -> f64 {
        let out = self.run(&["reindex"]);
        // "Indexed 10000 questions in 0.4 s (25000/s), up to outbox position 0."
        out.split_once(" s (")
            .and_then(|(_, rest)| rest.split_once("/s)"))
            .and_then(|(rate, _)| rate.parse().ok())
            .unwrap_or_else(|| panic!("unexpected reindex output: {out}"))
    }
}

/// A fresh database of the backend: a new SQLite folder, or a new
/// PostgreSQL database on the given server.
#[allow(dead_code)] // the soak's; the load bench takes `fresh_tagged`
pub(crate) fn fresh(backend: &'static str, n: usize, postgres: Option<&str>) -> Target {
    fresh_tagged(backend, n, "", postgres)
}

/// [`fresh`], beside others of the same size: `tag` tells them apart (the
/// load bench's before and after run side by side).
pub(crate) fn fresh_tagged(backend: &'static str, n: usize, tag: &str, postgres: Option<&str>) -> Target {
    let suffix = if tag.is_empty() { String::new() } else { format!("_{tag}") };
    let data_dir = work_dir().join(format!("{backend}-{n}{suffix}"));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).unwrap();
    let database_url = postgres.map(|url| {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        let name = format!("agora_load_{n}{suffix}");
        let mut admin = PgConnection::establish(url).expect("PostgreSQL");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).unwrap();
        let (base, _) = url.rsplit_once('/').expect("a database URL");
        format!("{base}/{name}")
    });
    Target { backend, data_dir, database_url, binary: this_build(), extra_env: Vec::new() }
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Server {
    pub(crate) fn start(target: &Target) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = File::create(target.data_dir.join("server.log")).unwrap();
        let mut command = target.agora();
        command.arg("serve").env("AGORA_BIND", format!("127.0.0.1:{port}"));
        target.env(&mut command);
        let child = command.stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("agora serve");
        let server = Server { child, base: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        while ureq::get(format!("{}/readyz", server.base)).call().is_err() {
            assert!(started.elapsed() < Duration::from_secs(300), "the server did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub(crate) fn login(&self) -> String {
        self.login_as("bench")
    }

    pub(crate) fn login_as(&self, login: &str) -> String {
        let body = serde_json::json!({"login": login, "password": PASSWORD});
        let mut response = ureq::post(format!("{}/api/v1/auth/login", self.base)).send_json(&body).expect("login");
        let json: serde_json::Value = response.body_mut().read_json().unwrap();
        json["access_token"].as_str().expect("an access token").to_owned()
    }

    /// The most memory the server has held (VmHWM), in MiB.
    pub(crate) fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM, as an operator would: a graceful stop.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}
