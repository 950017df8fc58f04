//! Search over HTTP: freshness, edits and deletions, matching, filters and
//! facets against the database, hostile input, similar questions, the gap
//! log, two nodes on one database, and an index that survives restarts.

use std::time::{Duration, Instant};

use serde_json::json;

use super::helpers::{TestApp, TestUser, spawn_app, spawn_node};

fn hits(app: &TestApp, query: &str) -> Vec<i64> {
    let page = app.get(&format!("/api/v1/search?{query}")).send().assert_status(200).json();
    page["items"].as_array().unwrap().iter().map(|h| h["question_id"].as_i64().unwrap()).collect()
}

/// Polls until `check` holds, failing after `limit`.
#[track_caller]
fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

fn wait_ready(app: &TestApp) {
    eventually(Duration::from_secs(30), "index ready", || app.get("/readyz").send().status == 200);
}

fn setup() -> (TestApp, TestUser, TestUser) {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "waste");
    app.create_category(&admin, "streets");
    wait_ready(&app);
    let resident = app.register("rosa");
    // Past the new-account limit of three questions an hour.
    app.set_reputation(resident.id, 20);
    (app, admin, resident)
}

fn q(s: &str) -> String {
    s.replace(' ', "%20").replace('"', "%22")
}

#[test]
fn posts_are_searchable_within_a_second_and_follow_edits_and_deletes() {
    let (app, admin, rosa) = setup();
    let id = app.ask(&rosa, "waste", "Green wheelie bin skipped on Mill Lane", &[])["id"].as_i64().unwrap();
    let took = eventually(Duration::from_secs(1), "new question searchable", || hits(&app, "q=wheelie").contains(&id));
    eprintln!("searchable after {took:?}");

    let edit =
        json!({"title": "Brown garden waste bin skipped on Mill Lane", "body": "The brown bin was left full again."});
    app.patch(&format!("/api/v1/questions/{id}"), &edit).bearer(&rosa.access_token).send().assert_status(200);
    eventually(Duration::from_secs(1), "edit applied", || hits(&app, "q=garden").contains(&id));
    assert!(!hits(&app, "q=wheelie").contains(&id), "the old title no longer matches");

    // Answers are searched too, and follow their edits.
    let bea = app.register("bea");
    let answer = app.answer(&bea, id, "Ring the depot at Northfield, they send a crew.");
    eventually(Duration::from_secs(1), "answer searchable", || hits(&app, "q=depot").contains(&id));
    app.call("DELETE", &format!("/api/v1/answers/{}", answer["id"]))
        .bearer(&bea.access_token)
        .send()
        .assert_status(204);
    eventually(Duration::from_secs(1), "deleted answer gone", || !hits(&app, "q=depot").contains(&id));

    // Hidden content vanishes.
    app.with_conn(|conn| {
        use agora::store::schema::questions;
        use diesel::prelude::*;
        diesel::update(questions::table.find(id))
            .set(questions::hidden_at.eq(Some(app.clock.now())))
            .execute(conn)
            .unwrap();
        agora::store::outbox::enqueue(conn, id, "hidden", app.clock.now()).unwrap();
    });
    eventually(Duration::from_secs(1), "hidden question gone", || !hits(&app, "q=garden").contains(&id));

    let other = app.ask(&rosa, "waste", "Another question about garden waste", &[])["id"].as_i64().unwrap();
    eventually(Duration::from_secs(1), "second question searchable", || hits(&app, "q=garden").contains(&other));
    app.call("DELETE", &format!("/api/v1/questions/{other}")).bearer(&admin.access_token).send().assert_status(204);
    eventually(Duration::from_secs(1), "deleted question gone", || hits(&app, "q=garden").is_empty());
}

