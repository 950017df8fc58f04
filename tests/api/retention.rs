//! Retention: search text is stored redacted and deleted after
//! `search_text_days`; a visitor quiet for `visitor_id_days` is replaced
//! everywhere by a pseudonym, and the reports count them as before.

use std::time::{Duration, Instant};

use agora::domain::Role;
use agora::service::privacy::retention::{self, RetentionReport};
use diesel::prelude::*;
use serde_json::{Value, json};

use super::helpers::{TestApp, spawn_app};

const BROWSER: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

fn event(app: &TestApp, kind: &str, visitor: &str, extra: Value) -> Value {
    let mut e = json!({
        "event_id": uuid::Uuid::new_v4().to_string(),
        "type": kind,
        "occurred_at": app.clock.now_utc().to_rfc3339(),
        "visitor_id": visitor,
    });
    e.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    e
}

fn send(app: &TestApp, events: Vec<Value>) {
    app.post("/api/v1/events", &json!({"events": events})).header("user-agent", BROWSER).send().assert_status(202);
}

/// How many rows of every table that holds visitor ids hold `visitor`.
fn rows_holding(app: &TestApp, visitor: &str) -> i64 {
    use agora::store::schema::{
        deflection_events as de, deflection_intents as di, deflection_pairs as dp, deflection_search_gaps as dg,
        deflection_sessions as ds, deflection_visitor_days as dv, search_gaps,
    };
    app.with_conn(|conn| {
        let counts: [i64; 7] = [
            de::table.filter(de::visitor_id.eq(visitor)).count().get_result(conn).unwrap(),
            dp::table.filter(dp::visitor_id.eq(visitor)).count().get_result(conn).unwrap(),
            di::table.filter(di::visitor_id.eq(visitor)).count().get_result(conn).unwrap(),
            ds::table.filter(ds::visitor_id.eq(visitor)).count().get_result(conn).unwrap(),
            dv::table.filter(dv::visitor_id.eq(visitor)).count().get_result(conn).unwrap(),
            dg::table.filter(dg::searcher.eq(visitor)).count().get_result(conn).unwrap(),
            search_gaps::table.filter(search_gaps::visitor_id.eq(visitor)).count().get_result(conn).unwrap(),
        ];
        counts.iter().sum()
    })
}

fn stored_queries(app: &TestApp) -> Vec<Option<String>> {
    use agora::store::schema::deflection_events as de;
    app.with_conn(|conn| {
        de::table.filter(de::kind.eq("search_performed")).order(de::id).select(de::query).load(conn).unwrap()
    })
}

fn gap_log(app: &TestApp) -> Vec<String> {
    use agora::store::schema::search_gaps;
    app.with_conn(|conn| search_gaps::table.order(search_gaps::id).select(search_gaps::query).load(conn).unwrap())
}

