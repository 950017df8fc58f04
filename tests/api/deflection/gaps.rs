//! The searches of the content-gap report (GET /deflection/gaps): frontends'
//! `search_performed` events that found nothing, the searches the server
//! answered itself (GET /search) but for bots' and council staff's, and the
//! rule that a visitor's query counts once a day however it was seen.

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, NaiveTime};
use serde_json::{Value, json};

use super::report;
use super::script::{BROWSER, Batch, GOOGLEBOT, event, resident, send};
use crate::helpers::{TestApp, spawn_app};
use agora::domain::Role;

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < StdDuration::from_secs(10), "{what}: not within 10 s");
        std::thread::sleep(StdDuration::from_millis(20));
    }
}

/// Moves the clock to the next noon (UTC), so that events sent "now" and
/// the searches the server logs a moment later fall on the same day.
fn at_noon(app: &TestApp) {
    let now = app.clock.now_utc();
    let noon = now.date_naive().and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap()).and_utc();
    let next = if noon > now { noon } else { noon + Duration::days(1) };
    app.clock.advance(next - now);
}

/// GET /search as `agent`, with a bearer token and `X-Visitor-Id` if given;
/// how many it found.
fn search(app: &TestApp, query: &str, agent: &str, token: Option<&str>, visitor: Option<&str>) -> u64 {
    let mut call = app.get(&format!("/api/v1/search?{query}")).header("user-agent", agent);
    if let Some(token) = token {
        call = call.bearer(token);
    }
    if let Some(visitor) = visitor {
        call = call.header("x-visitor-id", visitor);
    }
    call.send().assert_status(200).json()["total"].as_u64().unwrap()
}

/// The search-gap log: (query, kind, visitor, area), in order.
fn logged(app: &TestApp) -> Vec<(String, String, Option<String>, Option<String>)> {
    use agora::store::schema::search_gaps as g;
    use diesel::prelude::*;
    app.with_conn(|conn| g::table.order(g::id).select((g::query, g::kind, g::visitor_id, g::area)).load(conn).unwrap())
}

fn gap(query: &str, count: u64, server: u64, frontend: u64) -> Value {
    json!({"query": query, "count": count, "server": server, "frontend": frontend})
}

