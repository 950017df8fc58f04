//! Page views are counted in memory on each node and written once a second
//! (`service::community::views`): what a node shows, what reaches the
//! database without anyone asking, and "once per visitor and day" across
//! two nodes. Losing at most the last second to a `kill -9` is
//! `crash_safety`'s.

use std::time::Duration;

use agora::store::schema::{deflection_events, question_views, questions};
use diesel::prelude::*;
use serde_json::Value;

use super::helpers::{TestApp, TestUser, eventually, spawn_app, spawn_node};

fn setup(app: &TestApp) -> (TestUser, i64) {
    let admin = app.admin();
    app.create_category(&admin, "waste");
    let rosa = app.register("rosa");
    (admin, app.ask(&rosa, "waste", "Which day is garden waste collected", &[])["id"].as_i64().unwrap())
}

fn view(node: &TestApp, id: i64, visitor: &str) -> Value {
    node.get(&format!("/api/v1/questions/{id}")).header("X-Visitor-Id", visitor).send().assert_status(200).json()
}

/// What the database holds, read without writing the node's pending views
/// first (as `with_conn` would).
fn stored(app: &TestApp, id: i64) -> (i64, i64, i64) {
    let mut conn = app.conn();
    let count: i64 = questions::table.find(id).select(questions::view_count).first(&mut conn).unwrap();
    let keys: i64 =
        question_views::table.filter(question_views::question_id.eq(id)).count().get_result(&mut conn).unwrap();
    let events: i64 = deflection_events::table
        .filter(deflection_events::kind.eq("question_viewed").and(deflection_events::question_id.eq(id)))
        .count()
        .get_result(&mut conn)
        .unwrap();
    (count, keys, events)
}

#[test]
fn views_show_at_once_and_reach_the_database_within_a_second_or_two() {
    let app = spawn_app();
    let (_, id) = setup(&app);
    assert_eq!(view(&app, id, "visitor-a")["view_count"], 1);
    assert_eq!(view(&app, id, "visitor-b")["view_count"], 2);
    assert_eq!(view(&app, id, "visitor-a")["view_count"], 2, "a visitor counts once a day");
    assert_eq!(app.question(id)["view_count"], 2, "an anonymous read shows the node's pending views");
    // Three page reads make three deflection events; two of them counted.
    eventually(Duration::from_secs(3), "the views are written", || stored(&app, id) == (2, 2, 3));
    assert_eq!(app.question(id)["view_count"], 2, "written views are not shown twice");
    assert_eq!(view(&app, id, "visitor-b")["view_count"], 2, "the database remembers who was counted today");
    eventually(Duration::from_secs(3), "the fourth read's event", || stored(&app, id) == (2, 2, 4));
}

#[test]
fn a_visitor_seen_by_two_nodes_on_one_day_counts_once() {
    let app = spawn_app();
    let (_, id) = setup(&app);
    let node_b = spawn_node(&app.db, app.db.scratch_dir().join("node-b"), |_| {});
    eventually(Duration::from_secs(30), "node B ready", || node_b.get("/readyz").send().status == 200);
    // Both nodes take the view before either writes it.
    assert_eq!(view(&app, id, "visitor-a")["view_count"], 1);
    assert_eq!(view(&node_b, id, "visitor-a")["view_count"], 1);
    assert_eq!(view(&node_b, id, "visitor-c")["view_count"], 2);
    eventually(Duration::from_secs(3), "both nodes' views are written", || stored(&app, id) == (2, 2, 3));
    for node in [&app, &node_b] {
        eventually(Duration::from_secs(3), "each node shows the database's count", || {
            node.question(id)["view_count"] == 2
        });
    }
}

#[test]
fn a_view_of_a_question_the_caller_may_not_see_is_a_404_and_not_counted() {
    let app = spawn_app();
    let (admin, id) = setup(&app);
    app.call("POST", &format!("/api/v1/mod/posts/question/{id}/hide"))
        .bearer(&admin.access_token)
        .send()
        .assert_status(204);
    app.get(&format!("/api/v1/questions/{id}"))
        .header("X-Visitor-Id", "visitor-a")
        .send()
        .assert_problem(404, "not_found");
    app.get("/api/v1/questions/987654").header("X-Visitor-Id", "visitor-a").send().assert_problem(404, "not_found");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stored(&app, id), (0, 0, 0));
}

#[test]
fn a_flush_bigger_than_one_transaction_writes_every_view_once() {
    // The writer writes at most 500 views per transaction, so 1,100 views
    // (some flushed while they still arrive) take at least three, and the
    // count and the rows must still agree exactly.
    let app = spawn_app();
    let (_, id) = setup(&app);
    let visitors = 1_100;
    for n in 0..visitors {
        view(&app, id, &format!("visitor-{n}"));
    }
    assert_eq!(app.question(id)["view_count"], visitors);
    // Through the flushes, no view is shown twice: a committed chunk
    // leaves "pending" as it enters the count. (A read can show one chunk
    // too few, when the chunk commits between the page's read of the count
    // and of the pending views. A flush is a few milliseconds here, so this
    // loop seldom lands inside one: it guards the end state more than the
    // window.)
    let started = std::time::Instant::now();
    loop {
        let shown = app.question(id)["view_count"].as_i64().unwrap();
        assert!(shown <= visitors, "mid-flush the page showed {shown} views of {visitors}");
        let (count, keys, _) = stored(&app, id);
        if count == visitors && keys == visitors {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "views not written: stored {:?}", (count, keys));
    }
    assert_eq!(app.question(id)["view_count"], visitors, "written views are not shown twice");
}
