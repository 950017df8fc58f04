//! Crash safety: a burst of writes (questions, answers, votes, events)
//! against a real `agora serve`, `kill -9` at a random moment, ten times.
//! After each restart every write that got a 2xx is in the database, the
//! reputation ledger agrees with the cached sums, and the search index
//! matches the database. Runs on whichever database the suite runs on
//! (CI runs it on both).
//!
//! On SQLite the writers of a burst share transactions (group commit,
//! `store::writer`): four workers write at once, so writes here are
//! acknowledged from shared commits, and a kill can land between a
//! batch's writes and its commit.
//!
//! Page views are the one thing a node holds before writing (they are
//! written once a second, `service::community::views`): a `kill -9` may
//! lose the views of the last flush interval, and no more. Every view read
//! more than `VIEWS_MAY_BE_LOST` before the kill is in the database, and
//! each question's count equals its counted views.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use agora::service::community::views::FLUSH_EVERY;
use agora::store::schema::{answers, deflection_events, question_views, questions, users, votes};
use agora::store::{self, DbConn, PoolOptions};
use diesel::prelude::*;
use serde_json::{Value, json};

use super::helpers::{PASSWORD, TestDatabase};
use super::process::Node;

const ROUNDS: usize = 10;
const WORKERS: usize = 4;
/// One word per round, far apart in spelling (search is typo-tolerant).
const ROUND_WORDS: [&str; ROUNDS] =
    ["amber", "basil", "cedar", "dolphin", "emerald", "falcon", "granite", "harbour", "indigo", "juniper"];
/// Page views this close to a kill may be lost: one flush interval, and
/// time for the flush that was under way to commit.
const VIEWS_MAY_BE_LOST: Duration = FLUSH_EVERY.saturating_add(Duration::from_millis(500));
const SERVER_ENV: [(&str, &str); 2] = [("AGORA_RATE_LIMITS", "off"), ("AGORA_INDEX_COMMIT_MS", "200")];

/// What the server acknowledged with a 2xx.
#[derive(Default)]
struct Acknowledged {
    questions: Vec<(i64, String)>,
    answers: Vec<(i64, i64)>,
    votes: Vec<(i64, i64, i32)>,
    events: Vec<String>,
    /// Question, visitor and when the page came back.
    views: Vec<(i64, String, Instant)>,
}

struct Worker {
    user_id: i64,
    token: String,
}

#[test]
fn every_acknowledged_write_survives_kill_9_and_the_index_catches_up() {
    let (db, _) = TestDatabase::create();
    let data_dir = db.scratch_dir().join("node");
    let node = Node::start(&db, &data_dir, &SERVER_ENV);
    let admin = node.create_admin(&db, &data_dir);
    let (status, _) =
        node.post("/api/v1/categories", &json!({"slug": "bins", "name": "Bins", "description": "Collections"}), &admin);
    assert_eq!(status, 201);
    // Voting needs reputation the new residents do not have yet.
    let (status, mut settings) = node.call("GET", "/api/v1/admin/settings", None, Some(&admin));
    assert_eq!(status, 200, "{settings}");
    settings["privileges"]["vote_up"] = json!(1);
    let (status, body) = node.call("PUT", "/api/v1/admin/settings", Some(&settings), Some(&admin));
    assert_eq!(status, 200, "{body}");
    let workers: Vec<Worker> = (0..WORKERS)
        .map(|n| {
            let (status, session) = node.post(
                "/api/v1/auth/register",
                &json!({"username": format!("resident{n}"), "email": format!("resident{n}@example.org"), "password": PASSWORD}),
                "none",
            );
            assert_eq!(status, 201, "{session}");
            Worker { user_id: session["user"]["id"].as_i64().unwrap(), token: session["access_token"].as_str().unwrap().to_owned() }
        })
        .collect();
    // Old enough not to meet the new-account limits (a burst is not spam).
    let mut conn = connect(&db);
    diesel::update(users::table)
        .set(users::created_at.eq(chrono::Utc::now().naive_utc() - chrono::Duration::days(30)))
        .execute(&mut conn)
        .unwrap();
    node.kill();

    let acknowledged = Mutex::new(Acknowledged::default());
    let mut seed = seed_from_clock();
    let mut lost_views = 0;
    for (round, word) in ROUND_WORDS.iter().enumerate() {
        let node = Node::start(&db, &data_dir, &SERVER_ENV);
        // Up to 2.5 s: long enough for views to be written before some kills.
        let kill_after = Duration::from_millis(300 + next_random(&mut seed) % 2200);
        let stop = AtomicBool::new(false);
        let address = node.address.clone();
        let killed_at = std::thread::scope(|scope| {
            for (n, worker) in workers.iter().enumerate() {
                let (address, acknowledged, stop) = (&address, &acknowledged, &stop);
                scope.spawn(move || burst(address, worker, round, n, word, acknowledged, stop));
            }
            let (address, acknowledged, stop) = (&address, &acknowledged, &stop);
            scope.spawn(move || view_pages(address, round, acknowledged, stop));
            std::thread::sleep(kill_after);
            let killed_at = Instant::now();
            node.kill();
            stop.store(true, Ordering::SeqCst);
            killed_at
        });

        let node = Node::start(&db, &data_dir, &SERVER_ENV);
        let acknowledged = acknowledged.lock().unwrap();
        assert_durable(&mut conn, &acknowledged);
        lost_views += assert_views_durable(&mut conn, &acknowledged, round, killed_at);
        assert_ledger_agrees(&mut conn);
        assert_index_matches(&node, &mut conn, &ROUND_WORDS[..=round]);
        node.kill();
    }
    let acknowledged = acknowledged.lock().unwrap();
    eprintln!(
        "crash safety: {} questions, {} answers, {} votes, {} events and {} page views acknowledged over {ROUNDS} \
         kills; {lost_views} views of the last flush interval lost",
        acknowledged.questions.len(),
        acknowledged.answers.len(),
        acknowledged.votes.len(),
        acknowledged.events.len(),
        acknowledged.views.len(),
    );
    assert!(acknowledged.questions.len() >= ROUNDS, "the bursts wrote too little to test anything");
    assert!(!acknowledged.answers.is_empty() && !acknowledged.votes.is_empty() && !acknowledged.events.is_empty());
    assert!(acknowledged.views.len() > lost_views, "no page view was old enough to be checked");
}

