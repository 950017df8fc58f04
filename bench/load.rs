//! Load benchmark: the release `agora` binary under HTTP load on SQLite and
//! PostgreSQL at several community sizes.
//!
//!     cargo bench --bench load -- [--sizes 10000,100000,1000000]
//!         [--postgres postgres://postgres@127.0.0.1:5432/postgres]
//!         [--seconds 10] [--connections 32] [--threads 2]
//!         [--baseline path/to/an/earlier/agora] [--postgres-only] [--label NAME]
//!
//! With `--baseline`, every size and backend is measured with that binary
//! (an earlier commit's release build) and with this build's, each on its
//! own freshly restored database and with its own mail sink and webhook
//! receiver. Both servers run at once and each endpoint is measured
//! before, after, after, before (each side's two runs averaged), so that
//! drift over the run and the order itself (PostgreSQL's autovacuum and
//! checkpoints, a server's leftover work, the machine's other load) fall on
//! both alike; the report gains a before-and-after table.
//!
//! Mail and webhooks are on, as a council runs them: the server sends
//! through an SMTP sink on loopback (the tests' `tests/api/mail/smtp.rs`;
//! the community's addresses are verified, so an answer mails its asker),
//! and one webhook endpoint, on a receiver on loopback
//! (`bench/receiver.rs`), is subscribed to `answer.created`.
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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

#[path = "community.rs"]
mod community;
#[path = "corpus.rs"]
mod corpus;
#[path = "receiver.rs"]
mod receiver;
#[path = "server.rs"]
mod server;
#[path = "../tests/api/mail/smtp.rs"]
#[allow(dead_code)]
mod smtp;
#[path = "wrk.rs"]
mod wrk;
use community::{Community, generate};
use corpus::{Material, Rng, material, slug};
use receiver::Receiver;
use server::{PASSWORD, Server, Target, fresh_tagged, this_build, work_dir};
use smtp::SmtpSink;
use wrk::{LUA_COMMON, lua_strings, url_encode};

struct Options {
    sizes: Vec<usize>,
    postgres: Option<String>,
    seconds: u64,
    connections: u32,
    threads: u32,
    /// An earlier `agora` to measure first, for before and after.
    baseline: Option<PathBuf>,
    /// Leave SQLite out (`--postgres-only`): for a change or a setting
    /// that only PostgreSQL sees.
    postgres_only: bool,
    /// Names the report `<date>-load-<label>.md` instead of
    /// `<date>-load.md` (`--label`), so runs of one day do not overwrite
    /// each other; the server's environment (`BENCH_SERVER_*`) and the
    /// database's settings are what a label usually stands for.
    label: Option<String>,
    /// Only these endpoints (`--endpoints "GET question,POST answer"`),
    /// and `/healthz` always, since every figure is a ratio to it: for
    /// profiling one change without the whole run. Names are separated by
    /// a comma without a space after it, since one name has a comma in it
    /// ("similar, contact form (intent)").
    endpoints: Option<Vec<String>>,
}

impl Options {
    fn measures(&self, endpoint: &str) -> bool {
        endpoint == "/healthz" || self.endpoints.as_ref().is_none_or(|names| names.iter().any(|n| n == endpoint))
    }
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
        baseline: value("--baseline").map(PathBuf::from),
        postgres_only: args.iter().any(|a| a == "--postgres-only"),
        label: value("--label"),
        endpoints: value("--endpoints").map(|s| endpoint_names(&s)),
    }
}

/// `--endpoints`' names: split at each comma not followed by a space.
fn endpoint_names(list: &str) -> Vec<String> {
    let mut names = vec![String::new()];
    let mut chars = list.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ',' if chars.peek() != Some(&' ') => names.push(String::new()),
            c => names.last_mut().expect("never empty").push(c),
        }
    }
    names.into_iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect()
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

