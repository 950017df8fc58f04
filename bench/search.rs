//! Search benchmark: builds synthetic council-forum corpora of N questions
//! from the Qatar Living text in ../shared/data, then measures, at each
//! size, index build rate, index size, and single-thread latency (p50/p99)
//! and throughput of search and similar-question queries — and the same
//! search queries on SQLite FTS5 and PostgreSQL full-text search over the
//! same documents, reported as ratios measured in the same run.
//!
//!     cargo bench --bench search -- [--sizes 10000,100000,1000000]
//!         [--queries 400] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
//!         [--no-fts]
//!
//! Writes bench/results/<date>-search.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use search_index::{QuestionDoc, SearchIndex, SearchRequest, SimilarRequest, Synonyms};

#[path = "corpus.rs"]
mod corpus;
use corpus::{Material, Rng, material, slug};

struct Options {
    sizes: Vec<usize>,
    queries: usize,
    postgres: Option<String>,
    fts: bool,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    Options {
        sizes: value("--sizes")
            .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![10_000, 100_000]),
        queries: value("--queries").and_then(|n| n.parse().ok()).unwrap_or(400),
        postgres: if args.iter().any(|a| a == "--no-postgres") {
            None
        } else {
            Some(value("--postgres").unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()))
        },
        fts: !args.iter().any(|a| a == "--no-fts"),
    }
}

fn synthetic(material: &Material, n: usize) -> Vec<QuestionDoc> {
    let mut rng = Rng(42);
    let statuses = ["unanswered", "answered", "solved"];
    (1..=n)
        .map(|id| {
            let m = material;
            let body: Vec<&str> =
                (0..2 + rng.below(3)).map(|_| m.sentences[rng.below(m.sentences.len())].as_str()).collect();
            let answers: Vec<String> =
                (0..rng.below(4)).map(|_| m.comments[rng.below(m.comments.len())].clone()).collect();
            let category = &m.categories[rng.below(m.categories.len())];
            let status = statuses[if answers.is_empty() { 0 } else { 1 + rng.below(2) }];
            QuestionDoc {
                id: id as i64,
                title: m.titles[rng.below(m.titles.len())].clone(),
                body: body.join(". "),
                answer_count: answers.len() as u64,
                answers,
                tags: vec![],
                category_slug: slug(category),
                category_name: category.clone(),
                area: None,
                status: status.to_owned(),
                score: rng.below(20) as i64,
                accepted: status == "solved",
                verified: false,
                created_at: 1_700_000_000 + id as i64,
                activity_at: 1_700_000_000 + id as i64,
                closed: false,
                duplicate_of: None,
            }
        })
        .collect()
}

/// Latency percentiles and throughput of running `run` over `inputs`.
struct Timing {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

fn time_each(inputs: &[String], mut run: impl FnMut(&str)) -> Timing {
    // Warm up caches as a long-running server would have.
    for input in inputs.iter().take(20) {
        run(input);
    }
    let mut samples = Vec::with_capacity(inputs.len());
    let started = Instant::now();
    for input in inputs {
        let t = Instant::now();
        run(input);
        samples.push(t.elapsed());
    }
    let total = started.elapsed();
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Timing { p50: at(0.5), p99: at(0.99), per_second: inputs.len() as f64 / total.as_secs_f64() }
}

fn cycle(items: &[String], n: usize) -> Vec<String> {
    items.iter().cycle().take(n).cloned().collect()
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path).map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Words a full-text engine can take without syntax errors.
fn words(query: &str) -> Vec<String> {
    query.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 1).map(str::to_lowercase).collect()
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    #[allow(dead_code)]
    id: i64,
}