fn connect(db: &TestDatabase) -> store::PooledConn {
    let options = PoolOptions::new(1, Duration::from_secs(10));
    let (pool, _) = store::connect(db.url(), &options).unwrap();
    pool.get().unwrap()
}

/// One client writing as fast as the server answers, until the server is
/// gone. Only 2xx responses are recorded.
#[allow(clippy::too_many_arguments)]
fn burst(
    address: &str,
    worker: &Worker,
    round: usize,
    worker_no: usize,
    word: &str,
    acknowledged: &Mutex<Acknowledged>,
    stop: &AtomicBool,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let send = |method: &str, path: &str, body: &Value| -> Option<(u16, Value)> {
        let url = format!("{address}{path}");
        let request = match method {
            "PUT" => agent.put(&url),
            _ => agent.post(&url),
        };
        let mut response = request.header("Authorization", format!("Bearer {}", worker.token)).send_json(body).ok()?;
        Some((response.status().as_u16(), response.body_mut().read_json().unwrap_or(Value::Null)))
    };
    let mut own_questions: Vec<i64> = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let title = format!("Crash {word} test {round} {worker_no} {n}: when are the bins collected");
        let body = json!({"title": title, "body": "The collection calendar on the leaflet does not match the bins on our street.", "category": "bins"});
        let Some((status, question)) = send("POST", "/api/v1/questions", &body) else { return };
        if status == 201 {
            let id = question["id"].as_i64().unwrap();
            acknowledged.lock().unwrap().questions.push((id, title));
            own_questions.push(id);
        }
        // Answer (and vote on) the newest question of someone else's.
        let target =
            acknowledged.lock().unwrap().questions.iter().rev().map(|q| q.0).find(|id| !own_questions.contains(id));
        if let Some(question_id) = target {
            // No round word here: the answered question may be an older round's.
            let answer = json!({"body": format!("Check the council's collection finder; it is updated weekly ({n}).")});
            let Some((status, created)) = send("POST", &format!("/api/v1/questions/{question_id}/answers"), &answer)
            else {
                return;
            };
            if status == 201 {
                acknowledged.lock().unwrap().answers.push((created["id"].as_i64().unwrap(), question_id));
            }
            let Some((status, _)) = send("PUT", &format!("/api/v1/questions/{question_id}/vote"), &json!({"value": 1}))
            else {
                return;
            };
            if status == 200 {
                acknowledged.lock().unwrap().votes.push((worker.user_id, question_id, 1));
            }
        }
        let ids: Vec<String> = (0..5).map(|_| uuid::Uuid::new_v4().to_string()).collect();
        let events: Vec<Value> = ids
            .iter()
            .map(|id| json!({"event_id": id, "type": "search_performed", "occurred_at": chrono::Utc::now().to_rfc3339(), "visitor_id": format!("v-{worker_no}"), "query": "bin collection day"}))
            .collect();
        let Some((status, _)) = send("POST", "/api/v1/events", &json!({"events": events})) else { return };
        if status == 202 {
            acknowledged.lock().unwrap().events.extend(ids);
        }
    }
}