#[test]
fn search_text_is_redacted_then_deleted_and_quiet_visitors_become_pseudonyms() {
    let app = spawn_app();
    let admin = app.admin();
    let analyst = app.user_with_roles("retention_analyst", &[Role::Analyst]);
    app.create_category(&admin, "bins");
    let question = app.ask(&admin, "bins", "When is the brown bin collected", &[])["id"].as_i64().unwrap();
    let answer = app.answer(&analyst, question, "Every other Tuesday, from April to November.")["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/questions/{question}/accept"), &json!({"answer_id": answer}))
        .bearer(&admin.access_token)
        .send()
        .assert_status(200);

    // A visitor searches with their phone number and address in the box,
    // through the widget and through the search page, views the answer and
    // says it helped; another visitor does the same without the search.
    let pasted = "missed bin ring 07700 900123 or jo.bloggs@example.org ref 2024-123456";
    for visitor in ["quiet-visitor", "returning-visitor"] {
        send(
            &app,
            vec![
                event(&app, "search_performed", visitor, json!({"query": pasted, "result_ids": []})),
                event(&app, "question_viewed", visitor, json!({"question_id": question, "session_id": "s1"})),
                event(&app, "helpful_vote", visitor, json!({"question_id": question, "value": "yes"})),
                event(&app, "would_have_contacted", visitor, json!({"question_id": question, "value": "yes"})),
            ],
        );
    }
    app.get("/api/v1/search?q=zzzz%20call%2007700%20900123").header("x-visitor-id", "quiet-visitor").send();
    let deadline = Instant::now() + Duration::from_secs(10);
    while gap_log(&app).is_empty() {
        assert!(Instant::now() < deadline, "the gap was not logged");
        std::thread::sleep(Duration::from_millis(20));
    }
    let expected = "missed bin ring [phone] or [email] ref [reference]";
    assert_eq!(stored_queries(&app), vec![Some(expected.to_owned()), Some(expected.to_owned())]);
    assert_eq!(gap_log(&app), vec!["zzzz call [phone]".to_owned()]);
    let gaps = app.get("/api/v1/deflection/gaps").bearer(&analyst.access_token).send().assert_status(200).json();
    assert!(!gaps.to_string().contains("07700"), "{gaps}");
    assert!(!gaps["zero_result_searches"].as_array().unwrap().is_empty(), "{gaps}");

    let today = app.clock.now_utc().date_naive();
    let period = format!("from={today}&to={today}");
    let summary = |app: &TestApp, token: &str| {
        app.get(&format!("/api/v1/deflection/summary?{period}")).bearer(token).send().assert_status(200).json()
    };
    let before = summary(&app, &analyst.access_token);
    assert_eq!(before["visitors"]["self_service"], 2, "{before}");
    assert!(rows_holding(&app, "quiet-visitor") > 5);

    // A year and more later one of them comes back; the other never does.
    app.clock.advance(chrono::Duration::days(401));
    send(&app, vec![event(&app, "question_viewed", "returning-visitor", json!({"question_id": question}))]);
    let report = app.with_conn(|conn| retention::run(conn, &app.state.ctx).unwrap());
    // The quiet visitor, and the admin and the analyst whose posts and
    // acceptance were recorded under `user:<id>` a year ago.
    assert_eq!(report.visitors_pseudonymised, 3, "{report:?}");
    assert_eq!(report.search_texts_deleted, 3, "two events' text and one logged gap: {report:?}");

    assert_eq!(rows_holding(&app, "quiet-visitor"), 0, "the quiet visitor's id is still held somewhere");
    let pseudonyms: Vec<String> = app.with_conn(|conn| {
        use agora::store::schema::deflection_events as de;
        de::table.filter(de::visitor_id.like("anon:%")).select(de::visitor_id).distinct().load(conn).unwrap()
    });
    assert_eq!(pseudonyms.len(), 3);
    assert!(pseudonyms.iter().all(|p| p.len() == "anon:".len() + 22), "{pseudonyms:?}");
    assert_eq!(rows_holding(&app, &format!("user:{}", admin.id)), 0);
    // The visitor who came back keeps their id: they are still in use.
    assert!(rows_holding(&app, "returning-visitor") > 5);

    // The figures of that day are unchanged: still two distinct visitors.
    let analyst = app.login("retention_analyst", super::helpers::PASSWORD).json();
    let analyst = super::helpers::TestUser::from_session(&analyst);
    let after = summary(&app, &analyst.access_token);
    for figure in ["visitors", "confirmed", "probable", "potential", "helpful_rate", "would_have_contacted_rate"] {
        assert_eq!(after[figure], before[figure], "{figure}");
    }
    app.with_conn(|conn| assert_eq!(agora::service::deflection::check_rollups(conn).unwrap(), vec![]));
    // The search text is gone; the events stay.
    assert_eq!(stored_queries(&app), vec![None, None]);
    assert!(gap_log(&app).is_empty());
    let old_gaps = app
        .get(&format!("/api/v1/deflection/gaps?{period}"))
        .bearer(&analyst.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!(old_gaps["zero_result_searches"], json!([]), "{old_gaps}");
    assert_eq!(old_gaps["no_solved_result_searches"], json!([]), "{old_gaps}");

    // Running it again changes nothing.
    let again = app.with_conn(|conn| retention::run(conn, &app.state.ctx).unwrap());
    assert_eq!(again, RetentionReport::default());
}

#[test]
fn retention_settings_are_checked_and_pseudonyms_cannot_be_sent() {
    let app = spawn_app();
    let admin = app.admin();
    let current = app.get("/api/v1/admin/settings").bearer(&admin.access_token).send().json();
    assert_eq!(current["retention"], json!({"visitor_id_days": 400, "search_text_days": 90}));
    let mut changed = current.clone();
    changed["retention"] = json!({"visitor_id_days": 10, "search_text_days": 0});
    let problem = app
        .call("PUT", "/api/v1/admin/settings")
        .json(&changed)
        .bearer(&admin.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["retention.visitor_id_days", "retention.search_text_days"]);

    let forged = event(&app, "search_performed", "anon:AAAAAAAAAAAAAAAAAAAAAA", json!({"query": "bins"}));
    let problem = app
        .post("/api/v1/events", &json!({"events": [forged]}))
        .header("user-agent", BROWSER)
        .send()
        .assert_problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "events[0].visitor_id");
    app.get("/api/v1/search?q=bins").header("x-visitor-id", "anon:x").send().assert_problem(400, "invalid_header");
}

#[test]
fn the_retention_command_applies_the_settings() {
    let app = spawn_app();
    send(&app, vec![event(&app, "search_performed", "cli-visitor", json!({"query": "brown bin"}))]);
    let out = super::process::agora(&app.db, &app.db.scratch_dir().join("cli"), &["retention", "run"], "");
    assert!(out.contains("Retention applied: 0 visitor ids replaced"), "{out}");
}