fn sqlite_fts(docs: &[QuestionDoc], queries: &[String], work: &Path) -> (f64, Timing) {
    let path = work.join("fts.db");
    let _ = std::fs::remove_file(&path);
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).expect("sqlite");
    diesel::sql_query("CREATE VIRTUAL TABLE docs USING fts5(title, body, tokenize = 'porter')")
        .execute(&mut conn)
        .unwrap();
    let started = Instant::now();
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        for d in docs {
            diesel::sql_query("INSERT INTO docs (rowid, title, body) VALUES (?, ?, ?)")
                .bind::<BigInt, _>(d.id)
                .bind::<Text, _>(&d.title)
                .bind::<Text, _>(format!("{} {}", d.body, d.answers.join(" ")))
                .execute(conn)?;
        }
        Ok(())
    })
    .unwrap();
    let rate = docs.len() as f64 / started.elapsed().as_secs_f64();
    let timing = time_each(queries, |q| {
        let fts: Vec<String> = words(q).iter().map(|w| format!("\"{w}\"")).collect();
        if fts.is_empty() {
            return;
        }
        let _: Vec<Id> =
            diesel::sql_query("SELECT rowid AS id FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, 3.0, 1.0) LIMIT 20")
                .bind::<Text, _>(fts.join(" "))
                .load(&mut conn)
                .unwrap();
    });
    (rate, timing)
}

fn postgres_fts(url: &str, docs: &[QuestionDoc], queries: &[String]) -> Option<(f64, Timing)> {
    let mut admin = PgConnection::establish(url).ok()?;
    let _ = diesel::sql_query("DROP DATABASE IF EXISTS agora_bench_fts WITH (FORCE)").execute(&mut admin);
    diesel::sql_query("CREATE DATABASE agora_bench_fts").execute(&mut admin).ok()?;
    let bench_url = match url.rfind('/') {
        Some(i) if i > url.find("://").map_or(0, |p| p + 2) => format!("{}/agora_bench_fts", &url[..i]),
        _ => format!("{url}/agora_bench_fts"),
    };
    let mut conn = PgConnection::establish(&bench_url).ok()?;
    diesel::sql_query(
        "CREATE TABLE docs (id BIGINT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL,
           tsv tsvector GENERATED ALWAYS AS (setweight(to_tsvector('english', title), 'A') || to_tsvector('english', body)) STORED)",
    )
    .execute(&mut conn)
    .ok()?;
    let started = Instant::now();
    for chunk in docs.chunks(1000) {
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            for d in chunk {
                diesel::sql_query("INSERT INTO docs (id, title, body) VALUES ($1, $2, $3)")
                    .bind::<BigInt, _>(d.id)
                    .bind::<Text, _>(&d.title)
                    .bind::<Text, _>(format!("{} {}", d.body, d.answers.join(" ")))
                    .execute(conn)?;
            }
            Ok(())
        })
        .ok()?;
    }
    diesel::sql_query("CREATE INDEX docs_tsv ON docs USING GIN (tsv)").execute(&mut conn).ok()?;
    diesel::sql_query("ANALYZE docs").execute(&mut conn).ok()?;
    let rate = docs.len() as f64 / started.elapsed().as_secs_f64();
    let timing = time_each(queries, |q| {
        let _: Vec<Id> = diesel::sql_query(
            "SELECT id FROM docs, websearch_to_tsquery('english', $1) query
             WHERE tsv @@ query ORDER BY ts_rank(tsv, query) DESC LIMIT 20",
        )
        .bind::<Text, _>(words(q).join(" "))
        .load(&mut conn)
        .unwrap();
    });
    drop(conn);
    let _ = diesel::sql_query("DROP DATABASE IF EXISTS agora_bench_fts WITH (FORCE)").execute(&mut admin);
    Some((rate, timing))
}

