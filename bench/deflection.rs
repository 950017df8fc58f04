//! Deflection benchmark: loads N synthetic events (visitor journeys over the
//! last 30 days: searches, views, survey answers, contact intents, bots)
//! through the real ingest path on SQLite, copies the result to PostgreSQL,
//! and times every report on both. Also times ingestion on PostgreSQL on a
//! sample, and one tier computed by a plain aggregate over the derived rows
//! (what the rollups replace) for comparison.
//!
//!     cargo bench --bench deflection -- [--sizes 1000000,10000000]
//!         [--postgres postgres://postgres@127.0.0.1:5432/postgres] [--pg-sample 100000]
//!
//! Writes bench/results/<date>-deflection.md.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use agora::service::deflection::{self, reports};
use agora::service::settings::DeflectionParameters;
use agora::store::deflection::{Intent, Pair, Session, StoredEvent, VisitorDay};
use agora::store::dump::DeflectionEventsRow;
use agora::store::schema::{deflection_events as de, deflection_rollups as dr};
use agora::store::{self, DbConn, PoolOptions, PooledConn, write_transaction};
use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

const CATEGORIES: [&str; 13] = [
    "bins",
    "recycling",
    "parking",
    "permits",
    "potholes",
    "council-tax",
    "housing",
    "planning",
    "libraries",
    "noise",
    "street-lighting",
    "parks",
    "benefits",
];
const QUESTIONS: u64 = 20_000;
const DAYS: i64 = 30;

struct Options {
    sizes: Vec<usize>,
    postgres: Option<String>,
    pg_sample: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    Options {
        sizes: value("--sizes")
            .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![1_000_000]),
        postgres: value("--postgres"),
        pg_sample: value("--pg-sample").and_then(|n| n.parse().ok()).unwrap_or(100_000),
    }
}

/// xorshift64*: deterministic synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Synthetic visitor journeys, as stored events.
struct Journeys {
    rng: Rng,
    start: i64,
    visitors: u64,
    events: u64,
}

impl Journeys {
    fn new(seed: u64, now: i64) -> Journeys {
        Journeys { rng: Rng(seed), start: now - DAYS * 86_400, visitors: 0, events: 0 }
    }

    fn event(&mut self, kind: &str, at: i64, visitor: &str) -> StoredEvent {
        self.events += 1;
        let occurred_at = chrono::DateTime::from_timestamp(at, 0).unwrap().naive_utc();
        StoredEvent::new(format!("00000000-0000-4000-8000-{:012x}", self.events), kind, occurred_at, visitor.to_owned())
    }

    fn about(mut e: StoredEvent, question: u64) -> StoredEvent {
        e.question_id = Some(question as i64 + 1);
        e.category = Some(CATEGORIES[(question % 13) as usize].to_owned());
        e
    }

