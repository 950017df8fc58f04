//! Deflection figures by area: the two-ward community of `wards.rs`, whose
//! every report was worked out by hand with `?area=`, `?category=`, both and
//! neither; the same figures whatever order the events arrive in; the
//! unhappy paths of `area`; and a database of the previous release keeping
//! its figures through the upgrade.
//!
//! The derived rows, worked out from the visits (gap = days to the first
//! contact, "never" beyond any window; the window is 7 days):
//!
//! | row | category | area | counts as |
//! |---|---|---|---|
//! | A1·QA | waste | Northfield | confirmed (day 1), helpful yes, would yes; not a viewer (confirmed) |
//! | A1·QB | parking | Riverside | viewer (day 1) |
//! | A1·QC | waste | Riverside | viewer (day 5) |
//! | A2·QC | waste | Riverside | not a viewer: A2's intent 3 hours later |
//! | A2·QA | waste | Northfield | helpful yes, would yes; not confirmed: A2 submitted the same day |
//! | A3·QB | parking | Riverside | not a viewer: A3's intent 9 minutes later |
//! | A4·QA | waste | Northfield | viewer (day 4) |
//! | A4·QD | parking | — | viewer (day 4), helpful no, would unsure |
//! | A5·QB | parking | Riverside | confirmed (day 6), by A5's intent with QB |
//! | exp-1 (A2) | waste | Northfield | intent after self-service, hold-out, submitted |
//! | exp-4 (A3) | parking | Riverside | intent after self-service, probable (day 3), treatment |
//! | exp-2 (A5) | parking | Northfield | intent, hold-out, confirmed (counted on A5·QB) |
//! | exp-5 (A7) | — | — | intent, treatment, submitted |
//!
//! Sessions: A1 day 1 ×2 (waste Northfield helpful; parking Riverside), A1
//! day 5 (waste Riverside), A2 day 2 (its earliest event's: waste,
//! Riverside; helpful), A3 (parking Riverside), A4 ×2 (waste Northfield;
//! parking, no area), A6 (no category, Northfield). Self-service visitors:
//! A1 (both wards, both categories, two days), A2 (waste in both wards),
//! A3 (parking Riverside), A4 (waste Northfield, parking without area), A6
//! (Northfield). Submitting visitors: A2 (waste Northfield), A7 (neither).

use chrono::Duration;
use serde_json::{Value, json};

use super::script::day_zero;
use super::wards::{NORTHFIELD, RIVERSIDE, Wards, play, wards};
use super::{close, exact, rate, report};
use crate::helpers::{TestApp, spawn_app, spawn_node};

/// The counts behind a summary: confirmed, probable, viewers, visitors
/// (self-service, submitted), and (n, yes) of the helpful rate, the
/// would-have-contacted rate, intents that tried self-service first and
/// sessions ending helpful.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    confirmed: u64,
    probable: u64,
    viewers: u64,
    visitors: (u64, u64),
    helpful: (u64, u64),
    would: (u64, u64),
    tried_first: (u64, u64),
    sessions_helpful: (u64, u64),
}

fn n_yes(rate: &Value) -> (u64, u64) {
    let n = rate["n"].as_u64().unwrap();
    (n, (rate["value"].as_f64().unwrap_or(0.0) * n as f64).round() as u64)
}

fn counts(summary: &Value) -> Counts {
    for tier in ["confirmed", "probable"] {
        exact(&summary[tier], summary[tier]["count"].as_u64().unwrap());
    }
    Counts {
        confirmed: summary["confirmed"]["count"].as_u64().unwrap(),
        probable: summary["probable"]["count"].as_u64().unwrap(),
        viewers: summary["potential"]["viewers"].as_u64().unwrap(),
        visitors: (
            summary["visitors"]["self_service"].as_u64().unwrap(),
            summary["visitors"]["submitted_contact"].as_u64().unwrap(),
        ),
        helpful: n_yes(&summary["helpful_rate"]),
        would: n_yes(&summary["would_have_contacted_rate"]),
        tried_first: n_yes(&summary["tried_self_service_first"]),
        sessions_helpful: n_yes(&summary["sessions_ending_helpful"]),
    }
}

/// `filter` as a query string: `area=…` is encoded.
fn query(filter: &str) -> String {
    filter.replace(' ', "%20")
}

