//! Load benchmark: the release `agora` binary under HTTP load on SQLite and
//! PostgreSQL at several community sizes.
//!
//!     cargo bench --bench load -- [--sizes 10000,100000,1000000]
//!         [--postgres postgres://postgres@127.0.0.1:5432/postgres]
//!         [--seconds 10] [--connections 32] [--threads 2]
//!
//! For each size it writes a community of N questions as an agora-jsonl
//! dump (titles, bodies and answers from the Qatar Living forum text in
//! ../shared/data; answers, upvotes, accepted answers and the reputation
//! ledger that goes with them), restores it with `agora import jsonl`
//! into a fresh database, times `agora reindex` on it (the rebuild from
//! the database, questions/s), starts `agora serve`, and drives each endpoint
//! over loopback with `wrk` (Debian's package). Every figure is also given
//! as a ratio to /healthz measured in the same server run, because these
//! machines are noisy; the peak RSS is the server's VmHWM.
//!
//! Writes bench/results/<date>-load.md and <date>-load.svg.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use agora::service::dump::{FORMAT, Manifest, TableFile, VERSION};
use agora::service::markdown;
use agora::store::dump::{
    AnswersRow, CategoriesRow, FollowsRow, QuestionsRow, ReputationEventsRow, TABLES, UserCategoryStatsRow, UsersRow,
    VotesRow,
};
use chrono::{NaiveDateTime, Utc};
use serde::Serialize;

#[path = "corpus.rs"]
pub(crate) mod corpus;
use corpus::{Material, Rng, material, slug};

pub(crate) const PASSWORD: &str = "bench-password-long-enough";
const JWT_SECRET: &str = "load-bench-secret-that-is-long-enough-0123456789";

struct Options {
    sizes: Vec<usize>,
    postgres: Option<String>,
    seconds: u64,
    connections: u32,
    threads: u32,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    Options {
        sizes: value("--sizes")
            .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![10_000, 100_000]),
        postgres: value("--postgres"),
        seconds: value("--seconds").and_then(|s| s.parse().ok()).unwrap_or(10),
        connections: value("--connections").and_then(|s| s.parse().ok()).unwrap_or(32),
        threads: value("--threads").and_then(|s| s.parse().ok()).unwrap_or(2),
    }
}

pub(crate) fn work_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-load")
}

// ---------------------------------------------------------------- the data

/// One table's JSONL file, counting what it writes.
struct TableWriter {
    out: BufWriter<File>,
    rows: u64,
}

impl TableWriter {
    fn write<T: Serialize>(&mut self, row: &T) {
        serde_json::to_writer(&mut self.out, row).unwrap();
        self.out.write_all(b"\n").unwrap();
        self.rows += 1;
    }
}

/// Points of the default table (API.md).
const UPVOTE: i32 = 10;
const ACCEPTED: i32 = 15;
const ACCEPTING: i32 = 2;

/// What a generated community holds, for the report.
#[derive(Default)]
pub(crate) struct Community {
    users: usize,
    answers: usize,
    votes: usize,
    accepted: usize,
}

/// The reputation the ledger implies, kept while the rows are written.
#[derive(Default)]
struct Ledger {
    next_id: i64,
    users: Vec<i32>,
    accepted: Vec<i32>,
    /// (user, category) → (reputation, accepted answers)
    categories: HashMap<(i64, i64), (i32, i32)>,
}