impl Measured {
    /// One endpoint's runs on one server as one: the mean rates and
    /// percentiles, all the errors, the memory after the last.
    fn mean(runs: &[Measured]) -> Measured {
        let n = runs.len() as f64;
        let mean = |f: fn(&Measured) -> f64| runs.iter().map(f).sum::<f64>() / n;
        Measured {
            requests_per_second: mean(|m| m.requests_per_second),
            p50_ms: mean(|m| m.p50_ms),
            p99_ms: mean(|m| m.p99_ms),
            errors: runs.iter().map(|m| m.errors).sum(),
            memory: runs.last().map(|m| m.memory).unwrap_or_default(),
        }
    }
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

/// The pause after each measured run, longer than the view writer's
/// flush interval (1 s) with room for a backlog.
const SETTLE: Duration = Duration::from_secs(3);

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
            // A contact form's draft: the intent is put in an arm of the
            // hold-out test (a write) and, since issue 26, given a signed
            // token.
            "similar, contact form (intent)",
            format!(
                r#"local drafts = {}
request = function()
  seq = seq + 1
  return wrk.format("GET", "/api/v1/questions/similar?text=" .. drafts[math.random(#drafts)] .. "&intent_id=" .. string.format("bench-%08x-%d", tid, seq))
end"#,
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
    /// "before" (the baseline binary), "after" (this build), or "" when
    /// there is no baseline.
    version: &'static str,
    backend: &'static str,
    n: usize,
    import_seconds: f64,
    /// Questions per second of `agora reindex`.
    reindex_rate: f64,
    results: Vec<(&'static str, Measured)>,
    peak_rss_mib: f64,
    /// Mails the sink and webhook deliveries the receiver took while the
    /// server ran.
    mails: usize,
    deliveries: u64,
}

/// Creates an admin and subscribes one webhook endpoint, the receiver, to
/// `answer.created`.
fn subscribe_webhook(target: &Target, server: &Server, url: &str) {
    target.run(&[
        "user",
        "create",
        "--username",
        "bench-admin",
        "--email",
        "admin@bench.example",
        "--role",
        "admin",
        "--password",
        PASSWORD,
    ]);
    let admin = server.login_as("bench-admin");
    let body = json!({"url": url, "events": ["answer.created"], "description": "load bench receiver"});
    let mut response = ureq::post(format!("{}/api/v1/admin/webhooks", server.base))
        .header("Authorization", format!("Bearer {admin}"))
        .send_json(&body)
        .expect("webhook endpoint created");
    let created: Value = response.body_mut().read_json().unwrap();
    assert!(created["id"].is_i64(), "{created}");
}

/// One version's server in a run: its database, and the mail sink and
/// webhook receiver that only it sends to.
struct Side<'a> {
    version: &'static str,
    target: Target,
    outside: &'a (SmtpSink, Receiver),
    /// Seconds of the restore and `agora reindex`'s questions/s.
    restored: (f64, f64),
}

/// Restores the dump into the side's fresh database and times a reindex.
fn restore(target: &Target, version: &str, dump: &Path) -> (f64, f64) {
    let importing = Instant::now();
    target.run(&["import", "jsonl", dump.to_str().unwrap()]);
    target.run(&["user", "set-password", "--username", "bench", "--password", PASSWORD]);
    let import_seconds = importing.elapsed().as_secs_f64();
    eprintln!("  {} {version}: restored and indexed in {import_seconds:.1} s", target.backend);
    let reindex_rate = target.reindex_rate();
    eprintln!("  {} {version}: agora reindex at {reindex_rate:.0} questions/s", target.backend);
    (import_seconds, reindex_rate)
}

/// Starts every side's server and measures each endpoint on each server in
/// turn: a short warm-up, then the measurement.
fn measure(options: &Options, material: &Material, n: usize, sides: &[Side]) -> Vec<Run> {
    let counted_from: Vec<(usize, u64)> =
        sides.iter().map(|side| (side.outside.0.mails().len(), side.outside.1.received())).collect();
    let servers: Vec<Server> = sides.iter().map(|side| Server::start(&side.target)).collect();
    let mut plans = Vec::new();
    for (side, server) in sides.iter().zip(&servers) {
        subscribe_webhook(&side.target, server, &side.outside.1.url());
        let plan = endpoints(material, n, &server.login());
        plans.push(plan.into_iter().filter(|(name, _)| options.measures(name)).collect::<Vec<_>>());
    }
    let mut results: Vec<Vec<(&'static str, Measured)>> = sides.iter().map(|_| Vec::new()).collect();
    // Two sides are measured before, after, after, before (ABBA) and each
    // side's two runs averaged: whatever the order itself does to a run
    // (the other side's leftover work, PostgreSQL's WAL writer and
    // autovacuum after a write burst) falls on both sides alike. Measured
    // in the plain order, an A/A run gave the side measured second 0.85x
    // the counted views of the first and 1.89x its question pages
    // (bench/results/2026-12-07-load-pg-aa.md).
    let order: Vec<usize> = if sides.len() == 2 { vec![0, 1, 1, 0] } else { (0..sides.len()).collect() };
    // `endpoint` indexes every side's plan in turn, not just the first.
    #[allow(clippy::needless_range_loop)]
    for endpoint in 0..plans[0].len() {
        let mut runs: Vec<Vec<Measured>> = sides.iter().map(|_| Vec::new()).collect();
        for &i in &order {
            let (side, server) = (&sides[i], &servers[i]);
            let (name, lua) = &plans[i][endpoint];
            let target = &side.target;
            let script = target.data_dir.join(format!("{}.lua", slug(name)));
            std::fs::write(&script, format!("{lua}\n{LUA_COMMON}")).unwrap();
            wrk(options, &server.base, &script, 2);
            // Autoanalyze's stand-in, as in the soak: the warm-up grew tables
            // that the restore left empty.
            target.analyze_if_autovacuum_off();
            let mut measured = wrk(options, &server.base, &script, options.seconds);
            measured.memory = Memory::of(server.child.id());
            // A server goes on working after its load stops (the page views
            // of its last second, their deflection events): let that end
            // before the next run. Without the pause the same binary
            // measured second served 0.88x the counted views of the first
            // (bench/results/2026-12-07-load-aa.md).
            std::thread::sleep(SETTLE);
            eprintln!(
                "  {:>10} {:>6} {n:>8} {name:<28} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
                target.backend,
                side.version,
                measured.requests_per_second,
                measured.p50_ms,
                measured.p99_ms,
                measured.errors
            );
            runs[i].push(measured);
        }
        for (i, side_runs) in runs.iter().enumerate() {
            results[i].push((plans[i][endpoint].0, Measured::mean(side_runs)));
        }
    }
    let peaks: Vec<f64> = servers.iter().map(Server::peak_rss_mib).collect();
    drop(servers);
    sides
        .iter()
        .zip(results)
        .zip(peaks)
        .zip(counted_from)
        .map(|(((side, results), peak_rss_mib), (mails_before, deliveries_before))| Run {
            version: side.version,
            backend: side.target.backend,
            n,
            import_seconds: side.restored.0,
            reindex_rate: side.restored.1,
            results,
            peak_rss_mib,
            mails: side.outside.0.mails().len() - mails_before,
            deliveries: side.outside.1.received() - deliveries_before,
        })
        .collect()
}

// ---------------------------------------------------------------- the report

/// Issue 30: the server's peak RSS at 100k questions.
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
        "`cargo bench --bench load -- --sizes {} {}{}{}--seconds {} --connections {} --threads {}`: release build, \
         `wrk` over loopback with {} connections on {} threads, {} s per endpoint after a 2 s warm-up{}; server and \
         load generator share this machine's {} cores. Took {:.0} s in all.\n",
        options.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","),
        if options.postgres.is_some() { "--postgres … " } else { "" },
        if options.postgres_only { "--postgres-only " } else { "" },
        options.endpoints.as_ref().map(|e| format!("--endpoints \"{}\" ", e.join(","))).unwrap_or_default(),
        options.seconds,
        options.connections,
        options.threads,
        options.connections,
        options.threads,
        options.seconds,
        if options.baseline.is_some() {
            " (with a baseline: before, after, after, before, each side's two runs averaged)"
        } else {
            ""
        },
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
            "## {} questions on {}{}\n\nrestore + reindex {:.1} s; `agora reindex` from the database {:.0} questions/s \
             (target ≥ {REINDEX_TARGET:.0}: {}); server peak RSS {:.1} MiB{}; while it ran, {} mails reached the \
             SMTP sink and {} webhook deliveries the receiver\n",
            run.n,
            run.backend,
            if run.version.is_empty() { String::new() } else { format!(", {}", run.version) },
            run.import_seconds,
            run.reindex_rate,
            if run.reindex_rate >= REINDEX_TARGET { "met" } else { "missed" },
            run.peak_rss_mib,
            if run.n == 100_000 {
                format!(
                    " (target ≤ {RSS_TARGET_MIB} MiB: {})",
                    if run.peak_rss_mib <= RSS_TARGET_MIB { "met" } else { "missed" }
                )
            } else {
                String::new()
            },
            run.mails,
            run.deliveries
        );
        let _ = writeln!(
            md,
            "| endpoint | req/s | ÷ /healthz | p50 ms | p99 ms | errors | goal (issue 30) | RSS after, MiB (anon + files) |\n|---|---:|---:|---:|---:|---:|---|---|"
        );
        for (name, m) in &run.results {
            let goal = goal(run, name)
                .map(|(text, met)| format!("{text}: {}", if met { "met" } else { "missed" }))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "| {name} | {:.0} | {:.0} % | {:.2} | {:.2} | {} | {goal} | {:.0} ({:.0} + {:.0}) |",
                m.requests_per_second,
                ratio(run, name) * 100.0,
                m.p50_ms,
                m.p99_ms,
                m.errors,
                m.memory.rss,
                m.memory.anon,
                m.memory.files
            );
        }
        md.push('\n');
    }
    md.push_str(&before_and_after(runs));
    md
}