#[test]
fn typos_stems_phrases_and_synonyms_work_through_the_api() {
    let (app, _, rosa) = setup();
    let recycling = app.ask(&rosa, "waste", "When is the recycling collection day?", &[])["id"].as_i64().unwrap();
    let bin = app.ask(&rosa, "waste", "My bin was not collected this week", &[])["id"].as_i64().unwrap();
    let pothole = app.ask(&rosa, "streets", "Deep pothole outside the school gates", &[])["id"].as_i64().unwrap();
    eventually(Duration::from_secs(1), "indexed", || hits(&app, "q=pothole").contains(&pothole));
    assert!(hits(&app, "q=recyclng").contains(&recycling), "typo");
    assert!(hits(&app, "q=collections").contains(&recycling), "stem");
    assert_eq!(hits(&app, &format!("q={}", q("\"not collected\""))), vec![bin], "phrase");
    assert!(hits(&app, "q=rubbish").contains(&bin), "synonym");
    assert!(hits(&app, &format!("q={}", q("road defect"))).contains(&pothole), "multi-word synonym");
    let page = app.get("/api/v1/search?q=pothole").send().json();
    assert!(
        page["items"][0]["snippet_html"].as_str().unwrap().contains("<mark>")
            || page["items"][0]["title"].as_str().unwrap().contains("pothole")
    );
}

/// Counts of GET /questions with a filter, paging through.
fn list_count(app: &TestApp, filter: &str) -> u64 {
    let mut count = 0;
    let mut url = format!("/api/v1/questions?limit=100&{filter}");
    loop {
        let page = app.get(&url).send().assert_status(200).json();
        count += page["items"].as_array().unwrap().len() as u64;
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("/api/v1/questions?limit=100&{filter}&cursor={cursor}"),
            None => return count,
        }
    }
}