struct Grant<'a> {
    user: i64,
    points: i32,
    reason: &'a str,
    source: (&'a str, i64),
    post: (&'a str, i64),
    category: i64,
    at: NaiveDateTime,
}

impl Ledger {
    fn grant(&mut self, out: &mut TableWriter, g: Grant<'_>) {
        self.next_id += 1;
        out.write(&ReputationEventsRow {
            id: self.next_id,
            user_id: g.user,
            delta: g.points,
            points: g.points,
            reason: g.reason.to_owned(),
            source_type: g.source.0.to_owned(),
            source_id: g.source.1,
            post_type: Some(g.post.0.to_owned()),
            post_id: Some(g.post.1),
            category_id: Some(g.category),
            day: g.at.format("%Y-%m-%d").to_string(),
            reverses_id: None,
            created_at: g.at,
        });
        self.users[g.user as usize] += g.points;
        self.categories.entry((g.user, g.category)).or_default().0 += g.points;
    }
}

/// The files of the tables the generator fills; every other table of a
/// dump is an empty file.
struct DumpFiles {
    dir: PathBuf,
    writers: HashMap<&'static str, TableWriter>,
}

impl DumpFiles {
    fn create(dir: &Path) -> DumpFiles {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        DumpFiles { dir: dir.to_owned(), writers: HashMap::new() }
    }

    fn table(&mut self, name: &'static str) -> TableWriter {
        let file = File::create(self.dir.join(format!("{name}.jsonl"))).unwrap();
        TableWriter { out: BufWriter::with_capacity(1 << 20, file), rows: 0 }
    }

    fn done(&mut self, name: &'static str, mut writer: TableWriter) {
        writer.out.flush().unwrap();
        self.writers.insert(name, writer);
    }

    /// Writes the empty tables and the manifest.
    fn finish(mut self) {
        let tables = TABLES
            .iter()
            .map(|&t| {
                if !self.writers.contains_key(t) {
                    let empty = self.table(t);
                    self.done(t, empty);
                }
                TableFile { table: t.to_owned(), file: format!("{t}.jsonl"), rows: self.writers[t].rows }
            })
            .collect();
        let manifest = Manifest { format: FORMAT.to_owned(), version: VERSION, tables };
        std::fs::write(self.dir.join("manifest.json"), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    }
}

/// Writes a community of `n` questions as an agora-jsonl dump in `dir`.
/// User 1 is `bench`, who answers often enough to be past the new-account
/// limits, as the residents who answer most are.
pub(crate) fn generate(material: &Material, n: usize, dir: &Path) -> Community {
    let mut files = DumpFiles::create(dir);
    let mut questions_out = files.table("questions");
    let mut answers_out = files.table("answers");
    let mut votes_out = files.table("votes");
    let mut ledger_out = files.table("reputation_events");
    let mut follows_out = files.table("follows");

    let mut rng = Rng(7);
    let user_count = (n / 4).max(200);
    let categories: Vec<(i64, String)> =
        material.categories.iter().enumerate().map(|(i, name)| (i as i64 + 1, name.clone())).collect();
    let mut category_questions = vec![0i32; categories.len() + 1];
    let answer_html: Vec<String> = material.comments.iter().map(|c| markdown::render(c)).collect();
    let now = Utc::now().naive_utc();
    let start = now - chrono::Duration::days(365);
    let step = (365 * 86_400 / n as i64).max(1);
    let mut ledger = Ledger { users: vec![1; user_count + 1], accepted: vec![0; user_count + 1], ..Ledger::default() };
    let mut community = Community { users: user_count, ..Community::default() };
    let (mut answer_id, mut vote_id) = (0i64, 0i64);
    // Someone other than `author`: the bench user answers one in ten.
    let someone_else = |rng: &mut Rng, author: i64| -> i64 {
        let pick = if rng.below(10) == 0 { 1 } else { 2 + rng.below(user_count - 1) as i64 };
        if pick == author { if author == 1 { 2 } else { 1 } } else { pick }
    };
    for id in 1..=n as i64 {
        let created = start + chrono::Duration::seconds(id * step);
        let asker = 2 + rng.below(user_count - 1) as i64;
        let (category, _) = &categories[rng.below(categories.len())];
        category_questions[*category as usize] += 1;
        let body: Vec<&str> =
            (0..2 + rng.below(3)).map(|_| material.sentences[rng.below(material.sentences.len())].as_str()).collect();
        let body = format!("{}.", body.join(". "));
        let mut last_activity = created;
        let mut accepted_answer_id = None;
        let answers = [0, 1, 1, 2, 2, 3, 4][rng.below(7)];
        for k in 0..answers {
            answer_id += 1;
            let author = someone_else(&mut rng, asker);
            let at = created + chrono::Duration::minutes(30 * (k as i64 + 1) + rng.below(60) as i64);
            last_activity = at;
            let upvotes = [0, 0, 1, 1, 2, 3][rng.below(6)];
            let mut voters: Vec<i64> = Vec::new();
            while voters.len() < upvotes {
                let voter = someone_else(&mut rng, author);
                if voters.contains(&voter) {
                    continue;
                }
                voters.push(voter);
                vote_id += 1;
                let voted = at + chrono::Duration::hours(1 + rng.below(48) as i64);
                votes_out.write(&VotesRow {
                    id: vote_id,
                    voter_id: voter,
                    post_type: "answer".into(),
                    post_id: answer_id,
                    value: 1,
                    created_at: voted,
                    updated_at: voted,
                });
                let source = ("vote", vote_id);
                let post = ("answer", answer_id);
                let grant = Grant {
                    user: author,
                    points: UPVOTE,
                    reason: "answer_upvoted",
                    source,
                    post,
                    category: *category,
                    at: voted,
                };
                ledger.grant(&mut ledger_out, grant);
            }
            if k == 0 && rng.below(2) == 0 {
                accepted_answer_id = Some(answer_id);
                let source = ("acceptance", answer_id);
                let post = ("answer", answer_id);
                let at = at + chrono::Duration::hours(2);
                ledger.grant(
                    &mut ledger_out,
                    Grant {
                        user: author,
                        points: ACCEPTED,
                        reason: "answer_accepted",
                        source,
                        post,
                        category: *category,
                        at,
                    },
                );
                ledger.grant(
                    &mut ledger_out,
                    Grant {
                        user: asker,
                        points: ACCEPTING,
                        reason: "accepted_an_answer",
                        source,
                        post,
                        category: *category,
                        at,
                    },
                );
                ledger.accepted[author as usize] += 1;
                ledger.categories.entry((author, *category)).or_default().1 += 1;
                community.accepted += 1;
            }
            let comment = rng.below(material.comments.len());
            answers_out.write(&AnswersRow {
                id: answer_id,
                question_id: id,
                author_id: author,
                body: material.comments[comment].clone(),
                body_html: answer_html[comment].clone(),
                score: voters.len() as i32,
                verified_at: None,
                verified_by: None,
                review_by: None,
                hidden_at: None,
                deleted_at: None,
                created_at: at,
                updated_at: at,
            });
            community.answers += 1;
            community.votes += voters.len();
        }
        let status = match (answers, accepted_answer_id) {
            (0, _) => "unanswered",
            (_, Some(_)) => "solved",
            _ => "answered",
        };
        questions_out.write(&QuestionsRow {
            id,
            author_id: asker,
            category_id: *category,
            title: material.titles[rng.below(material.titles.len())].chars().take(200).collect(),
            body_html: markdown::render(&body),
            body,
            area: None,
            score: 0,
            answer_count: answers,
            view_count: rng.below(500) as i64,
            accepted_answer_id,
            has_verified_answer: false,
            status: status.to_owned(),
            closed_at: None,
            close_reason: None,
            duplicate_of: None,
            locked_at: None,
            hidden_at: None,
            deleted_at: None,
            created_at: created,
            updated_at: created,
            last_activity_at: last_activity,
        });
        follows_out.write(&FollowsRow { user_id: asker, question_id: id, created_at: created });
    }

    let mut users_out = files.table("users");
    for id in 1..=user_count as i64 {
        let username = if id == 1 { "bench".to_owned() } else { format!("resident{id}") };
        let joined = start - chrono::Duration::days(30);
        users_out.write(&UsersRow {
            id,
            email: format!("{username}@example.org"),
            display_name: username.clone(),
            username,
            bio: String::new(),
            area: None,
            reputation: ledger.users[id as usize],
            token_version: 0,
            suspended_until: None,
            suspension_reason: None,
            created_at: joined,
            updated_at: joined,
            accepted_answers: ledger.accepted[id as usize],
            expert_notifications: false,
        });
    }
    let mut categories_out = files.table("categories");
    for (id, name) in &categories {
        categories_out.write(&CategoriesRow {
            id: *id,
            slug: slug(name),
            name: name.clone(),
            description: String::new(),
            question_count: category_questions[*id as usize],
            created_at: start,
        });
    }
    let mut stats_out = files.table("user_category_stats");
    let mut stats: Vec<_> = ledger.categories.into_iter().collect();
    stats.sort();
    for ((user_id, category_id), (reputation, accepted)) in stats {
        stats_out.write(&UserCategoryStatsRow {
            user_id,
            category_id,
            reputation,
            accepted_answers: accepted,
            solved_answers: accepted,
        });
    }
    for (name, writer) in [
        ("questions", questions_out),
        ("answers", answers_out),
        ("votes", votes_out),
        ("reputation_events", ledger_out),
        ("follows", follows_out),
        ("users", users_out),
        ("categories", categories_out),
        ("user_category_stats", stats_out),
    ] {
        files.done(name, writer);
    }
    files.finish();
    community
}

// ---------------------------------------------------------------- the server

fn agora() -> Command {
    Command::new(env!("CARGO_BIN_EXE_agora"))
}

/// Where one run keeps its database and index.
pub(crate) struct Target {
    backend: &'static str,
    data_dir: PathBuf,
    database_url: Option<String>,
}

impl Target {
    fn env(&self, command: &mut Command) {
        command
            .env("AGORA_DATA_DIR", &self.data_dir)
            .env("AGORA_JWT_SECRET", JWT_SECRET)
            .env("AGORA_RATE_LIMITS", "off");
        command.env_remove("AGORA_DATABASE_URL").env_remove("AGORA_CONFIG");
        if let Some(url) = &self.database_url {
            command.env("AGORA_DATABASE_URL", url);
        }
        // For profiling experiments: BENCH_SERVER_X=v reaches the server
        // (only) as X=v, e.g. BENCH_SERVER_MALLOC_ARENA_MAX=2.
        for (key, value) in std::env::vars() {
            if let Some(name) = key.strip_prefix("BENCH_SERVER_") {
                command.env(name, value);
            }
        }
    }

    /// Runs an `agora` command to success and returns its standard output.
    pub(crate) fn run(&self, args: &[&str]) -> String {
        let mut command = agora();
        command.args(args);
        self.env(&mut command);
        let output = command.output().expect("agora");
        assert!(output.status.success(), "agora {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `agora reindex` from the restored database: the questions per second
    /// it reports (database reads, documents, index build and commit).
    fn reindex_rate(&self) -> f64 {
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
pub(crate) fn fresh(backend: &'static str, n: usize, postgres: Option<&str>) -> Target {
    let data_dir = work_dir().join(format!("{backend}-{n}"));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).unwrap();
    let database_url = postgres.map(|url| {
        use diesel::{Connection, PgConnection, RunQueryDsl};
        let name = format!("agora_load_{n}");
        let mut admin = PgConnection::establish(url).expect("PostgreSQL");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).unwrap();
        let (base, _) = url.rsplit_once('/').expect("a database URL");
        format!("{base}/{name}")
    });
    Target { backend, data_dir, database_url }
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Server {
    pub(crate) fn start(target: &Target) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = File::create(target.data_dir.join("server.log")).unwrap();
        let mut command = agora();
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
        let body = serde_json::json!({"login": "bench", "password": PASSWORD});
        let mut response = ureq::post(format!("{}/api/v1/auth/login", self.base)).send_json(&body).expect("login");
        let json: serde_json::Value = response.body_mut().read_json().unwrap();
        json["access_token"].as_str().expect("an access token").to_owned()
    }

    /// The most memory the server has held (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
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

// ---------------------------------------------------------------- the load

/// What wrk measured for one endpoint.
#[derive(Clone, Copy, Default)]
struct Measured {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// The server's memory when the endpoint's run ended.
    memory: Memory,
}

/// Resident memory in MiB: all of it, the anonymous part (heap, stacks)
/// and the part that maps files (the search index, SQLite's shared WAL
/// index), which the kernel can drop and re-read.
#[derive(Default, Clone, Copy)]
struct Memory {
    rss: f64,
    anon: f64,
    files: f64,
}

impl Memory {
    fn of(pid: u32) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let mib = |name: &str| -> f64 {
            let kib = status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next());
            kib.and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
        };
        Memory { rss: mib("VmRSS:"), anon: mib("RssAnon:"), files: mib("RssFile:") + mib("RssShmem:") }
    }
}

/// The lua that every endpoint's script ends with: per-thread random seeds
/// and unique ids, and a result line the bench parses.
pub(crate) const LUA_COMMON: &str = r#"
local next_thread = 1
setup = function(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end
init = function(args)
  math.randomseed(tid * 7919)
  seq = 0
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"#;

pub(crate) fn lua_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("{{{}}}", quoted.join(",\n"))
}

pub(crate) fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The endpoints under load: a name and the lua that makes its requests.
fn endpoints(material: &Material, n: usize, token: &str) -> Vec<(&'static str, String)> {
    let mut rng = Rng(99);
    let queries: Vec<String> = material.search_queries.iter().map(|q| url_encode(q)).collect();
    let drafts: Vec<String> =
        material.drafts.iter().map(|d| url_encode(&d.chars().take(160).collect::<String>())).collect();
    let categories: Vec<String> = material.categories.iter().map(|c| slug(c)).collect();
    let answers: Vec<String> = (0..200)
        .map(|_| material.comments[rng.below(material.comments.len())].clone())
        .filter(|c| (20..2000).contains(&c.len()))
        .map(|c| serde_json::json!({ "body": c }).to_string())
        .collect();
    let browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36";
    vec![
        ("/healthz", r#"request = function() return wrk.format("GET", "/healthz") end"#.to_owned()),
        (
            "GET question",
            format!(
                r#"request = function() return wrk.format("GET", "/api/v1/questions/" .. math.random(1, {n})) end"#
            ),
        ),
        (
            // Page views follow popularity, not a uniform draw: ids drawn
            // with P(k) ∝ 1/k (Zipf, s = 1), the usual shape of web traffic.
            "GET question (popularity-skewed)",
            format!(
                r#"local log_n = math.log({n} + 1)
request = function()
  local id = math.min({n}, math.max(1, math.floor(math.exp(math.random() * log_n))))
  return wrk.format("GET", "/api/v1/questions/" .. id)
end"#
            ),
        ),
        (
            "GET question (view counted)",
            format!(
                r#"request = function()
  return wrk.format("GET", "/api/v1/questions/" .. math.random(1, {n}),
    {{["X-Visitor-Id"] = "visitor-" .. math.random(1, 100000), ["User-Agent"] = "{browser}"}})
end"#
            ),
        ),
        (
            "list",
            format!(
                r#"local categories = {}
local sorts = {{"newest", "active", "votes"}}
request = function()
  local path = "/api/v1/questions?sort=" .. sorts[math.random(#sorts)]
  if math.random(2) == 1 then path = path .. "&category=" .. categories[math.random(#categories)] end
  return wrk.format("GET", path)
end"#,
                lua_strings(&categories)
            ),
        ),
        (
            "search",
            format!(
                r#"local queries = {}
request = function() return wrk.format("GET", "/api/v1/search?q=" .. queries[math.random(#queries)]) end"#,
                lua_strings(&queries)
            ),
        ),
        (
            "similar",
            format!(
                r#"local drafts = {}
request = function() return wrk.format("GET", "/api/v1/questions/similar?text=" .. drafts[math.random(#drafts)]) end"#,
                lua_strings(&drafts)
            ),
        ),
        (
            "POST answer",
            format!(
                r#"local bodies = {}
local headers = {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json"}}
request = function()
  return wrk.format("POST", "/api/v1/questions/" .. math.random(1, {n}) .. "/answers", headers, bodies[math.random(#bodies)])
end"#,
                lua_strings(&answers)
            ),
        ),
        (
            "POST events (10 per batch)",
            format!(
                r#"local headers = {{["Content-Type"] = "application/json", ["User-Agent"] = "{browser}"}}
request = function()
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local visitor = "visitor-" .. math.random(1, 100000)
  local events = {{}}
  for i = 1, 10 do
    seq = seq + 1
    local id = string.format("%08x-0000-4000-8000-%012x", tid, seq)
    if i % 2 == 0 then
      events[i] = string.format('{{"event_id":"%s","type":"question_viewed","occurred_at":"%s","visitor_id":"%s","question_id":%d}}', id, now, visitor, math.random(1, {n}))
    else
      events[i] = string.format('{{"event_id":"%s","type":"search_performed","occurred_at":"%s","visitor_id":"%s","query":"bin collection"}}', id, now, visitor)
    end
  end
  return wrk.format("POST", "/api/v1/events", headers, '{{"events":[' .. table.concat(events, ",") .. ']}}')
end"#
            ),
        ),
    ]
}

fn wrk(options: &Options, base: &str, script: &Path, seconds: u64) -> Measured {
    let output = Command::new("wrk")
        .args(["-t", &options.threads.to_string(), "-c", &options.connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "--timeout", "10s", "-s"])
        .arg(script)
        .arg(base)
        .output()
        .expect("wrk (apt-get install wrk)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).unwrap_or_else(|| panic!("wrk printed {stdout}"));
    let v: Vec<f64> = line.split_whitespace().map(|x| x.parse().unwrap()).collect();
    Measured {
        requests_per_second: v[0] / (v[1] / 1e6),
        p50_ms: v[2] / 1000.0,
        p99_ms: v[3] / 1000.0,
        errors: v[4] as u64,
        memory: Memory::default(),
    }
}

/// One server run: every endpoint, a short warm-up then the measurement.
struct Run {
    backend: &'static str,
    n: usize,
    import_seconds: f64,
    /// Questions per second of `agora reindex`.
    reindex_rate: f64,
    results: Vec<(&'static str, Measured)>,
    peak_rss_mib: f64,
}

fn measure(options: &Options, material: &Material, target: &Target, n: usize, restored: (f64, f64)) -> Run {
    let (import_seconds, reindex_rate) = restored;
    let server = Server::start(target);
    let token = server.login();
    let mut results = Vec::new();
    for (name, lua) in endpoints(material, n, &token) {
        let script = target.data_dir.join(format!("{}.lua", slug(name)));
        std::fs::write(&script, format!("{lua}\n{LUA_COMMON}")).unwrap();
        wrk(options, &server.base, &script, 2);
        let mut measured = wrk(options, &server.base, &script, options.seconds);
        measured.memory = Memory::of(server.child.id());
        eprintln!(
            "  {:>10} {n:>8} {name:<28} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
            target.backend, measured.requests_per_second, measured.p50_ms, measured.p99_ms, measured.errors
        );
        results.push((name, measured));
    }
    Run { backend: target.backend, n, import_seconds, reindex_rate, results, peak_rss_mib: server.peak_rss_mib() }
}

// ---------------------------------------------------------------- the report

/// The issue's targets on SQLite, as ratios to /healthz.
const TARGETS: [(&str, f64); 4] = [("GET question", 0.60), ("list", 0.50), ("search", 0.35), ("POST answer", 0.10)];
const RSS_TARGET_MIB: f64 = 150.0;
/// Issue 5: a rebuild of the index from the database, questions per second.
const REINDEX_TARGET: f64 = 20_000.0;

fn ratio(run: &Run, name: &str) -> f64 {
    let of = |n: &str| run.results.iter().find(|(e, _)| *e == n).map(|(_, m)| m.requests_per_second).unwrap_or(0.0);
    of(name) / of("/healthz")
}

fn report(options: &Options, runs: &[Run], communities: &[(usize, Community)], total: Duration) -> String {
    let mut md = String::new();
    let date = Utc::now().format("%Y-%m-%d");
    let _ = writeln!(md, "# Load benchmark, {date}\n");
    let _ = writeln!(
        md,
        "`cargo bench --bench load -- --sizes {} {}--seconds {} --connections {} --threads {}`: release build, \
         `wrk` over loopback with {} connections on {} threads, {} s per endpoint after a 2 s warm-up; server and \
         load generator share this machine's {} cores. Took {:.0} s in all.\n",
        options.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","),
        if options.postgres.is_some() { "--postgres … " } else { "" },
        options.seconds,
        options.connections,
        options.threads,
        options.connections,
        options.threads,
        options.seconds,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        total.as_secs_f64(),
    );
    let _ = writeln!(
        md,
        "## Communities\n\n| questions | users | answers | accepted | upvotes |\n|---:|---:|---:|---:|---:|"
    );
    for (n, c) in communities {
        let _ = writeln!(md, "| {n} | {} | {} | {} | {} |", c.users, c.answers, c.accepted, c.votes);
    }
    let _ = writeln!(
        md,
        "\nText from the Qatar Living forum (SemEval-2016 Task 3) in ../shared/data; restored with `agora import jsonl`, index built by it.\n"
    );
    for run in runs {
        let _ = writeln!(
            md,
            "## {} questions on {}\n\nrestore + reindex {:.1} s; `agora reindex` from the database {:.0} questions/s \
             (target ≥ {REINDEX_TARGET:.0}: {}); server peak RSS {:.1} MiB{}\n",
            run.n,
            run.backend,
            run.import_seconds,
            run.reindex_rate,
            if run.reindex_rate >= REINDEX_TARGET { "met" } else { "missed" },
            run.peak_rss_mib,
            if run.n == 100_000 && run.backend == "sqlite" {
                format!(
                    " (target ≤ {RSS_TARGET_MIB} MiB: {})",
                    if run.peak_rss_mib <= RSS_TARGET_MIB { "met" } else { "missed" }
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            md,
            "| endpoint | req/s | ÷ /healthz | p50 ms | p99 ms | errors | target (SQLite) | RSS after, MiB (anon + files) |\n|---|---:|---:|---:|---:|---:|---|---|"
        );
        for (name, m) in &run.results {
            let target = TARGETS.iter().find(|(t, _)| t == name).map(|(_, t)| {
                let met = ratio(run, name) >= *t;
                format!(
                    "≥ {:.0} % {}",
                    t * 100.0,
                    if run.backend == "sqlite" { if met { "met" } else { "missed" } } else { "" }
                )
            });
            let _ = writeln!(
                md,
                "| {name} | {:.0} | {:.0} % | {:.2} | {:.2} | {} | {} | {:.0} ({:.0} + {:.0}) |",
                m.requests_per_second,
                ratio(run, name) * 100.0,
                m.p50_ms,
                m.p99_ms,
                m.errors,
                target.unwrap_or_default(),
                m.memory.rss,
                m.memory.anon,
                m.memory.files
            );
        }
        md.push('\n');
    }
    md
}

/// A grouped bar chart: each endpoint's ratio to /healthz, one bar per run.
fn chart(runs: &[Run]) -> String {
    let names: Vec<&str> =
        runs.first().map(|r| r.results.iter().skip(1).map(|(n, _)| *n).collect()).unwrap_or_default();
    let colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
    let (left, top, group, bar) = (60.0, 40.0, 28.0 * runs.len() as f64 + 30.0, 28.0);
    let (width, height) = (left + group * names.len() as f64 + 20.0, 360.0);
    let plot = height - top - 90.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ =
        writeln!(svg, r#"<text x="{left}" y="20" font-size="14">Throughput as % of /healthz in the same run</text>"#);
    for pct in [0, 25, 50, 75, 100] {
        let y = top + plot * (1.0 - pct as f64 / 100.0);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{pct} %</text>"##,
            width - 20.0,
            left - 6.0,
            y + 4.0
        );
    }
    for (i, name) in names.iter().enumerate() {
        let x0 = left + group * i as f64 + 15.0;
        for (j, run) in runs.iter().enumerate() {
            let value = ratio(run, name).min(1.2);
            let h = plot * value;
            let _ = writeln!(
                svg,
                r#"<rect x="{}" y="{}" width="{}" height="{h}" fill="{}"><title>{} {}: {:.0} %</title></rect>"#,
                x0 + bar * j as f64,
                top + plot - h,
                bar - 4.0,
                colours[j % colours.len()],
                run.backend,
                run.n,
                value * 100.0
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end" transform="rotate(-30 {} {})">{name}</text>"#,
            x0 + group / 2.0,
            top + plot + 16.0,
            x0 + group / 2.0,
            top + plot + 16.0
        );
    }
    for (j, run) in runs.iter().enumerate() {
        let x = left + 170.0 * j as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{} {} questions</text>"#,
            height - 18.0,
            colours[j % colours.len()],
            x + 14.0,
            height - 9.0,
            run.backend,
            run.n
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn main() {
    let options = options();
    let started = Instant::now();
    assert!(Command::new("wrk").arg("--version").output().is_ok(), "the load bench needs wrk: apt-get install wrk");
    let material = material();
    let mut runs = Vec::new();
    let mut communities = Vec::new();
    for &n in &options.sizes {
        let dump = work_dir().join(format!("dump-{n}"));
        let generating = Instant::now();
        let community = generate(&material, n, &dump);
        eprintln!("{n} questions: dump written in {:.1} s", generating.elapsed().as_secs_f64());
        communities.push((n, community));
        let backends: Vec<(&'static str, Option<&str>)> = std::iter::once(("sqlite", None))
            .chain(options.postgres.as_deref().map(|u| ("postgres", Some(u))))
            .collect();
        for (backend, url) in backends {
            let target = fresh(backend, n, url);
            let importing = Instant::now();
            target.run(&["import", "jsonl", dump.to_str().unwrap()]);
            target.run(&["user", "set-password", "--username", "bench", "--password", PASSWORD]);
            let import_seconds = importing.elapsed().as_secs_f64();
            eprintln!("  {backend}: restored and indexed in {import_seconds:.1} s");
            let reindex_rate = target.reindex_rate();
            eprintln!("  {backend}: agora reindex at {reindex_rate:.0} questions/s");
            runs.push(measure(&options, &material, &target, n, (import_seconds, reindex_rate)));
        }
    }
    let results = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&results).unwrap();
    let date = Utc::now().format("%Y-%m-%d");
    let md = report(&options, &runs, &communities, started.elapsed());
    std::fs::write(results.join(format!("{date}-load.md")), &md).unwrap();
    std::fs::write(results.join(format!("{date}-load.svg")), chart(&runs)).unwrap();
    println!("{md}");
}