    /// One visitor's events.
    fn next_visitor(&mut self) -> Vec<StoredEvent> {
        self.visitors += 1;
        let visitor = format!("visitor-{}", self.visitors);
        let r = &mut self.rng;
        let mut t = self.start + r.below(DAYS as u64 * 86_400 - 3_600) as i64;
        let question = r.below(QUESTIONS);
        let solved = question % 10 < 6;
        let kind = r.below(100);
        let mut out = Vec::new();
        if kind < 5 {
            // A crawler: stored, excluded.
            for _ in 0..3 {
                let mut e = Self::about(self.event("question_viewed", t, &visitor), question);
                e.excluded = true;
                e.exclusion_reason = Some("bot".to_owned());
                e.question_solved = Some(solved);
                out.push(e);
                t += 5;
            }
            return out;
        }
        if kind < 65 || self.rng.chance(30) {
            let mut search = self.event("search_performed", t, &visitor);
            search.query = Some(format!("query {}", question % 500));
            out.push(search);
            t += 30;
            let mut view = Self::about(self.event("question_viewed", t, &visitor), question);
            view.question_solved = Some(solved);
            out.push(view);
            t += 60;
            if self.rng.chance(50) {
                let mut vote = Self::about(self.event("helpful_vote", t, &visitor), question);
                vote.value = Some(if self.rng.chance(70) { "yes" } else { "no" }.to_owned());
                out.push(vote);
                t += 10;
            }
            if self.rng.chance(35) {
                let mut would = Self::about(self.event("would_have_contacted", t, &visitor), question);
                let v = self.rng.below(10);
                would.value = Some(
                    if v < 5 {
                        "yes"
                    } else if v < 8 {
                        "no"
                    } else {
                        "unsure"
                    }
                    .to_owned(),
                );
                out.push(would);
                t += 10;
            }
            if self.rng.chance(8) {
                out.push(Self::about(self.event("still_need_help_clicked", t, &visitor), question));
            }
        }
        let contact_form = kind >= 65;
        if contact_form || self.rng.chance(10) {
            let intent = format!("intent-{}", self.visitors);
            t += if contact_form { 120 } else { self.rng.below(10 * 86_400) as i64 };
            let mut step = |this: &mut Journeys, kind: &str, t: i64, q: Option<u64>| {
                let mut e = this.event(kind, t, &visitor);
                if let Some(q) = q {
                    e = Self::about(e, q);
                }
                e.intent_id = Some(intent.clone());
                out.push(e);
            };
            step(self, "contact_intent_started", t, None);
            let shown = contact_form && self.rng.chance(90);
            if shown {
                step(self, "contact_suggestions_shown", t + 5, None);
            }
            let clicked = shown && self.rng.chance(50);
            if clicked {
                step(self, "contact_suggestion_clicked", t + 20, Some(question));
            }
            let ending = self.rng.below(100);
            if clicked && ending < 25 {
                step(self, "contact_intent_confirmed_resolved", t + 60, Some(question));
            } else if ending < 60 {
                step(self, "contact_submitted", t + 300, None);
            }
        }
        out
    }
}

fn open(url: &str) -> PooledConn {
    let options = PoolOptions::new(1, Duration::from_secs(60));
    let (pool, _) = store::connect(url, &options).expect("database");
    let mut conn = pool.get().expect("connection");
    store::migrate(&mut conn).expect("migrations");
    for slug in CATEGORIES {
        if store::categories::find_by_slug(&mut conn, slug).unwrap().is_none() {
            store::categories::insert(&mut conn, slug, slug, "", Utc::now().naive_utc()).unwrap();
        }
    }
    conn
}