#[test]
fn filters_and_facets_agree_with_the_database() {
    let app = spawn_app();
    app.with_conn(|conn| agora::demo::seed(conn, &app.clock).unwrap());
    wait_ready(&app);
    let total_in_db = list_count(&app, "");
    eventually(Duration::from_secs(10), "demo indexed", || {
        app.get("/api/v1/search?limit=1").send().json()["total"].as_u64() == Some(total_in_db)
    });
    let everything = app.get("/api/v1/search?limit=1").send().json();
    let categories = app.get("/api/v1/categories").send().json();
    for category in categories["items"].as_array().unwrap() {
        let slug = category["slug"].as_str().unwrap();
        assert_eq!(
            everything["facets"]["category"][slug].as_u64().unwrap_or(0),
            category["question_count"].as_u64().unwrap(),
            "{slug}"
        );
        let filtered = app.get(&format!("/api/v1/search?category={slug}&limit=1")).send().json();
        assert_eq!(filtered["total"].as_u64().unwrap(), list_count(&app, &format!("category={slug}")), "{slug}");
    }
    for status in ["unanswered", "answered", "solved"] {
        let in_db = list_count(&app, &format!("status={status}"));
        assert_eq!(everything["facets"]["status"][status].as_u64().unwrap_or(0), in_db, "{status}");
        let filtered = app.get(&format!("/api/v1/search?status={status}&limit=1")).send().json();
        assert_eq!(filtered["total"].as_u64().unwrap(), in_db, "{status}");
    }
    let (tag, count) = everything["facets"]["tag"].as_object().unwrap().iter().max_by_key(|(_, n)| n.as_u64()).unwrap();
    assert_eq!(count.as_u64().unwrap(), list_count(&app, &format!("tag={tag}")), "tag {tag}");
    // Every area the demo uses is counted as GET /questions?area= counts it,
    // and filtering by one narrows the area facets to it.
    let areas = everything["facets"]["area"].as_object().unwrap();
    assert!(areas.len() >= 3, "the demo's areas are counted: {areas:?}");
    for (area, count) in areas {
        let encoded = area.replace(' ', "%20");
        assert_eq!(count.as_u64().unwrap(), list_count(&app, &format!("area={encoded}")), "area {area}");
        let filtered = app.get(&format!("/api/v1/search?area={encoded}&limit=1")).send().json();
        assert_eq!(filtered["total"], *count, "area {area}");
        let narrowed: Vec<&String> = filtered["facets"]["area"].as_object().unwrap().keys().collect();
        assert_eq!(narrowed, vec![area], "area {area}");
    }
    // Paging through a query visits each hit once.
    let mut seen = std::collections::HashSet::new();
    let mut url = "/api/v1/search?q=bin&limit=7".to_owned();
    loop {
        let page = app.get(&url).send().json();
        for item in page["items"].as_array().unwrap() {
            assert!(seen.insert(item["question_id"].as_i64().unwrap()), "repeated hit");
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("/api/v1/search?q=bin&limit=7&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, app.get("/api/v1/search?q=bin").send().json()["total"].as_u64().unwrap());
}

#[test]
fn hostile_queries_give_results_or_400_never_500() {
    let (app, _, rosa) = setup();
    app.ask(&rosa, "waste", "A normal question about bins", &[]);
    let cases = [
        "%22unbalanced",
        "title%3Abin",
        "body%3A*",
        "%2B%2B%2B---",
        "((((((",
        "%00%01%1B%7F",
        "bin%5E100",
        "%E2%80%AE%F0%9F%92%A9",
        "*%3F*",
        "NOT%20AND%20OR",
    ];
    for case in cases {
        let response = app.get(&format!("/api/v1/search?q={case}")).send();
        assert!(response.status == 200 || response.status == 400, "{case}: {}", response.text);
    }
    let long = "x".repeat(10_000);
    app.get(&format!("/api/v1/search?q={long}")).send().assert_problem(400, "query_too_long");
    app.get("/api/v1/search?sort=random").send().assert_problem(400, "invalid_query");
    app.get("/api/v1/search?limit=500").send().assert_problem(422, "validation_failed");
    app.get("/api/v1/search?cursor=forged").send().assert_problem(400, "invalid_cursor");
    app.get("/api/v1/questions/similar").send().assert_problem(422, "validation_failed");
    app.get(&format!("/api/v1/questions/similar?text={}", "y".repeat(6000)))
        .send()
        .assert_problem(422, "validation_failed");
    app.get("/api/v1/questions/similar?text=bins&limit=0").send().assert_problem(422, "validation_failed");
}

#[test]
fn similar_questions_rank_solved_ones_and_resolve_duplicates() {
    let (app, admin, rosa) = setup();
    let canonical = app.ask(&rosa, "waste", "Missed bin collection, who do I contact?", &[])["id"].as_i64().unwrap();
    let staff = app.user_with_roles("staff_wes", &[agora::domain::Role::Staff]);
    let answer = app.answer(&staff, canonical, "Report a missed bin online; a crew returns within two days.")["id"]
        .as_i64()
        .unwrap();
    app.post(&format!("/api/v1/questions/{canonical}/accept"), &json!({"answer_id": answer}))
        .bearer(&rosa.access_token)
        .send()
        .assert_status(200);
    let duplicate = app.ask(&rosa, "waste", "Bin collection missed again, who to contact", &[])["id"].as_i64().unwrap();
    app.with_conn(|conn| {
        agora::store::questions::set_closed(conn, duplicate, Some(app.clock.now()), Some("duplicate"), Some(canonical))
            .unwrap();
        agora::store::outbox::enqueue(conn, duplicate, "closed", app.clock.now()).unwrap();
    });
    let unrelated = app.ask(&rosa, "streets", "Streetlight flickering on Kingsway", &[])["id"].as_i64().unwrap();
    eventually(Duration::from_secs(1), "indexed", || hits(&app, "q=streetlight").contains(&unrelated));
    let _ = admin;
    let similar = app
        .get(&format!("/api/v1/questions/similar?text={}", q("my bin collection was missed who can I contact")))
        .send();
    let items = similar.assert_status(200).json()["items"].clone();
    let ids: Vec<i64> = items.as_array().unwrap().iter().map(|i| i["question_id"].as_i64().unwrap()).collect();
    assert_eq!(ids[0], canonical, "{items}");
    assert!(!ids.contains(&duplicate), "closed duplicates give way to their target: {ids:?}");
    assert!(!ids.contains(&unrelated));
    assert_eq!(items[0]["status"], "solved");
    let typo = app.get(&format!("/api/v1/questions/similar?text={}", q("streetlite flickering"))).send().json();
    assert_eq!(typo["items"][0]["question_id"], unrelated);
}

#[test]
fn empty_and_unsolved_searches_are_logged_for_the_gap_report() {
    use agora::store::schema::search_gaps;
    use diesel::prelude::*;
    let (app, _, rosa) = setup();
    app.ask(&rosa, "waste", "Bulky item collection prices", &[]);
    // Polled with another word: the recorder writes in the background, so
    // a poll still in flight must not land among the searches counted below.
    eventually(Duration::from_secs(1), "indexed", || !hits(&app, "q=prices").is_empty());
    hits(&app, "q=allotment%20waiting%20list");
    hits(&app, "q=bulky");
    let recorded = |text: &str| -> Vec<(String, i32)> {
        app.with_conn(|conn| {
            search_gaps::table
                .filter(search_gaps::query.eq(text))
                .select((search_gaps::kind, search_gaps::results))
                .load(conn)
                .unwrap()
        })
    };
    eventually(Duration::from_secs(5), "gaps recorded", || {
        !recorded("allotment waiting list").is_empty() && !recorded("bulky").is_empty()
    });
    assert_eq!(recorded("allotment waiting list"), vec![("zero_results".to_owned(), 0)]);
    assert_eq!(recorded("bulky"), vec![("no_solved_result".to_owned(), 1)]);
}

#[test]
fn a_second_node_on_the_same_database_finds_what_the_first_wrote() {
    let (app, _, rosa) = setup();
    let node_b = spawn_node(&app.db, app.db.scratch_dir().join("node-b"), |_| {});
    wait_ready(&node_b);
    let id = app.ask(&rosa, "waste", "Written on node A, found on node B", &[])["id"].as_i64().unwrap();
    eventually(Duration::from_secs(2), "found on node B", || hits(&node_b, "q=written").contains(&id));
    // And the other way round, with a token from node A (shared secret).
    let other = node_b.ask(&rosa, "streets", "Written on node B, found on node A", &[])["id"].as_i64().unwrap();
    eventually(Duration::from_secs(2), "found on node A", || hits(&app, "q=written").contains(&other));
}

#[test]
fn a_missing_or_corrupt_index_is_rebuilt_at_start() {
    let (app, _, rosa) = setup();
    let ids: Vec<i64> = (0..5)
        .map(|i| app.ask(&rosa, "waste", &format!("Question number {i} for the rebuild"), &[])["id"].as_i64().unwrap())
        .collect();
    eventually(Duration::from_secs(2), "indexed", || hits(&app, "q=rebuild").len() == 5);
    let db = app.db.clone();
    let data_dir = app.state.ctx.config.data_dir.clone();
    drop(app);
    std::fs::write(data_dir.join("index").join("meta.json"), "{ corrupt").unwrap();
    let restarted = spawn_node(&db, data_dir, |_| {});
    wait_ready(&restarted);
    let mut found = hits(&restarted, "q=rebuild");
    found.sort();
    assert_eq!(found, ids);
}

#[test]
fn sigterm_makes_the_last_index_commit_before_exiting() {
    // The node commits its index only every hour; a graceful stop must still
    // leave the index at the outbox head, so the next start has nothing to
    // replay.
    let (app, _, _) = setup();
    let db = app.db.clone();
    let data_dir = app.db.scratch_dir().join("graceful-node");
    let process = super::process::Node::start(&db, &data_dir, &[("AGORA_INDEX_COMMIT_MS", "3600000")]);
    let token = process.login("rosa", super::helpers::PASSWORD);
    for i in 0..3 {
        let body = json!({"title": format!("Written before the stop {i}"), "body": "A body long enough to be a question.", "category": "waste"});
        assert_eq!(process.post("/api/v1/questions", &body, &token).0, 201);
    }
    assert!(process.search_ids("stop").is_empty(), "nothing committed to the index yet");
    assert!(process.terminate(Duration::from_secs(30)), "SIGTERM did not end the server cleanly");
    let head: i64 = app.with_conn(|conn| {
        use agora::store::schema::search_outbox;
        use diesel::prelude::*;
        search_outbox::table.select(diesel::dsl::max(search_outbox::id)).first::<Option<i64>>(conn).unwrap().unwrap()
    });
    let (_, outcome) = search_index::SearchIndex::open(&data_dir.join("index")).unwrap();
    match outcome {
        search_index::OpenOutcome::Ready { position } => {
            assert_eq!(position, head, "the index was not committed up to the outbox head at shutdown")
        }
        search_index::OpenOutcome::Rebuild { reason } => {
            panic!("the index needs a rebuild after a graceful stop: {reason}")
        }
    }
}

#[test]
fn killing_the_server_between_database_and_index_commits_loses_nothing() {
    // A real `agora serve` that commits its index only every hour is killed
    // with SIGKILL after answering 201s; the next start applies the outbox
    // from the last committed position.
    let (app, _, rosa) = setup();
    let db = app.db.clone();
    let data_dir = app.db.scratch_dir().join("process-node");
    let committed_ids: Vec<i64> = (0..3)
        .map(|i| app.ask(&rosa, "waste", &format!("Before the crash {i}"), &[])["id"].as_i64().unwrap())
        .collect();
    let process = super::process::Node::start(&db, &data_dir, &[("AGORA_INDEX_COMMIT_MS", "3600000")]);
    let token = process.login("rosa", super::helpers::PASSWORD);
    let mut written = Vec::new();
    for i in 0..5 {
        let body = json!({"title": format!("Written before the kill {i}"), "body": "A body long enough to be a question.", "category": "waste"});
        let (status, created) = process.post("/api/v1/questions", &body, &token);
        assert_eq!(status, 201);
        written.push(created["id"].as_i64().unwrap());
    }
    assert!(process.search_ids("kill").is_empty(), "nothing committed to the index yet");
    process.kill();
    let restarted = super::process::Node::start(&db, &data_dir, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut found = restarted.search_ids("kill");
        found.sort();
        if found == written {
            break;
        }
        assert!(Instant::now() < deadline, "after restart found {found:?}, wrote {written:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut before = restarted.search_ids("crash");
    before.sort();
    assert_eq!(before, committed_ids);
}

#[test]
fn an_outbox_entry_committed_after_higher_positions_were_applied_is_still_indexed() {
    // On PostgreSQL a transaction takes its outbox position when it writes
    // and may commit after later positions were applied. (SQLite has one
    // writer: positions commit in order, so there is nothing to test.)
    let (app, _, rosa) = setup();
    if !matches!(*app.db, super::helpers::TestDatabase::Postgres { .. }) {
        eprintln!("skipped: positions can only commit out of order on PostgreSQL");
        return;
    }
    let late = app.ask(&rosa, "streets", "Pothole outside the library", &[])["id"].as_i64().unwrap();
    let busy = app.ask(&rosa, "waste", "Recycling question with many re-indexes", &[])["id"].as_i64().unwrap();
    // More applied entries inside the look-back window than one read of it
    // returns: a late entry must not hide behind them.
    app.with_conn(|conn| {
        let now = app.clock.now();
        for _ in 0..2100 {
            agora::store::outbox::enqueue(conn, busy, "test", now).unwrap();
        }
    });
    eventually(Duration::from_secs(10), "the busy entries applied", || {
        let status = &app.state.search.status;
        status.position.load(std::sync::atomic::Ordering::SeqCst)
            >= status.head.load(std::sync::atomic::Ordering::SeqCst)
    });

    let (took_position, go_on) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
    let (mut held, clock) = (app.conn(), app.clock.clone());
    let writer = std::thread::spawn(move || {
        use diesel::Connection;
        let (took_position, go_on) = (took_position.0, go_on.1);
        held.transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::RunQueryDsl::execute(
                diesel::sql_query(
                    "UPDATE questions SET title = 'Zebra crossing faded outside the library' WHERE id = $1",
                )
                .bind::<diesel::sql_types::BigInt, _>(late),
                conn,
            )?;
            agora::store::outbox::enqueue(conn, late, "test", clock.now())?;
            took_position.send(()).unwrap();
            go_on.recv().unwrap();
            Ok(())
        })
        .unwrap();
    });
    took_position.1.recv().unwrap();
    // A higher position commits and is applied while the lower one is open.
    let after = app.ask(&rosa, "waste", "Committed while another write was open", &[])["id"].as_i64().unwrap();
    eventually(Duration::from_secs(2), "the higher position applied", || hits(&app, "q=committed").contains(&after));
    go_on.0.send(()).unwrap();
    writer.join().unwrap();
    eventually(Duration::from_secs(2), "the late entry applied", || hits(&app, "q=zebra").contains(&late));
}