/// Issue 30's goals for an endpoint on a backend, and whether the run met it.
fn goal(run: &Run, name: &str) -> Option<(String, bool)> {
    let sqlite = run.backend == "sqlite";
    let of = |n: &str| run.results.iter().find(|(e, _)| *e == n).map(|(_, m)| *m).unwrap_or_default();
    let measured = of(name);
    let tail_ok = measured.p99_ms <= 4.0 * measured.p50_ms;
    let (text, met) = match name {
        "GET question" => {
            let t = if sqlite { 0.60 } else { 0.30 };
            (format!("≥ {:.0} % of /healthz", t * 100.0), ratio(run, name) >= t)
        }
        "GET question (view counted)" => (
            "≥ 50 % of GET question".to_owned(),
            measured.requests_per_second >= 0.5 * of("GET question").requests_per_second,
        ),
        "POST answer" => {
            let t = if sqlite { 0.10 } else { 0.05 };
            (format!("≥ {:.0} % of /healthz", t * 100.0), ratio(run, name) >= t)
        }
        "POST events (10 per batch)" => {
            let t = if sqlite { 50_000.0 } else { 20_000.0 };
            (format!("≥ {t:.0} events/s"), measured.requests_per_second * 10.0 >= t)
        }
        "/healthz" => return None,
        _ => ("".to_owned(), true),
    };
    let text = if text.is_empty() { "p99 ≤ 4 × p50".to_owned() } else { format!("{text}; p99 ≤ 4 × p50") };
    Some((text, met && tail_ok))
}