#[track_caller]
fn assert_durable(conn: &mut DbConn, acknowledged: &Acknowledged) {
    for (id, title) in &acknowledged.questions {
        let stored: Option<String> = questions::table.find(id).select(questions::title).first(conn).optional().unwrap();
        assert_eq!(stored.as_deref(), Some(title.as_str()), "question {id} got a 201 but is not in the database");
    }
    for (id, question_id) in &acknowledged.answers {
        let stored: Option<i64> = answers::table.find(id).select(answers::question_id).first(conn).optional().unwrap();
        assert_eq!(stored, Some(*question_id), "answer {id} got a 201 but is not in the database");
    }
    for (voter, question_id, value) in &acknowledged.votes {
        let stored: Option<i32> = votes::table
            .filter(votes::voter_id.eq(voter).and(votes::post_type.eq("question")).and(votes::post_id.eq(question_id)))
            .select(votes::value)
            .first(conn)
            .optional()
            .unwrap();
        assert_eq!(
            stored,
            Some(*value),
            "vote of {voter} on question {question_id} got a 200 but is not in the database"
        );
    }
    let ids: BTreeSet<&str> = acknowledged.events.iter().map(String::as_str).collect();
    let stored: BTreeSet<String> = deflection_events::table
        .filter(deflection_events::kind.eq("search_performed"))
        .select(deflection_events::event_id)
        .load(conn)
        .unwrap()
        .into_iter()
        .collect();
    let missing: Vec<&&str> = ids.iter().filter(|id| !stored.contains(**id)).take(5).collect();
    assert!(missing.is_empty(), "events got a 202 but are not in the database: {missing:?}");
}

/// Reads question pages as new visitors (each view counts) until the
/// server is gone; records the views that came back 200.
fn view_pages(address: &str, round: usize, acknowledged: &Mutex<Acknowledged>, stop: &AtomicBool) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let Some(question_id) = acknowledged.lock().unwrap().questions.last().map(|q| q.0) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        n += 1;
        let visitor = format!("reader-{round}-{n}");
        let url = format!("{address}/api/v1/questions/{question_id}");
        let Ok(response) = agent.get(&url).header("X-Visitor-Id", &visitor).call() else { return };
        if response.status() == 200 {
            acknowledged.lock().unwrap().views.push((question_id, visitor, Instant::now()));
        }
    }
}

/// Every view of this round acknowledged `VIEWS_MAY_BE_LOST` before its
/// kill is in the database, and every count is its question's counted
/// views; returns how many views of the last interval were lost.
#[track_caller]
fn assert_views_durable(conn: &mut DbConn, acknowledged: &Acknowledged, round: usize, killed_at: Instant) -> usize {
    let stored: BTreeSet<(i64, String)> = question_views::table
        .select((question_views::question_id, question_views::visitor_key))
        .load(conn)
        .unwrap()
        .into_iter()
        .collect();
    let mut lost = 0;
    let this_round = format!("reader-{round}-");
    for (question_id, visitor, at) in acknowledged.views.iter().filter(|v| v.1.starts_with(&this_round)) {
        if stored.contains(&(*question_id, visitor.clone())) {
            continue;
        }
        let before_kill = killed_at.duration_since(*at);
        assert!(
            before_kill < VIEWS_MAY_BE_LOST,
            "the view of question {question_id} by {visitor} came back {before_kill:?} before the kill but is not in the database"
        );
        lost += 1;
    }
    let counts: Vec<(i64, i64)> = questions::table.select((questions::id, questions::view_count)).load(conn).unwrap();
    for (id, count) in counts {
        let rows = stored.iter().filter(|(q, _)| *q == id).count() as i64;
        assert_eq!(count, rows, "question {id} shows {count} views but {rows} were counted");
    }
    lost
}

#[track_caller]
fn assert_ledger_agrees(conn: &mut DbConn) {
    let report = agora::service::reputation::check(conn, false).unwrap();
    assert!(report.users.is_empty(), "cached reputation differs from the ledger: {:?}", report.users);
    assert!(report.categories.is_empty(), "category reputation differs from the ledger: {:?}", report.categories);
}

/// Every round's questions in the database are exactly what search finds
/// for that round's word, once the indexer has caught up.
#[track_caller]
fn assert_index_matches(node: &Node, conn: &mut DbConn, words: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for word in words {
        let in_database: BTreeSet<i64> = questions::table
            .filter(questions::title.like(format!("Crash {word} test %")))
            .select(questions::id)
            .load(conn)
            .unwrap()
            .into_iter()
            .collect();
        loop {
            let found: BTreeSet<i64> = search_all(node, word);
            if found == in_database {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the index does not match the database for {word:?}: only in the database {:?}, only in the index {:?}",
                in_database.difference(&found).collect::<Vec<_>>(),
                found.difference(&in_database).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn search_all(node: &Node, word: &str) -> BTreeSet<i64> {
    let mut found = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/search?q={word}&limit=100&cursor={c}"),
            None => format!("/api/v1/search?q={word}&limit=100"),
        };
        let (status, page) = node.get(&path);
        assert_eq!(status, 200, "{page}");
        found.extend(page["items"].as_array().unwrap().iter().map(|hit| hit["question_id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return found,
        }
    }
}

fn seed_from_clock() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
}

/// xorshift: random enough to vary the moment of the kill.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
