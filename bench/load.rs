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

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;

#[path = "community.rs"]
mod community;
#[path = "corpus.rs"]
mod corpus;
#[path = "server.rs"]
mod server;
#[path = "wrk.rs"]
mod wrk;
use community::{Community, generate};
use corpus::{Material, Rng, material, slug};
use server::{PASSWORD, Server, Target, fresh, work_dir};
use wrk::{LUA_COMMON, lua_strings, url_encode};

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
        // Autoanalyze's stand-in, as in the soak: the warm-up grew tables
        // that the restore left empty.
        target.analyze_if_autovacuum_off();
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
    corpus::require_data("load");
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