fn summary(app: &TestApp, w: &Wards, period: &str, filter: &str) -> Value {
    let body = report(app, &w.analyst, &format!("/api/v1/deflection/summary?{period}&{}", query(filter)));
    let expected = |key: &str| filter.split('&').find_map(|f| f.strip_prefix(&format!("{key}="))).map(str::to_owned);
    assert_eq!(body["area"], json!(expected("area")), "{filter}");
    assert_eq!(body["category"], json!(expected("category")), "{filter}");
    body
}

#[test]
fn every_report_by_area_matches_the_hand_computed_wards() {
    let app = spawn_app();
    let w = wards(&app);
    let d0 = day_zero(&app);
    play(&app, &w, d0, false);
    let period = format!("from={}", d0.date_naive());
    let n = NORTHFIELD;

    // Neither filter. Confirmed A1·QA, A5·QB; probable exp-4; viewers A1·QB,
    // A1·QC, A4·QA, A4·QD. Visitors A1 A2 A3 A4 A6 once each (A1 in both
    // wards and on two days), submitting A2 A7. Helpful A1 A2 yes, A4 no;
    // would A1 A2 yes, A4 unsure. Intents exp-1 exp-4 after self-service
    // of 4; sessions 2 of 8 helpful (A1's first, A2's).
    let all = summary(&app, &w, &period, "");
    let expected = Counts {
        confirmed: 2,
        probable: 1,
        viewers: 4,
        visitors: (5, 2),
        helpful: (3, 2),
        would: (3, 2),
        tried_first: (4, 2),
        sessions_helpful: (8, 2),
    };
    assert_eq!(counts(&all), expected);
    // Potential = 4 × 2/3, Wilson 95 % [0.207660, 0.938508]: 2.67 [0.83, 3.75].
    assert_eq!(all["potential"], json!({"count": 2.67, "low": 0.83, "high": 3.75, "viewers": 4}));
    rate(&all["sessions_ending_helpful"], 8, 0.25, 0.071_479, 0.590_725);

    // Northfield: confirmed A1·QA (A2·QA not: contacted); no probable
    // (exp-2 confirmed); viewers A4·QA. Visitors A1 A2 A4 A6; submitting A2.
    // Helpful and would A1 A2 yes. Intents exp-1 (tried first) and exp-2 (no
    // self-service before). Sessions A1's first (helpful), A4's first, A6's:
    // not A2's, whose earliest event was in Riverside.
    let north = summary(&app, &w, &period, &format!("area={n}"));
    let expected = Counts {
        confirmed: 1,
        probable: 0,
        viewers: 1,
        visitors: (4, 1),
        helpful: (2, 2),
        would: (2, 2),
        tried_first: (2, 1),
        sessions_helpful: (3, 1),
    };
    assert_eq!(counts(&north), expected);
    // Potential = 1 × 2/2, Wilson [0.342380, 1]: 1 [0.34, 1].
    assert_eq!(north["potential"], json!({"count": 1.0, "low": 0.34, "high": 1.0, "viewers": 1}));
    close(&north["self_service_score"], 4.0);
    assert_eq!(north["cost_avoided"]["confirmed"], json!({"point": 3.39, "low": 3.39, "high": 3.39}));

    // Riverside: confirmed A5·QB (the question's ward, not the form's);
    // probable exp-4; viewers A1·QB, A1·QC (A2·QC and A3·QB contacted).
    // Visitors A1 (once, though on days 1 and 5) A2 A3; nobody submitted
    // there. No survey answer in Riverside: no rate, so potential 0.
    let river = summary(&app, &w, &period, &format!("area={RIVERSIDE}"));
    let expected = Counts {
        confirmed: 1,
        probable: 1,
        viewers: 2,
        visitors: (3, 0),
        helpful: (0, 0),
        would: (0, 0),
        tried_first: (1, 1),
        sessions_helpful: (4, 1),
    };
    assert_eq!(counts(&river), expected);
    assert_eq!(river["potential"], json!({"count": 0.0, "low": 0.0, "high": 0.0, "viewers": 2}));
    // Nobody submitted in Riverside. (Visitors are counted per ward, not
    // summed: 4 in Northfield and 3 in Riverside, 5 in all.)
    assert_eq!(river["self_service_score"], Value::Null);

    // Waste: confirmed A1·QA; viewers A1·QC, A4·QA. Visitors A1 A2 A4,
    // submitting A2. Helpful and would 2/2; exp-1 tried first; sessions
    // A1's first (helpful) and third, A2's (helpful), A4's first.
    let waste = summary(&app, &w, &period, "category=waste");
    let expected = Counts {
        confirmed: 1,
        probable: 0,
        viewers: 2,
        visitors: (3, 1),
        helpful: (2, 2),
        would: (2, 2),
        tried_first: (1, 1),
        sessions_helpful: (4, 2),
    };
    assert_eq!(counts(&waste), expected);
    // Potential = 2 × 2/2: 2 [0.68, 2].
    assert_eq!(waste["potential"], json!({"count": 2.0, "low": 0.68, "high": 2.0, "viewers": 2}));

    // Waste in Northfield: confirmed A1·QA; viewers A4·QA; visitors A1 A2
    // A4, submitting A2; exp-1; sessions A1's first (helpful), A4's first.
    let waste_north = summary(&app, &w, &period, &format!("category=waste&area={n}"));
    let expected = Counts {
        confirmed: 1,
        probable: 0,
        viewers: 1,
        visitors: (3, 1),
        helpful: (2, 2),
        would: (2, 2),
        tried_first: (1, 1),
        sessions_helpful: (2, 1),
    };
    assert_eq!(counts(&waste_north), expected);

    // Parking in Riverside: confirmed A5·QB, probable exp-4, viewer A1·QB;
    // visitors A1 A3; sessions A1's second, A3's, neither helpful.
    let parking_river = summary(&app, &w, &period, &format!("category=parking&area={RIVERSIDE}"));
    let expected = Counts {
        confirmed: 1,
        probable: 1,
        viewers: 1,
        visitors: (2, 0),
        helpful: (0, 0),
        would: (0, 0),
        tried_first: (1, 1),
        sessions_helpful: (2, 0),
    };
    assert_eq!(counts(&parking_river), expected);

    // Parking (any area, and QD has none): viewers A1·QB and A4·QD, whose
    // survey answers make the rate 0/1 [0, 0.793451]: potential 0 [0, 1.59].
    let parking = summary(&app, &w, &period, "category=parking");
    assert_eq!(parking["potential"], json!({"count": 0.0, "low": 0.0, "high": 1.59, "viewers": 2}));
    assert_eq!(parking["visitors"], json!({"self_service": 3, "submitted_contact": 0}));

    // Per day in Northfield: confirmed on day 1, a viewer on day 4.
    let series = report(&app, &w.analyst, &format!("/api/v1/deflection/timeseries?{period}&area={n}&granularity=day"));
    let buckets = series["buckets"].as_array().unwrap();
    exact(&buckets[1]["confirmed"], 1);
    assert_eq!(buckets[4]["potential"]["viewers"], 1);
    let total = |key: &str, field: &str| buckets.iter().map(|b| b[key][field].as_f64().unwrap()).sum::<f64>();
    assert_eq!(
        (total("confirmed", "count"), total("probable", "count"), total("potential", "viewers")),
        (1.0, 0.0, 1.0)
    );
    // Parking in Riverside by week: the same totals as its summary.
    let weeks = report(
        &app,
        &w.analyst,
        &format!("/api/v1/deflection/timeseries?{period}&category=parking&area={RIVERSIDE}&granularity=week"),
    );
    let b = weeks["buckets"].as_array().unwrap();
    let sum = |key: &str, field: &str| b.iter().map(|x| x[key][field].as_f64().unwrap()).sum::<f64>();
    assert_eq!((sum("confirmed", "count"), sum("probable", "count"), sum("potential", "viewers")), (1.0, 1.0, 1.0));

    // Questions: QB confirmed by A5 and probable by exp-4, QA confirmed by A1.
    let questions = |filter: &str| -> Vec<(i64, i64, i64)> {
        let body = report(&app, &w.analyst, &format!("/api/v1/deflection/questions?{period}&{}", query(filter)));
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (i["question_id"].as_i64().unwrap(), i["confirmed"].as_i64().unwrap(), i["probable"].as_i64().unwrap())
            })
            .collect()
    };
    assert_eq!(questions(""), vec![(w.qb, 1, 1), (w.qa, 1, 0)]);
    assert_eq!(questions(&format!("area={n}")), vec![(w.qa, 1, 0)]);
    assert_eq!(questions(&format!("area={RIVERSIDE}")), vec![(w.qb, 1, 1)]);
    assert_eq!(questions(&format!("category=waste&area={n}")), vec![(w.qa, 1, 0)]);
    // exp-2 is parking in Northfield, but confirmed, not probable.
    assert_eq!(questions(&format!("category=parking&area={n}")), vec![]);

    // Gaps: still need help on QB (A3, Riverside) and QD (A4, no area); A6's
    // search that found nothing was in Northfield, with no category.
    let gaps = |filter: &str| report(&app, &w.analyst, &format!("/api/v1/deflection/gaps?{period}&{}", query(filter)));
    let needs = |body: &Value| -> Vec<(i64, i64)> {
        body["still_need_help"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["question_id"].as_i64().unwrap(), n["count"].as_i64().unwrap()))
            .collect()
    };
    let searched = json!([{"query": "allotment waiting list", "count": 1, "server": 0, "frontend": 1}]);
    let everywhere = gaps("");
    assert_eq!(needs(&everywhere), vec![(w.qb, 1), (w.qd, 1)]);
    assert_eq!(everywhere["zero_result_searches"], searched);
    let in_north = gaps(&format!("area={n}"));
    assert_eq!(needs(&in_north), vec![]);
    assert_eq!(in_north["zero_result_searches"], searched);
    let in_river = gaps(&format!("area={RIVERSIDE}"));
    assert_eq!(needs(&in_river), vec![(w.qb, 1)]);
    assert_eq!(in_river["zero_result_searches"], json!([]));
    assert_eq!(gaps(&format!("category=waste&area={n}"))["zero_result_searches"], json!([]));
    assert_eq!(needs(&gaps("category=parking")), vec![(w.qb, 1), (w.qd, 1)]);

    // Experiment: hold-out exp-1 (waste Northfield, submitted), exp-2
    // (parking Northfield); treatment exp-4 (parking Riverside), exp-5
    // (neither, submitted).
    let arms = |filter: &str| -> Vec<(u64, u64)> {
        let body = report(&app, &w.analyst, &format!("/api/v1/deflection/experiment?{period}&{}", query(filter)));
        body["arms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["intents"].as_u64().unwrap(), a["submitted"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(arms(""), vec![(2, 1), (2, 1)]);
    assert_eq!(arms(&format!("area={n}")), vec![(2, 1), (0, 0)]);
    assert_eq!(arms(&format!("area={RIVERSIDE}")), vec![(0, 0), (1, 0)]);
    assert_eq!(arms("category=waste"), vec![(1, 1), (0, 0)]);
    assert_eq!(arms(&format!("category=waste&area={n}")), vec![(1, 1), (0, 0)]);
    assert_eq!(arms(&format!("category=parking&area={RIVERSIDE}")), vec![(0, 0), (1, 0)]);

    // The CSV in Northfield: a row per day for waste, parking (exp-2) and
    // (none) (A6's session).
    let csv = app.get(&format!("/api/v1/deflection/export.csv?{period}&area={n}")).bearer(&w.admin.access_token).send();
    let rows: Vec<&str> = csv.assert_status(200).text.lines().skip(1).collect();
    assert_eq!(rows.len(), buckets.len() * 3);
    let day = |d: i64| (d0 + Duration::days(d)).date_naive();
    let row = |d: i64, category: &str| {
        let prefix = format!("{},{},{category},", day(d), day(d));
        *rows.iter().find(|r| r.starts_with(&prefix)).unwrap_or_else(|| panic!("no row {prefix}"))
    };
    // Day 1: A1·QA confirmed, its two answers yes, A1's first session helpful.
    assert_eq!(row(1, "waste"), format!("{0},{0},waste,1,0,0,0,0,0,1,1,1,1,0,0,1,1,3.39,0.00,USD", day(1)));
    // Day 2: A2's answers and intent (after self-service); A2's session is
    // Riverside's.
    assert_eq!(row(2, "waste"), format!("{0},{0},waste,0,0,0,0,0,0,1,1,1,1,1,1,0,0,0.00,0.00,USD", day(2)));
    // Day 4: viewer A4·QA × the period's Northfield rate 2/2 [0.34, 1].
    assert_eq!(row(4, "waste"), format!("{0},{0},waste,0,0,1,1,0.34,1,0,0,0,0,0,0,1,0,0.00,0.00,USD", day(4)));
    assert_eq!(row(6, "parking"), format!("{0},{0},parking,0,0,0,0,0,0,0,0,0,0,1,0,0,0,0.00,0.00,USD", day(6)));
    assert_eq!(row(7, "(none)"), format!("{0},{0},(none),0,0,0,0,0,0,0,0,0,0,0,0,1,0,0.00,0.00,USD", day(7)));

    // The rollups equal the sum over the derived rows, and a rebuild from
    // the raw events reproduces every row and every figure.
    let before = derived(&app);
    app.with_conn(|conn| agora::service::deflection::rebuild(conn).unwrap());
    assert_eq!(derived(&app), before);
    assert_eq!(summary(&app, &w, &period, &format!("category=waste&area={n}")), waste_north);
}

/// Every derived row and rollup, after checking that the rollups agree with
/// the rows. Pairs without their survey events' row ids, which depend on
/// arrival order.
type Derived = (
    Vec<agora::store::deflection::RollupCell>,
    Vec<agora::store::deflection::Pair>,
    Vec<agora::store::deflection::Intent>,
    Vec<agora::store::deflection::Session>,
    Vec<agora::store::deflection::VisitorDay>,
    Vec<agora::store::deflection::GapSearch>,
);

fn derived(app: &TestApp) -> Derived {
    use agora::store::deflection as store;
    app.with_conn(|conn| {
        assert_eq!(agora::service::deflection::check_rollups(conn).unwrap(), vec![]);
        let pairs = store::all_pairs(conn)
            .unwrap()
            .into_iter()
            .map(|p| store::Pair { helpful_event: None, would_event: None, ..p })
            .collect();
        (
            store::all_rollups(conn).unwrap(),
            pairs,
            store::all_intents(conn).unwrap(),
            store::all_sessions(conn).unwrap(),
            store::all_visitor_days(conn).unwrap(),
            store::all_gap_searches(conn).unwrap(),
        )
    })
}

#[test]
fn areas_do_not_depend_on_the_order_events_arrive_in() {
    let forward = spawn_app();
    let backward = spawn_app();
    let d0 = day_zero(&forward);
    let mut figures = Vec::new();
    for (app, reverse) in [(&forward, false), (&backward, true)] {
        let w = wards(app);
        play(app, &w, d0, reverse);
        let period = format!("from={}", d0.date_naive());
        let reports: Vec<Value> = ["", "area=Northfield", "category=waste&area=Riverside"]
            .iter()
            .map(|filter| summary(app, &w, &period, filter))
            .collect();
        // A2's day-2 session: Riverside (QC at 09:00) whichever event came first.
        let sessions = app.with_conn(|conn| agora::store::deflection::all_sessions(conn).unwrap());
        let a2 = sessions.iter().find(|s| s.session_key.starts_with("a2/")).unwrap();
        assert_eq!((a2.category.as_str(), a2.area.as_str()), ("waste", RIVERSIDE));
        figures.push((derived(app), reports));
    }
    assert_eq!(figures[0], figures[1]);
}

#[test]
fn bad_areas_are_refused() {
    let app = spawn_app();
    let admin = app.admin();
    let now = app.clock.now_utc().to_rfc3339();
    let long = "x".repeat(81);
    for (area, why) in [(long.as_str(), "too long"), ("North%01field", "a control character"), ("*", "the any marker")]
    {
        for path in ["summary", "timeseries", "questions", "gaps", "experiment", "export.csv"] {
            let problem = app
                .get(&format!("/api/v1/deflection/{path}?area={area}"))
                .bearer(&admin.access_token)
                .send()
                .assert_problem(422, "validation_failed");
            assert_eq!(problem["errors"][0]["field"], "area", "{path}: {why}");
        }
    }
    // 80 characters of any script are an area (one nobody has: zeros).
    let fine =
        app.get(&format!("/api/v1/deflection/summary?area={}", "%C3%A9".repeat(80))).bearer(&admin.access_token).send();
    let fine = fine.assert_status(200).json();
    assert_eq!(fine["area"], "é".repeat(80));
    exact(&fine["confirmed"], 0);

    // An invalid area refuses the whole batch, naming the event; nothing is
    // stored.
    let stored = || {
        app.with_conn(|conn| {
            agora::store::deflection::exclusion_counts(conn).unwrap().iter().map(|(_, n)| n).sum::<i64>()
        })
    };
    let search =
        |area: Value| super::script::event("search_performed", &now, "v", json!({"query": "bins", "area": area}));
    let post = |events: Vec<Value>| app.post("/api/v1/events", &json!({"events": events})).send();
    for (area, message) in [
        (json!(long), "must be at most 80 characters"),
        (json!("North\u{7}field"), "must not contain control characters"),
        (json!("  "), "must be at least 1 characters"),
        (json!("*"), "must not be '*'"),
    ] {
        let problem = post(vec![search(json!("Northfield")), search(area)]).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"], json!([{"field": "events[1].area", "message": message}]));
    }
    // Events about a question take its area; they cannot give their own.
    let viewed = super::script::event("question_viewed", &now, "v", json!({"question_id": 1, "area": "Northfield"}));
    let problem = post(vec![viewed]).assert_problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "events[0].area");
    assert_eq!(stored(), 0);
    // Trimmed, it is stored as the area.
    post(vec![search(json!(" Northfield "))]).assert_status(202);
    let areas = app.with_conn(|conn| {
        use agora::store::schema::deflection_events as de;
        use diesel::prelude::*;
        de::table.select(de::area).load::<Option<String>>(conn).unwrap()
    });
    assert_eq!(areas, vec![Some("Northfield".to_owned())]);
}