/// With a baseline: each size and backend's endpoints before and after,
/// side by side, with issue 30's goals.
fn before_and_after(runs: &[Run]) -> String {
    let mut md = String::new();
    for after in runs.iter().filter(|r| r.version == "after") {
        let Some(before) = runs.iter().find(|r| r.version == "before" && r.n == after.n && r.backend == after.backend)
        else {
            continue;
        };
        let _ = writeln!(
            md,
            "## Before and after: {} questions on {}\n\n| endpoint | before req/s | ÷ /healthz | after req/s | ÷ /healthz | \
             change (ratio) | p50 ms before → after | p99 ms before → after | goal (issue 30) | after meets it |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---|---|",
            after.n, after.backend
        );
        for (name, a) in &after.results {
            let Some((_, b)) = before.results.iter().find(|(n, _)| n == name) else { continue };
            let (rb, ra) = (ratio(before, name), ratio(after, name));
            let (goal_text, met) = goal(after, name).unwrap_or_default();
            let _ = writeln!(
                md,
                "| {name} | {:.0} | {:.1} % | {:.0} | {:.1} % | {:.2}× | {:.2} → {:.2} | {:.2} → {:.2} | {goal_text} | {} |",
                b.requests_per_second,
                rb * 100.0,
                a.requests_per_second,
                ra * 100.0,
                if rb > 0.0 { ra / rb } else { 0.0 },
                b.p50_ms,
                a.p50_ms,
                b.p99_ms,
                a.p99_ms,
                if goal_text.is_empty() {
                    ""
                } else if met {
                    "yes"
                } else {
                    "no"
                },
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
    corpus::require_data("load");
    let options = options();
    let started = Instant::now();
    assert!(Command::new("wrk").arg("--version").output().is_ok(), "the load bench needs wrk: apt-get install wrk");
    let material = material();
    let versions: Vec<(&'static str, PathBuf)> = match &options.baseline {
        Some(baseline) => vec![("before", baseline.clone()), ("after", this_build())],
        None => vec![("", this_build())],
    };
    let outsides: Vec<(SmtpSink, Receiver)> = versions.iter().map(|_| (SmtpSink::start(), Receiver::start())).collect();
    let mut runs = Vec::new();
    let mut communities = Vec::new();
    for &n in &options.sizes {
        let dump = work_dir().join(format!("dump-{n}"));
        let generating = Instant::now();
        let community = generate(&material, n, &dump);
        eprintln!("{n} questions: dump written in {:.1} s", generating.elapsed().as_secs_f64());
        communities.push((n, community));
        let backends: Vec<(&'static str, Option<&str>)> = std::iter::once(("sqlite", None))
            .filter(|_| !options.postgres_only)
            .chain(options.postgres.as_deref().map(|u| ("postgres", Some(u))))
            .collect();
        // The mail housekeeping's first pass (a minute after start) looks at
        // every verified user for the day's digest: a quarter of the
        // questions here, each a transaction, and the digests it enqueues
        // to compose and send. That falls in whichever endpoint's run is
        // measured then, on whichever side (2026-12-07-profiles.md), so it
        // is off; each request's notification mail is not.
        let no_daily_mail_pass = work_dir().join("agora-no-daily-mail-pass.toml");
        std::fs::write(&no_daily_mail_pass, "[mail]\nhousekeeping_secs = 0\n").unwrap();
        for (backend, url) in backends {
            let sides: Vec<Side> = versions
                .iter()
                .zip(&outsides)
                .map(|((version, binary), outside)| {
                    let target = fresh_tagged(backend, n, version, url)
                        .with_binary(binary.clone())
                        .with_env("AGORA_SMTP_URL", &outside.0.url())
                        .with_env("AGORA_WEBHOOK_ALLOW_PRIVATE", "true")
                        .with_env("AGORA_CONFIG", no_daily_mail_pass.to_str().unwrap());
                    let restored = restore(&target, version, &dump);
                    Side { version, target, outside, restored }
                })
                .collect();
            runs.extend(measure(&options, &material, n, &sides));
        }
    }
    let results = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&results).unwrap();
    let date = Utc::now().format("%Y-%m-%d");
    let md = report(&options, &runs, &communities, started.elapsed());
    let name = match &options.label {
        Some(label) => format!("{date}-load-{label}"),
        None => format!("{date}-load"),
    };
    std::fs::write(results.join(format!("{name}.md")), &md).unwrap();
    std::fs::write(results.join(format!("{name}.svg")), chart(&runs)).unwrap();
    println!("{md}");
}