fn main() {
    corpus::require_data("search");
    let options = options();
    let material = material();
    let work = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/work");
    std::fs::create_dir_all(&work).unwrap();
    let mut report = String::new();
    let _ = writeln!(report, "# Search benchmark — {}\n", chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"));
    let _ = writeln!(
        report,
        "Synthetic questions built from the Qatar Living forum text (titles, body sentences, comments as answers). \
         Single-thread latency over {} queries each, release build, one machine, one run; \
         ratios compare engines measured in the same run.\n",
        options.queries
    );
    let _ = writeln!(
        report,
        "| questions | build (docs/s) | index size | search p50 / p99 (ms) | search q/s | similar p50 / p99 (ms) | similar q/s | similar, short drafts p50 / p99 (ms) | SQLite FTS5 p50 / p99 | PostgreSQL FTS p50 / p99 | search vs FTS5 (q/s) | search vs PostgreSQL (q/s) |"
    );
    let _ = writeln!(report, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    let synonyms = Synonyms::with_extra(&[]);
    for &n in &options.sizes {
        eprintln!("== {n} questions");
        let docs = synthetic(&material, n);
        let index_dir = work.join(format!("index-{n}"));
        let _ = std::fs::remove_dir_all(&index_dir);
        let (index, _) = SearchIndex::open(&index_dir).unwrap();
        let mut writer = index.writer(256 * 1024 * 1024).unwrap();
        let started = Instant::now();
        for d in &docs {
            writer.add(d).unwrap();
        }
        writer.commit(0).unwrap();
        let build_rate = n as f64 / started.elapsed().as_secs_f64();
        drop(writer);
        index.reload().unwrap();
        let size = dir_size(&index_dir);
        eprintln!("built at {build_rate:.0} docs/s, {} MB", size / 1_000_000);

        let searches = cycle(&material.search_queries, options.queries);
        let drafts = cycle(&material.drafts, options.queries);
        // What a resident types into a contact form: a few words.
        let short_drafts: Vec<String> =
            drafts.iter().map(|d| d.split_whitespace().take(5).collect::<Vec<_>>().join(" ")).collect();
        let search = time_each(&searches, |q| {
            index.search(&SearchRequest { text: q.to_owned(), limit: 20, ..Default::default() }, &synonyms).unwrap();
        });
        let ask = |d: &str| {
            index.similar(&SimilarRequest { text: d.to_owned(), limit: 5, restrict_to: None }, &synonyms).unwrap();
        };
        let similar = time_each(&drafts, ask);
        let similar_short = time_each(&short_drafts, ask);
        eprintln!(
            "search p50 {} p99 {} ms; similar p50 {} p99 {} ms; short drafts p50 {} p99 {} ms",
            ms(search.p50),
            ms(search.p99),
            ms(similar.p50),
            ms(similar.p99),
            ms(similar_short.p50),
            ms(similar_short.p99)
        );
        let fts5 = options.fts.then(|| sqlite_fts(&docs, &searches, &work));
        let pg = if options.fts {
            options.postgres.as_deref().and_then(|url| postgres_fts(url, &docs, &searches))
        } else {
            None
        };
        let cell = |t: &Option<(f64, Timing)>| {
            t.as_ref().map_or("—".to_owned(), |(_, t)| format!("{} / {}", ms(t.p50), ms(t.p99)))
        };
        let ratio = |t: &Option<(f64, Timing)>| {
            t.as_ref().map_or("—".to_owned(), |(_, t)| format!("{:.1}×", search.per_second / t.per_second))
        };
        let _ = writeln!(
            report,
            "| {n} | {build_rate:.0} | {:.0} MB | {} / {} | {:.0} | {} / {} | {:.0} | {} / {} | {} | {} | {} | {} |",
            size as f64 / 1e6,
            ms(search.p50),
            ms(search.p99),
            search.per_second,
            ms(similar.p50),
            ms(similar.p99),
            similar.per_second,
            ms(similar_short.p50),
            ms(similar_short.p99),
            cell(&fts5),
            cell(&pg),
            ratio(&fts5),
            ratio(&pg),
        );
        if let Some((rate, _)) = &fts5 {
            eprintln!("SQLite FTS5 loaded at {rate:.0} docs/s");
        }
        if let Some((rate, _)) = &pg {
            eprintln!("PostgreSQL FTS loaded at {rate:.0} docs/s");
        }
        drop(index);
        let _ = std::fs::remove_dir_all(&index_dir);
    }
    let results = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&results).unwrap();
    let file = results.join(format!("{}-search.md", chrono::Utc::now().format("%Y-%m-%d")));
    std::fs::write(&file, &report).unwrap();
    println!("{report}");
    println!("written to {}", file.display());
}