/// Loads `n` events through the real ingest path; returns events per second.
fn load(conn: &mut DbConn, n: usize, seed: u64, now: i64) -> f64 {
    let started = Instant::now();
    let mut journeys = Journeys::new(seed, now);
    let mut batch = Vec::new();
    let mut loaded = 0;
    let mut next_report = 500_000;
    while loaded < n {
        let mut events = journeys.next_visitor();
        events.truncate(n - loaded);
        loaded += events.len();
        batch.extend(events);
        if batch.len() >= 2_000 || loaded >= n {
            let rows = std::mem::take(&mut batch);
            write_transaction(conn, |conn| deflection::store_events(conn, rows)).expect("store");
        }
        if loaded >= next_report {
            next_report += 500_000;
            eprintln!("  {loaded} events, {:.0}/s", loaded as f64 / started.elapsed().as_secs_f64());
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn pg(conn: &mut DbConn) -> &mut PgConnection {
    match conn {
        DbConn::Postgres(c) => c,
        DbConn::Sqlite(_) => panic!("not PostgreSQL"),
    }
}

/// Copies raw events, derived state and rollups from SQLite to PostgreSQL
/// (the derived state is the same data on both backends).
fn copy_to_postgres(from: &mut DbConn, to: &mut DbConn) {
    use agora::store::schema::{
        deflection_intents as di, deflection_pairs as dp, deflection_sessions as ds, deflection_visitor_days as dv,
    };
    let started = Instant::now();
    let mut after = 0i64;
    loop {
        // The dump's row type carries every column, so nothing is lost.
        let rows: Vec<DeflectionEventsRow> = de::table
            .filter(de::id.gt(after))
            .order(de::id)
            .limit(2_000)
            .select(DeflectionEventsRow::as_select())
            .load(from)
            .unwrap();
        let Some(last) = rows.last().map(|r| r.id) else { break };
        after = last;
        diesel::insert_into(de::table).values(&rows).execute(pg(to)).unwrap();
    }
    // Whole tables at once: simple, and these machines have the memory.
    macro_rules! copy_table {
        ($table:ident, $row:ty, $order:expr) => {{
            let rows: Vec<$row> = $table::table.order($order).select(<$row>::as_select()).load(from).unwrap();
            for chunk in rows.chunks(2_000) {
                diesel::insert_into($table::table).values(chunk).execute(pg(to)).unwrap();
            }
        }};
    }
    copy_table!(dp, Pair, (dp::visitor_id, dp::question_id));
    copy_table!(di, Intent, di::intent_id);
    copy_table!(ds, Session, ds::session_key);
    copy_table!(dv, VisitorDay, (dv::visitor_id, dv::category, dv::area, dv::kind, dv::day));
    let cells = store::deflection::all_rollups(from).unwrap();
    for chunk in cells.chunks(5_000) {
        let values: Vec<_> = chunk
            .iter()
            .map(|(d, c, a, m, g, g2, n)| {
                (
                    dr::day.eq(*d),
                    dr::category.eq(c.clone()),
                    dr::area.eq(a.clone()),
                    dr::metric.eq(m.clone()),
                    dr::gap.eq(*g),
                    dr::gap2.eq(*g2),
                    dr::n.eq(*n),
                )
            })
            .collect();
        diesel::insert_into(dr::table).values(&values).execute(pg(to)).unwrap();
    }
    diesel::sql_query("ANALYZE").execute(pg(to)).unwrap();
    eprintln!("  copied to PostgreSQL in {:.0} s", started.elapsed().as_secs_f64());
}

/// Median and slowest of `runs` timings of `f`, in milliseconds.
fn time(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

type Report = (&'static str, Box<dyn Fn(&mut DbConn, reports::Context)>);

fn report_list() -> Vec<Report> {
    use reports::Granularity;
    vec![
        ("summary", Box::new(|c, ctx| drop(reports::summary(c, ctx).unwrap()))),
        ("timeseries (day)", Box::new(|c, ctx| drop(reports::timeseries(c, ctx, Granularity::Day).unwrap()))),
        ("timeseries (week)", Box::new(|c, ctx| drop(reports::timeseries(c, ctx, Granularity::Week).unwrap()))),
        ("questions (top 20)", Box::new(|c, ctx| drop(reports::questions(c, ctx, 20).unwrap()))),
        ("gaps (top 20)", Box::new(|c, ctx| drop(reports::gaps(c, ctx, 20).unwrap()))),
        ("experiment", Box::new(|c, ctx| drop(reports::experiment(c, ctx).unwrap()))),
        ("export.csv (day)", Box::new(|c, ctx| drop(reports::export_csv(c, ctx, Granularity::Day).unwrap()))),
    ]
}

/// The viewers tier as a plain aggregate over the derived rows: what the
/// rollups replace.
fn plain_viewers(conn: &mut DbConn, from: i64) {
    let sql = store::portable_sql(
        conn,
        "SELECT COUNT(*) AS n FROM deflection_pairs WHERE solved_view_at >= ?
           AND (first_attempt_after_view_at IS NULL OR first_attempt_after_view_at > solved_view_at + 604800)
           AND NOT (confirmed_at IS NOT NULL AND (first_contact_after_confirm_at IS NULL
                    OR first_contact_after_confirm_at > confirmed_at + 604800))",
    );
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        #[allow(dead_code)]
        n: i64,
    }
    let _: N = diesel::sql_query(sql).bind::<diesel::sql_types::BigInt, _>(from).get_result(conn).unwrap();
}

fn time_reports(conn: &mut DbConn, now: NaiveDateTime, out: &mut String, label: &str) -> f64 {
    let mut summary_ms = 0.0;
    let _ = writeln!(out, "\n| {label} | median ms | slowest ms |\n|---|---:|---:|");
    for category in [None, Some("parking".to_owned())] {
        for (name, run) in report_list() {
            if category.is_some() && name != "summary" {
                continue;
            }
            let filters = reports::Filters { from: None, to: None, category: category.clone(), area: None };
            let (median, worst) = time(5, || {
                let ctx = reports::context(conn, &filters, DeflectionParameters::default(), now).unwrap();
                run(conn, ctx);
            });
            if name == "summary" && category.is_none() {
                summary_ms = median;
            }
            let shown = if category.is_some() { format!("{name}, one category") } else { name.to_owned() };
            let _ = writeln!(out, "| {shown} | {median:.1} | {worst:.1} |");
        }
    }
    let from = now.and_utc().timestamp() - DAYS * 86_400;
    let (median, worst) = time(3, || plain_viewers(conn, from));
    let _ = writeln!(out, "| (viewers tier as a plain aggregate over derived rows) | {median:.1} | {worst:.1} |");
    summary_ms
}

fn count(conn: &mut DbConn, table: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let n: N = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}")).get_result(conn).unwrap();
    n.n
}

fn main() {
    let opts = options();
    let work = PathBuf::from("bench/work");
    std::fs::create_dir_all(&work).unwrap();
    let now = Utc::now().naive_utc();
    let now_secs = now.and_utc().timestamp();
    let mut out = String::new();
    let _ = writeln!(out, "# Deflection benchmark, {}\n", now.date());
    let _ = writeln!(
        out,
        "Synthetic visitor journeys over the last {DAYS} days ({} categories, {QUESTIONS} questions): 5 % crawlers, \
         searches and views with survey answers, contact intents with suggestions, clicks, confirmations and \
         submissions. Loaded through `service::deflection::store_events` (the ingest path: raw event, derived \
         state, rollups) on SQLite, then copied to PostgreSQL. Reports run through the service layer over the default \
         period (last 30 days = every event); median of 5 runs.\n",
        CATEGORIES.len()
    );
    for &n in &opts.sizes {
        eprintln!("== {n} events");
        let file = work.join(format!("deflection-{n}.db"));
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(file.with_extension("db-wal"));
        let mut sqlite = open(file.to_str().unwrap());
        let rate = load(&mut sqlite, n, 42, now_secs);
        let rows = [
            "deflection_events",
            "deflection_pairs",
            "deflection_intents",
            "deflection_sessions",
            "deflection_visitor_days",
            "deflection_rollups",
        ]
        .map(|t| format!("{t} {}", count(&mut sqlite, t)));
        let _ = writeln!(
            out,
            "## {n} events\n\nSQLite ingest: {rate:.0} events/s (batches of 2,000). Rows: {}.",
            rows.join(", ")
        );
        if n <= 2_000_000 {
            assert_eq!(deflection::check_rollups(&mut sqlite).unwrap(), vec![], "rollups agree with the rows");
        }
        let sqlite_summary = time_reports(&mut sqlite, now, &mut out, "SQLite");
        if let Some(url) = &opts.postgres {
            let db = format!("agora_bench_deflection_{n}");
            let mut admin = open(url);
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {db}")).execute(&mut *admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {db}")).execute(&mut *admin).unwrap();
            let base = url.rsplit_once('/').map_or(url.as_str(), |(b, _)| b);
            let mut postgres = open(&format!("{base}/{db}"));
            copy_to_postgres(&mut sqlite, &mut postgres);
            let pg_summary = time_reports(&mut postgres, now, &mut out, "PostgreSQL");
            let _ = writeln!(out, "\nSummary, PostgreSQL ÷ SQLite time: {:.2}.", pg_summary / sqlite_summary);
            drop(postgres);
            let sample_db = "agora_bench_deflection_ingest";
            diesel::sql_query(format!("DROP DATABASE IF EXISTS {sample_db}")).execute(&mut *admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {sample_db}")).execute(&mut *admin).unwrap();
            let mut sample = open(&format!("{base}/{sample_db}"));
            let pg_rate = load(&mut sample, opts.pg_sample, 7, now_secs);
            let _ = writeln!(
                out,
                "\nPostgreSQL ingest ({} events into an empty database): {pg_rate:.0} events/s.",
                opts.pg_sample
            );
        }
    }
    let path = PathBuf::from(format!("bench/results/{}-deflection.md", now.date()));
    std::fs::write(&path, &out).unwrap();
    println!("{out}");
    eprintln!("wrote {}", path.display());
}