#[test]
fn a_database_of_the_previous_release_keeps_its_figures_and_gains_its_questions_areas() {
    let app = spawn_app();
    let w = wards(&app);
    let d0 = day_zero(&app);
    play(&app, &w, d0, false);
    let period = format!("from={}", d0.date_naive());
    let filters = ["", "category=waste", "category=parking"];
    let before: Vec<Value> = filters.iter().map(|f| summary(&app, &w, &period, f)).collect();
    let db = app.db.clone();
    drop(app);

    // Back to the previous release's schema (areas dropped, the derived
    // state summed back over them), then migrated again at a start.
    let options = agora::store::PoolOptions::new(1, std::time::Duration::from_secs(10));
    let (pool, _) = agora::store::connect(db.url(), &options).unwrap();
    let mut conn = pool.get().unwrap();
    // The Open311, webhook, trust and mail migrations came after the
    // areas: revert them first.
    agora::store::revert_last_migration(&mut conn).unwrap();
    agora::store::revert_last_migration(&mut conn).unwrap();
    agora::store::revert_last_migration(&mut conn).unwrap();
    agora::store::revert_last_migration(&mut conn).unwrap();
    agora::store::revert_last_migration(&mut conn).unwrap();
    // What the previous release reported: A1..A6's self-service visitors.
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Sum {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let visitors: Sum = diesel::sql_query(
        "SELECT CAST(SUM(n) AS BIGINT) AS n FROM deflection_rollups
         WHERE metric = 'self_service_visitor' AND category = '*' AND gap = 1000000",
    )
    .get_result(&mut *conn)
    .unwrap();
    assert_eq!(visitors.n, 5);
    drop(conn);
    drop(pool);

    let upgraded = spawn_node(&db, db.scratch_dir().join("node-upgraded"), |_| {});
    upgraded.with_conn(|conn| {
        assert_eq!(agora::store::deflection::state_version(conn).unwrap(), agora::service::deflection::STATE_VERSION);
    });
    let analyst = crate::helpers::TestUser::from_session(&upgraded.login("analyst", crate::helpers::PASSWORD).json());
    let w = Wards { analyst, admin: w.admin, ..w };
    let after: Vec<Value> = filters.iter().map(|f| summary(&upgraded, &w, &period, f)).collect();
    assert_eq!(after, before);
    derived(&upgraded);
    // Events take their question's area; the areas only events gave (the
    // contact forms', the searches') were not recorded before. Northfield:
    // confirmed A1·QA, viewer A4·QA, visitors A1 A2 A4 (not A6, whose
    // searches had no question), no submission.
    let north = summary(&upgraded, &w, &period, &format!("area={NORTHFIELD}"));
    assert_eq!((counts(&north).confirmed, counts(&north).viewers, counts(&north).visitors), (1, 1, (3, 0)));
}