#[test]
fn searches_that_found_nothing_count_once_per_visitor_and_day_from_either_source() {
    let app = spawn_app();
    at_noon(&app);
    let admin = app.admin();
    app.create_category(&admin, "waste");
    let asker = app.register("asker");
    let staff = app.user_with_roles("council_staff", &[Role::Staff]);
    let moderator = app.user_with_roles("moderator", &[Role::Moderator]);
    let analyst = app.user_with_roles("analyst", &[Role::Analyst]);
    let bulky = app.ask(&asker, "waste", "Bulky waste collection prices", &[])["id"].as_i64().unwrap();
    // Polled as a crawler: a crawler's searches are never logged.
    eventually("indexed", || search(&app, "q=prices", GOOGLEBOT, None, None) == 1);

    // Frontends' events. V1 finds nothing twice (the same query once
    // normalised); V2 finds nothing in Northfield; V3 finds the question;
    // V4's frontend did not say what it found; a crawler and council staff
    // find nothing too, but their events count nowhere.
    let now = app.clock.now_utc().to_rfc3339();
    let searched = |visitor: &str, extra: Value| event("search_performed", &now, visitor, extra);
    send(
        &app,
        &resident(vec![
            searched("v1", json!({"query": "Allotment waiting list", "result_ids": []})),
            searched("v1", json!({"query": " allotment  WAITING list", "result_ids": []})),
            searched("v2", json!({"query": "allotment waiting list", "result_ids": [], "area": "Northfield"})),
            searched("v3", json!({"query": "bulky waste", "result_ids": [bulky]})),
            searched("v4", json!({"query": "dog fouling"})),
        ]),
    );
    let nothing = json!({"query": "allotment waiting list", "result_ids": []});
    send(&app, &Batch { user_agent: GOOGLEBOT, token: None, events: vec![searched("bot", nothing.clone())] });
    let staff_batch = Batch {
        user_agent: BROWSER,
        token: Some(staff.access_token.clone()),
        events: vec![searched("staff", nothing)],
    };
    send(&app, &staff_batch);

    // Searches the server answers. Not logged: a crawler's, staff's, a
    // moderator's (first, so a wrongly cached answer would hide the rest).
    let allotment = "q=allotment%20waiting%20list";
    assert_eq!(search(&app, allotment, GOOGLEBOT, None, Some("bot")), 0);
    assert_eq!(search(&app, allotment, BROWSER, Some(&staff.access_token), Some("staff")), 0);
    assert_eq!(search(&app, allotment, BROWSER, Some(&moderator.access_token), None), 0);
    // Logged: V1 (also seen through its frontend's event), a resident
    // without X-Visitor-Id, V5 in Northfield, V2 in the waste category; V1
    // twice finding nothing solved.
    assert_eq!(search(&app, allotment, BROWSER, None, Some("v1")), 0);
    assert_eq!(search(&app, allotment, BROWSER, None, None), 0);
    assert_eq!(search(&app, &format!("{allotment}&area=Northfield"), BROWSER, None, Some("v5")), 0);
    assert_eq!(search(&app, &format!("{allotment}&category=waste"), BROWSER, None, Some("v2")), 0);
    for _ in 0..2 {
        assert_eq!(search(&app, "q=bulky", BROWSER, None, Some("v1")), 1);
    }
    eventually("the residents' searches logged", || logged(&app).len() >= 6);
    let s = |text: &str| Some(text.to_owned());
    let query = "allotment waiting list".to_owned();
    let zero = "zero_results".to_owned();
    let unsolved = ("bulky".to_owned(), "no_solved_result".to_owned(), s("v1"), None);
    assert_eq!(
        logged(&app),
        vec![
            (query.clone(), zero.clone(), s("v1"), None),
            (query.clone(), zero.clone(), None, None),
            (query.clone(), zero.clone(), s("v5"), s("Northfield")),
            (query.clone(), zero, s("v2"), None),
            unsolved.clone(),
            unsolved,
        ]
    );

    // Searcher-days of "allotment waiting list": V1 (its event, its search),
    // V2 (its event; its search in waste), the anonymous search, V5 = 4; the
    // server saw V1, the anonymous one, V5 and V2 = 4, frontends V1 and V2.
    // "bulky": V1 once, by the server only.
    let gaps = |filter: &str| report(&app, &analyst, &format!("/api/v1/deflection/gaps?{filter}"));
    let all = gaps("");
    assert_eq!(all["zero_result_searches"], json!([gap("allotment waiting list", 4, 4, 2)]));
    assert_eq!(all["no_solved_result_searches"], json!([gap("bulky", 1, 1, 0)]));
    // Northfield: V2's event, V5's search.
    let north = gaps("area=Northfield");
    assert_eq!(north["zero_result_searches"], json!([gap("allotment waiting list", 2, 1, 1)]));
    assert_eq!(north["no_solved_result_searches"], json!([]));
    // Waste: V2's search only (V2's event gave no category).
    assert_eq!(gaps("category=waste")["zero_result_searches"], json!([gap("allotment waiting list", 1, 1, 0)]));
    assert_eq!(gaps("category=waste&area=Northfield")["zero_result_searches"], json!([]));

    // Rebuilt from the events and the log, the same searches.
    let rows = || app.with_conn(|conn| agora::store::deflection::all_gap_searches(conn).unwrap());
    let before = rows();
    app.with_conn(|conn| agora::service::deflection::rebuild(conn).unwrap());
    assert_eq!(rows(), before);
    assert_eq!(gaps(""), all);
}
