//! The read cache: anonymous question pages, lists, searches and similar
//! questions are served from memory, and never after a write that changes
//! them (through this node, or any node's write once its index commits).

use std::time::Duration;

use serde_json::{Value, json};

use super::helpers::{TestApp, TestUser, eventually, spawn_app, spawn_app_with, spawn_node};

fn lookups(app: &TestApp, outcome: &str) -> f64 {
    let text = app.get("/metrics").send().assert_status(200).text.clone();
    let prefix = format!("agora_read_cache_lookups_total{{outcome=\"{outcome}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0.0, |v| v.trim().parse().unwrap())
}

fn setup(app: &TestApp) -> (TestUser, i64) {
    let admin = app.admin();
    app.create_category(&admin, "waste");
    let rosa = app.register("rosa");
    app.set_reputation(rosa.id, 50);
    let id = app.ask(&rosa, "waste", "Which day is the garden waste collected", &[])["id"].as_i64().unwrap();
    (rosa, id)
}

#[test]
fn a_repeated_anonymous_read_is_a_hit_and_a_write_ends_it_at_once() {
    let app = spawn_app();
    let (rosa, id) = setup(&app);
    let helper = app.register("helper");
    // The question's index commit ends what was cached before it: let it
    // land first, so that the two reads below cannot straddle it.
    eventually(Duration::from_secs(10), "the question indexed", || {
        app.get("/api/v1/search?q=garden").send().json()["items"].as_array().is_some_and(|items| !items.is_empty())
    });
    let first = app.question(id);
    let hits = lookups(&app, "hit");
    assert_eq!(app.question(id), first, "the same page");
    assert_eq!(lookups(&app, "hit"), hits + 1.0);
    // Each kind of write shows on the very next read.
    app.answer(&helper, id, "Tuesdays, fortnightly, from April to November.");
    assert_eq!(app.question(id)["answers"].as_array().unwrap().len(), 1);
    let answer = app.question(id)["answers"][0]["id"].as_i64().unwrap();
    app.call("PUT", &format!("/api/v1/answers/{answer}/vote"))
        .json(&json!({"value": 1}))
        .bearer(&rosa.access_token)
        .send()
        .assert_status(200);
    assert_eq!(app.question(id)["answers"][0]["score"], 1);
    app.post(&format!("/api/v1/questions/{id}/comments"), &json!({"body": "Thanks, that helps"}))
        .bearer(&rosa.access_token)
        .send()
        .assert_status(201);
    assert_eq!(app.question(id)["comments"].as_array().unwrap().len(), 1);
    app.patch(&format!("/api/v1/questions/{id}"), &json!({"title": "Which day is the brown bin collected"}))
        .bearer(&rosa.access_token)
        .send()
        .assert_status(200);
    assert_eq!(app.question(id)["title"], "Which day is the brown bin collected");
}

#[test]
fn signed_in_callers_see_their_own_view_and_anonymous_pages_are_not_theirs() {
    let app = spawn_app();
    let (rosa, id) = setup(&app);
    let helper = app.register("helper");
    let answer = app.answer(&helper, id, "Tuesdays, fortnightly.")["id"].as_i64().unwrap();
    app.call("PUT", &format!("/api/v1/answers/{answer}/vote"))
        .json(&json!({"value": 1}))
        .bearer(&rosa.access_token)
        .send()
        .assert_status(200);
    let anonymous = app.question(id);
    app.question(id);
    let mine = app.get(&format!("/api/v1/questions/{id}")).bearer(&rosa.access_token).send().assert_status(200).json();
    assert_eq!(mine["answers"][0]["my_vote"], 1, "{mine}");
    assert_ne!(app.question(id)["answers"][0]["my_vote"], 1, "the anonymous page carries nobody's vote");
    assert_eq!(app.question(id), anonymous);
}

#[test]
fn a_counted_view_shows_on_the_next_anonymous_read() {
    let app = spawn_app();
    let (_, id) = setup(&app);
    assert_eq!(app.question(id)["view_count"], 0);
    app.get(&format!("/api/v1/questions/{id}")).header("X-Visitor-Id", "visitor-one").send().assert_status(200);
    assert_eq!(app.question(id)["view_count"], 1);
}

#[test]
fn lists_and_searches_follow_writes_and_gap_searches_are_all_logged() {
    let app = spawn_app();
    let (rosa, id) = setup(&app);
    let list = |app: &TestApp| -> Vec<i64> {
        let page: Value = app.get("/api/v1/questions?category=waste").send().assert_status(200).json();
        page["items"].as_array().unwrap().iter().map(|q| q["id"].as_i64().unwrap()).collect()
    };
    assert_eq!(list(&app), vec![id]);
    assert_eq!(list(&app), vec![id]);
    let second = app.ask(&rosa, "waste", "Bulky waste collection booking", &[])["id"].as_i64().unwrap();
    assert_eq!(list(&app), vec![second, id], "a new question is listed at once");
    let search = |app: &TestApp, q: &str| -> Vec<i64> {
        let page: Value = app.get(&format!("/api/v1/search?q={q}")).send().assert_status(200).json();
        page["items"].as_array().unwrap().iter().map(|q| q["question_id"].as_i64().unwrap()).collect()
    };
    eventually(Duration::from_secs(2), "indexed", || search(&app, "collection").len() == 2);
    let third = app.ask(&rosa, "waste", "Missed collection on my street", &[])["id"].as_i64().unwrap();
    eventually(Duration::from_secs(2), "a cached search sees the new question", || {
        search(&app, "collection").contains(&third)
    });
    // A search that finds nothing is logged every time it is made.
    use agora::store::schema::search_gaps;
    use diesel::prelude::*;
    for _ in 0..3 {
        assert!(search(&app, "allotment").is_empty());
    }
    eventually(Duration::from_secs(5), "three gaps logged", || {
        app.with_conn(|conn| {
            search_gaps::table.filter(search_gaps::query.eq("allotment")).count().get_result::<i64>(conn).unwrap()
        }) == 3
    });
}

#[test]
fn another_nodes_write_ends_cached_reads_when_its_index_commits() {
    let app = spawn_app();
    let (rosa, id) = setup(&app);
    let node_b = spawn_node(&app.db, app.db.scratch_dir().join("node-b"), |_| {});
    eventually(Duration::from_secs(30), "node B ready", || node_b.get("/readyz").send().status == 200);
    let title = |node: &TestApp| node.question(id)["title"].as_str().unwrap().to_owned();
    assert_eq!(title(&node_b), title(&node_b));
    app.patch(&format!("/api/v1/questions/{id}"), &json!({"title": "Which day is garden waste picked up"}))
        .bearer(&rosa.access_token)
        .send()
        .assert_status(200);
    eventually(Duration::from_secs(2), "node B shows the edit", || title(&node_b).contains("picked up"));
}

#[test]
fn an_out_of_band_change_shows_within_the_time_to_live_and_zero_turns_it_off() {
    use agora::store::schema::questions;
    use diesel::prelude::*;
    let app = spawn_app_with(|s| s.read_cache_ms = 300);
    let (_, id) = setup(&app);
    app.question(id);
    // A change no write through the API made (a command beside the server).
    let mut conn = app.conn();
    diesel::update(questions::table.find(id)).set(questions::view_count.eq(7)).execute(&mut conn).unwrap();
    eventually(Duration::from_secs(2), "the change shows", || app.question(id)["view_count"] == 7);

    let off = spawn_app_with(|s| s.read_cache_ms = 0);
    let (_, id) = setup(&off);
    off.question(id);
    off.question(id);
    assert_eq!(lookups(&off, "hit") + lookups(&off, "miss"), 0.0, "no lookups when off");
}
