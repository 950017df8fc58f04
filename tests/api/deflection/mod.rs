//! Deflection end to end: a scripted community of visitors whose every
//! report figure was worked out by hand from the definitions (the
//! "Deflection figures" of docs/architecture.md; the working is in the
//! comments), the unhappy paths of POST /events and the
//! reports, the hold-out arms, and the rollups agreeing with the raw events.

mod areas;
mod gaps;
mod script;
mod signed;
mod wards;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, TestUser, spawn_app};
use script::{BROWSER, Batch, GOOGLEBOT, community, day_zero, event, play, resident, scenario, send};

fn similar(app: &TestApp, intent: &str) -> Value {
    app.get(&format!("/api/v1/questions/similar?text=bin%20collection%20day&intent_id={intent}"))
        .send()
        .assert_status(200)
        .json()
}

fn report(app: &TestApp, user: &TestUser, path: &str) -> Value {
    app.get(path).bearer(&user.access_token).send().assert_status(200).json()
}

#[track_caller]
fn close(actual: &Value, expected: f64) {
    let a = actual.as_f64().unwrap_or_else(|| panic!("not a number: {actual}"));
    assert!((a - expected).abs() < 1e-5, "{a} != {expected}");
}

#[track_caller]
fn rate(actual: &Value, n: u64, value: f64, low: f64, high: f64) {
    assert_eq!(actual["n"], n, "{actual}");
    close(&actual["value"], value);
    close(&actual["low"], low);
    close(&actual["high"], high);
}

#[track_caller]
fn exact(actual: &Value, n: u64) {
    assert_eq!(actual, &json!({"count": n, "low": n, "high": n}));
}

#[test]
fn every_report_figure_matches_the_hand_computed_scenario() {
    let app = spawn_app();
    let c = community(&app);
    app.change_settings(&c.admin, |s| s["deflection"]["holdout_percent"] = json!(50));
    let d0 = day_zero(&app);

    // Hold-out arms: assigned once, by the id's hash; the hold-out gets no
    // suggestions. Intent exp-7 is assigned after its events arrive.
    for i in 1..=6 {
        let reply = similar(&app, &script::exp_id(&app, i));
        let arm = if i <= 3 { "holdout" } else { "treatment" };
        assert_eq!(reply["arm"], arm, "exp-{i}");
        assert!(reply["intent_token"].is_string(), "{reply}");
        if arm == "holdout" {
            assert_eq!(reply["items"], json!([]));
        }
    }
    assert_eq!(similar(&app, &script::exp_id(&app, 1))["arm"], "holdout", "an intent keeps its arm");
    assert!(app.get("/api/v1/questions/similar?text=bins").send().json().get("arm").is_none());

    play(&app, &c, d0, false);
    assert_eq!(similar(&app, &script::exp_id(&app, 7))["arm"], "treatment");

    // Resending a batch changes nothing.
    let again = scenario(&c, d0).into_iter().next().unwrap();
    let first = Batch { user_agent: BROWSER, token: None, events: again.events.clone() };
    send(&app, &first);
    assert_eq!(send(&app, &first), json!({"accepted": 0, "duplicates": 3}));

    // Page views through the API: V15 views solved Q1 today (a viewer); the
    // asker, staff and a crawler viewing it are excluded.
    let page = |visitor: &str, agent: &str, token: Option<&str>| {
        let mut call =
            app.get(&format!("/api/v1/questions/{}", c.q1)).header("x-visitor-id", visitor).header("user-agent", agent);
        if let Some(token) = token {
            call = call.bearer(token);
        }
        call.send().assert_status(200);
    };
    page("v15", BROWSER, None);
    page("asker-browser", BROWSER, Some(&c.asker.access_token));
    page("staff-browser", BROWSER, Some(&c.staff.access_token));
    page("bot2", GOOGLEBOT, None);

    // V14 is on the contact form right now, having clicked Q2 ten minutes
    // ago: not abandoned yet.
    let now = app.clock.now_utc();
    let recent = |m: i64| (now - Duration::minutes(m)).to_rfc3339();
    send(
        &app,
        &resident(vec![
            event("contact_intent_started", &recent(10), "v14", json!({"intent_id": "i14"})),
            event("contact_suggestions_shown", &recent(9), "v14", json!({"intent_id": "i14"})),
            event("contact_suggestion_clicked", &recent(8), "v14", json!({"intent_id": "i14", "question_id": c.q2})),
        ]),
    );

    let excluded = app.with_conn(|conn| agora::store::deflection::exclusion_counts(conn).unwrap());
    let reason = |r: &str| excluded.iter().find(|(k, _)| k.as_deref() == Some(r)).map_or(0, |(_, n)| *n);
    // Crawler: 3 events + 1 page view; staff: 2 + 1; the asker: 1 + 1.
    assert_eq!((reason("bot"), reason("staff"), reason("author")), (4, 3, 2), "{excluded:?}");

    let period = format!("from={}", d0.date_naive());
    let summary = report(&app, &c.analyst, &format!("/api/v1/deflection/summary?{period}"));
    // Confirmed: V1/Q1 (day 1), V2/Q1 (contact 8 days later is outside the
    // window), V11/Q2 (intent confirmed with Q2), V12 (intent, no question).
    // Not V3 (contact after 6 days), not V4 (latest helpful is no).
    exact(&summary["confirmed"], 4);
    // Probable: i8 only (i9 no click, i10 submitted, i11 confirmed, i13 its
    // visitor contacted within 3 days, i14 not 30 minutes old).
    exact(&summary["probable"], 1);
    // Viewers of a solved question without a contact attempt in 7 days, not
    // confirmed: V4/Q2, V5/Q2, V15/Q1 = 3 (V1, V2 confirmed; V3 contacted;
    // V6's Q3 is unsolved). Would-have-contacted: V1, V2, V3, V4 (latest) yes,
    // V6 unsure = 4/5 = 0.8, Wilson 95 % [0.375535, 0.963776] (z² = 3.841459:
    // centre 1.184146/1.768292 = 0.669654 ± 0.294121).
    // Potential = 3 × 0.8 = 2.4 [1.126605, 2.891328], rounded to cents.
    assert_eq!(summary["potential"], json!({"count": 2.4, "low": 1.13, "high": 2.89, "viewers": 3}));
    rate(&summary["would_have_contacted_rate"], 5, 0.8, 0.375_535, 0.963_776);
    // Helpful (latest per visitor and question): V1, V2, V3 yes, V4 no = 3/4.
    rate(&summary["helpful_rate"], 4, 0.75, 0.300_642, 0.954_413);
    // Self-service visitors: V1 V2 V3 V4 V5 V6 V8 V15 = 8; submitting: V2,
    // V3, V10, V13, exp-1, exp-2, exp-4 = 7 → 8/7.
    assert_eq!(summary["visitors"], json!({"self_service": 8, "submitted_contact": 7}));
    close(&summary["self_service_score"], 8.0 / 7.0);
    // Intents started: i2 i3 i8 i9 i10 i11 i12 i13 i13b i14 + 7 experiment
    // = 17; with self-service in the 7 days before: i3 (5 d 23 h 54 min
    // after V3's last answer) and i8 (10 min after V8's search) = 2. Not i2:
    // 7 d 23 h 54 min after V2's last answer.
    rate(&summary["tried_self_service_first"], 17, 2.0 / 17.0, 0.032_880, 0.343_364);
    // Sessions (visitor-days with self-service): the 8 visitors above, one
    // day each; with a helpful yes: V1 V2 V3 V4 = 4/8.
    rate(&summary["sessions_ending_helpful"], 8, 0.5, 0.215_216, 0.784_784);
    assert_eq!(
        summary["cost_avoided"],
        json!({
            "confirmed": {"point": 13.56, "low": 13.56, "high": 13.56},
            "probable": {"point": 3.39, "low": 3.39, "high": 3.39},
            "currency": "USD",
            "cost_per_contact": 3.39,
            "cost_source": summary["cost_avoided"]["cost_source"],
            "cost_year": 2009
        })
    );
    assert_eq!((summary["window_days"].clone(), summary["confidence"].clone()), (json!(7), json!(0.95)));

    // Only waste: confirmed V1/Q1, V2/Q1, V12 = 3; probable i8 (category from
    // the clicked Q1) = 1; viewers V15/Q1 = 1 × would-rate in waste (V1 V2 V3
    // yes, V6 unsure = 3/4 = 0.75 [0.300642, 0.954413]).
    let waste = report(&app, &c.analyst, &format!("/api/v1/deflection/summary?{period}&category=waste"));
    exact(&waste["confirmed"], 3);
    exact(&waste["probable"], 1);
    assert_eq!(waste["potential"], json!({"count": 0.75, "low": 0.3, "high": 0.95, "viewers": 1}));
    rate(&waste["helpful_rate"], 3, 1.0, 0.438_503, 1.0);
    // Waste visitors: self-service V1 V2 V3 V6 V8 V15 = 6; submitted with a
    // waste contact: V2, V3 = 2.
    assert_eq!(waste["visitors"], json!({"self_service": 6, "submitted_contact": 2}));
    // Waste intents: i2 i3 i8 i12 i13 = 5, tried self-service first: i3 i8.
    rate(&waste["tried_self_service_first"], 5, 0.4, 0.117_621, 0.769_276);
    // Waste sessions: V1 V2 V3 V6 V8 V15 = 6, helpful: V1 V2 V3.
    rate(&waste["sessions_ending_helpful"], 6, 0.5, 0.187_616, 0.812_384);

    // Per day: confirmed on days 1, 2 and 6 (two), probable on day 5,
    // viewers on days 3, 4 and today (0.8 each, the period's rate).
    let series = report(&app, &c.analyst, &format!("/api/v1/deflection/timeseries?{period}"));
    let buckets = series["buckets"].as_array().unwrap();
    let today = app.clock.now_utc().date_naive();
    assert_eq!(buckets.len() as i64, (today - d0.date_naive()).num_days() + 1);
    let day = |n: usize| &buckets[n];
    for (n, confirmed) in [(0, 0), (1, 1), (2, 1), (6, 2), (7, 0)] {
        exact(&day(n)["confirmed"], confirmed);
    }
    exact(&day(5)["probable"], 1);
    for n in [3, 4] {
        assert_eq!(day(n)["potential"]["viewers"], 1);
        close(&day(n)["potential"]["count"], 0.8);
    }
    assert_eq!(buckets.last().unwrap()["potential"]["viewers"], 1);
    let total = |key: &str| buckets.iter().map(|b| b[key]["count"].as_f64().unwrap()).sum::<f64>();
    assert_eq!((total("confirmed"), total("probable")), (4.0, 1.0));
    // Weeks and months add up to the same totals.
    for granularity in ["week", "month"] {
        let s = report(&app, &c.analyst, &format!("/api/v1/deflection/timeseries?{period}&granularity={granularity}"));
        let b = s["buckets"].as_array().unwrap();
        assert_eq!(b[0]["start"], json!(d0.date_naive().to_string()));
        let sum = |key: &str| b.iter().map(|x| x[key]["count"].as_f64().unwrap()).sum::<f64>();
        assert_eq!((sum("confirmed"), sum("probable")), (4.0, 1.0), "{granularity}");
    }

    // Questions: Q1 confirmed V1 V2 + probable i8 = 3; Q2 confirmed V11 = 1.
    let questions = report(&app, &c.analyst, &format!("/api/v1/deflection/questions?{period}"));
    let items: Vec<_> = questions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (i["question_id"].as_i64().unwrap(), i["confirmed"].as_i64().unwrap(), i["probable"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(items, vec![(c.q1, 2, 1), (c.q2, 1, 0)]);
    assert_eq!(questions["items"][0]["title"], "When is my bin collection day");

    // Gaps: still need help on Q2 (V4, V5) and Q3 (V6).
    let gaps = report(&app, &c.analyst, &format!("/api/v1/deflection/gaps?{period}"));
    let needs: Vec<_> = gaps["still_need_help"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["question_id"].as_i64().unwrap(), n["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(needs, vec![(c.q2, 2), (c.q3, 1)]);

    // Experiment: hold-out 2/3 submitted [0.207660, 0.938508], treatment
    // 1/4 [0.045587, 0.699358]; difference 0.416667 with Newcombe's interval
    // 0.416667 − √((0.666667−0.207660)² + (0.699358−0.25)²) = −0.225681 to
    // 0.416667 + √((0.938508−0.666667)² + (0.25−0.045587)²) = 0.756788.
    let experiment = report(&app, &c.analyst, &format!("/api/v1/deflection/experiment?{period}"));
    assert_eq!(experiment["holdout_percent"], 50);
    let arms = experiment["arms"].as_array().unwrap();
    assert_eq!(
        (arms[0]["arm"].as_str(), arms[0]["intents"].as_u64(), arms[0]["submitted"].as_u64()),
        (Some("holdout"), Some(3), Some(2))
    );
    rate(&arms[0]["submit_rate"], 3, 2.0 / 3.0, 0.207_660, 0.938_508);
    rate(&arms[1]["submit_rate"], 4, 0.25, 0.045_587, 0.699_358);
    close(&experiment["difference"]["value"], 5.0 / 12.0);
    close(&experiment["difference"]["low"], -0.225_681);
    close(&experiment["difference"]["high"], 0.756_788);

    // The CSV: a row per day per category; day 1's waste row carries V1.
    let csv = app.get(&format!("/api/v1/deflection/export.csv?{period}")).bearer(&c.admin.access_token).send();
    csv.assert_status(200);
    let rows: Vec<&str> = csv.text.lines().collect();
    assert!(rows[0].starts_with("bucket_start,bucket_end,category,confirmed,probable,viewers,potential"));
    let day1 = (d0 + Duration::days(1)).date_naive();
    let waste_day1 = rows.iter().find(|r| r.starts_with(&format!("{day1},{day1},waste,"))).expect("waste row of day 1");
    assert!(
        waste_day1.starts_with(&format!("{day1},{day1},waste,1,0,0,0,0,0,1,1,1,1,0,0,1,1,3.39,0.00,USD")),
        "{waste_day1}"
    );
    // (none), parking and waste rows for every day.
    assert_eq!(rows.len() - 1, buckets.len() * 3);

    // Half an hour later V14 has left without contacting: probable.
    app.clock.advance(Duration::minutes(31));
    let analyst = TestUser::from_session(&app.login("analyst", PASSWORD).json());
    let later = report(&app, &analyst, &format!("/api/v1/deflection/summary?{period}"));
    exact(&later["probable"], 2);

    // The rollups equal the sum over the derived rows, and rebuilding the
    // derived state from the raw events reproduces it exactly.
    let (rollups, pairs) = app.with_conn(|conn| {
        assert_eq!(agora::service::deflection::check_rollups(conn).unwrap(), vec![]);
        (agora::store::deflection::all_rollups(conn).unwrap(), agora::store::deflection::all_pairs(conn).unwrap())
    });
    app.with_conn(|conn| agora::service::deflection::rebuild(conn).unwrap());
    app.with_conn(|conn| {
        assert_eq!(agora::store::deflection::all_rollups(conn).unwrap(), rollups);
        assert_eq!(agora::store::deflection::all_pairs(conn).unwrap(), pairs);
    });
    assert_eq!(report(&app, &analyst, &format!("/api/v1/deflection/summary?{period}")), later);
}

#[test]
fn the_order_events_arrive_in_does_not_change_the_figures() {
    let forward = spawn_app();
    let backward = spawn_app();
    let d0 = day_zero(&forward);
    let mut derived = Vec::new();
    for (app, reverse) in [(&forward, false), (&backward, true)] {
        let c = community(app);
        play(app, &c, d0, reverse);
        derived.push(app.with_conn(|conn| {
            assert_eq!(agora::service::deflection::check_rollups(conn).unwrap(), vec![]);
            (
                agora::store::deflection::all_rollups(conn).unwrap(),
                // Row ids (the survey tie-break) differ with arrival order.
                agora::store::deflection::all_pairs(conn)
                    .unwrap()
                    .into_iter()
                    .map(|p| agora::store::deflection::Pair { helpful_event: None, would_event: None, ..p })
                    .collect::<Vec<_>>(),
                agora::store::deflection::all_intents(conn).unwrap(),
            )
        }));
    }
    assert_eq!(derived[0], derived[1]);
}

/// A batch's derivations share what they read and write once at its end
/// (`deflection::pending`): the derived state must be what the same events
/// give one request at a time.
#[test]
fn a_batch_derives_what_its_events_derive_sent_one_at_a_time() {
    let batched = spawn_app();
    let single = spawn_app();
    let d0 = day_zero(&batched);
    let mut derived = Vec::new();
    for (app, one_at_a_time) in [(&batched, false), (&single, true)] {
        let c = community(app);
        let mut batches = scenario(&c, d0);
        batches.push(script::experiment_events(app, d0));
        // A visitor who searches, starts the contact form, and searches
        // again from before it started (the second moves the intent's last
        // self-service, which the batch's first search found none to move).
        let search =
            |minute| event("search_performed", &script::at(d0, 2, 9, minute), "switcher", json!({"query": "bins"}));
        let start =
            event("contact_intent_started", &script::at(d0, 2, 9, 10), "switcher", json!({"intent_id": "i-switch"}));
        batches.push(resident(vec![search(0), start, search(5)]));
        for batch in &batches {
            if !one_at_a_time {
                send(app, batch);
                continue;
            }
            for event in &batch.events {
                let alone =
                    Batch { user_agent: batch.user_agent, token: batch.token.clone(), events: vec![event.clone()] };
                send(app, &alone);
            }
        }
        // A returning visitor whose later day arrives first: the earlier
        // day, in a later request, links the stored later day to it.
        for day in [3, 1] {
            let search = event("search_performed", &script::at(d0, day, 9, 0), "returning", json!({"query": "bins"}));
            send(app, &resident(vec![search]));
        }
        derived.push(app.with_conn(|conn| {
            assert_eq!(agora::service::deflection::check_rollups(conn).unwrap(), vec![]);
            let days = agora::store::deflection::all_visitor_days(conn).unwrap();
            let returning: Vec<_> =
                days.iter().filter(|d| d.visitor_id == "returning").map(|d| (d.day, d.previous_day)).collect();
            let day0 = d0.timestamp().div_euclid(86_400);
            assert_eq!(returning, [(day0 + 1, None), (day0 + 3, Some(day0 + 1))]);
            (
                agora::store::deflection::all_rollups(conn).unwrap(),
                agora::store::deflection::all_pairs(conn).unwrap(),
                agora::store::deflection::all_intents(conn).unwrap(),
                agora::store::deflection::all_sessions(conn).unwrap(),
                agora::store::deflection::all_visitor_days(conn).unwrap(),
            )
        }));
    }
    assert!(!derived[0].3.is_empty() && !derived[0].4.is_empty(), "the scenario has sessions and days");
    assert_eq!(derived[0], derived[1]);
}

#[test]
fn bad_batches_are_refused_whole_with_every_problem_named() {
    let app = spawn_app();
    let admin = app.admin();
    let now = app.clock.now_utc();
    let good = |when: DateTime<Utc>| event("search_performed", &when.to_rfc3339(), "v", json!({"query": "bins"}));
    let stored = || {
        app.with_conn(|conn| {
            agora::store::deflection::exclusion_counts(conn).unwrap().iter().map(|(_, n)| n).sum::<i64>()
        })
    };
    let post = |events: Vec<Value>| {
        app.post("/api/v1/events", &json!({"events": events})).header("user-agent", BROWSER).send()
    };

    let before = stored();
    let mut bad_type = good(now);
    bad_type["type"] = json!("page_teleported");
    let problem = post(vec![good(now), bad_type, good(now + Duration::hours(25)), good(now - Duration::days(31))])
        .assert_problem(422, "validation_failed");
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["events[1].type", "events[2].occurred_at", "events[3].occurred_at"]);
    assert_eq!(stored(), before, "nothing of a refused batch is stored");

    let missing = |kind: &str, extra: Value| {
        let e = event(kind, &now.to_rfc3339(), "v", extra);
        let problem = post(vec![e]).assert_problem(422, "validation_failed");
        problem["errors"][0]["field"].as_str().unwrap().to_owned()
    };
    assert_eq!(missing("helpful_vote", json!({"question_id": 1})), "events[0].value");
    assert_eq!(missing("helpful_vote", json!({"question_id": 1, "value": "maybe"})), "events[0].value");
    assert_eq!(missing("would_have_contacted", json!({"value": "yes"})), "events[0].question_id");
    assert_eq!(missing("contact_submitted", json!({})), "events[0].intent_id");
    assert_eq!(missing("search_performed", json!({})), "events[0].query");
    assert_eq!(missing("search_performed", json!({"query": "x", "value": "yes"})), "events[0].value");
    assert_eq!(missing("search_performed", json!({"query": "x", "channel": "fax"})), "events[0].channel");
    assert_eq!(missing("search_performed", json!({"query": "x".repeat(501)})), "events[0].query");
    assert_eq!(
        missing("search_performed", json!({"query": "x", "category": "no-such-category"})),
        "events[0].category"
    );
    let mut bad_id = good(now);
    bad_id["event_id"] = json!("not-a-uuid");
    assert_eq!(post(vec![bad_id]).assert_problem(422, "validation_failed")["errors"][0]["field"], "events[0].event_id");
    let mut bad_visitor = good(now);
    bad_visitor["visitor_id"] = json!("has spaces");
    assert_eq!(
        post(vec![bad_visitor]).assert_problem(422, "validation_failed")["errors"][0]["field"],
        "events[0].visitor_id"
    );

    post(vec![]).assert_problem(422, "validation_failed");
    post((0..101).map(|_| good(now)).collect()).assert_problem(422, "validation_failed");
    app.post("/api/v1/events", &json!({"events": [good(now)], "extra": 1}))
        .send()
        .assert_problem(422, "validation_failed");
    app.call("POST", "/api/v1/events")
        .raw("application/json", "{\"events\": [")
        .send()
        .assert_problem(400, "malformed_json");

    // 23 hours ahead is fine; a duplicate inside one batch is counted.
    let ahead = good(now + Duration::hours(23));
    assert_eq!(post(vec![ahead.clone(), ahead]).assert_status(202).json(), json!({"accepted": 1, "duplicates": 1}));

    // Reports: role, period and filters.
    let resident = app.register("resident");
    app.get("/api/v1/deflection/summary").bearer(&resident.access_token).send().assert_problem(403, "forbidden");
    app.get("/api/v1/deflection/summary").send().assert_problem(401, "unauthorized");
    let bad = |query: &str| app.get(&format!("/api/v1/deflection/summary?{query}")).bearer(&admin.access_token).send();
    assert_eq!(bad("from=2026-13-01").assert_problem(422, "validation_failed")["errors"][0]["field"], "from");
    assert_eq!(
        bad("from=2026-11-10&to=2026-11-01").assert_problem(422, "validation_failed")["errors"][0]["field"],
        "from"
    );
    bad("from=2020-01-01&to=2026-01-01").assert_problem(422, "validation_failed");
    assert_eq!(bad("category=nope").assert_problem(422, "validation_failed")["errors"][0]["field"], "category");
    bad("granularity=day").assert_status(400);
    app.get("/api/v1/deflection/timeseries?granularity=year").bearer(&admin.access_token).send().assert_status(400);
    app.get("/api/v1/deflection/questions?limit=0")
        .bearer(&admin.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.get("/api/v1/questions/similar?text=bins&intent_id=has%20space")
        .send()
        .assert_problem(422, "validation_failed");

    // An empty community reports zeros and null rates, not errors.
    let empty = bad("");
    let summary = empty.assert_status(200).json();
    exact(&summary["confirmed"], 0);
    assert_eq!(summary["helpful_rate"], json!({"value": null, "low": null, "high": null, "n": 0}));
    assert_eq!(summary["self_service_score"], Value::Null);
}

/// A contact form's suggestions are those any caller gets for its draft,
/// whether made for this request or kept from an earlier one with another
/// intent; its arm and token are its own; a question asked since shows in
/// the next request. And an intent that an event made without its arm
/// (the event racing the arm's assignment) is given the arm by the next
/// request, though that request only reads when nothing is missing.
#[test]
fn a_contact_forms_suggestions_are_its_drafts_and_its_arm_is_its_own() {
    use agora::store::schema::deflection_intents as di;
    use diesel::prelude::*;

    let app = spawn_app();
    let c = community(&app);
    app.change_settings(&c.admin, |s| s["deflection"]["holdout_percent"] = json!(50));
    let ids = |reply: &Value| -> Vec<i64> {
        reply["items"].as_array().unwrap().iter().map(|q| q["question_id"].as_i64().unwrap()).collect()
    };
    let plain =
        |text: &str| app.get(&format!("/api/v1/questions/similar?text={text}")).send().assert_status(200).json();
    crate::helpers::eventually(std::time::Duration::from_secs(30), "the community indexed", || {
        ids(&plain("bin%20collection%20day")).contains(&c.q1)
    });
    let expected = ids(&plain("bin%20collection%20day"));

    let cache_hits = || {
        let text = app.get("/metrics").send().assert_status(200).text.clone();
        let prefix = "agora_read_cache_lookups_total{outcome=\"hit\"} ";
        text.lines().find_map(|l| l.strip_prefix(prefix)).map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
    };
    let made = similar(&app, &script::exp_id(&app, 4));
    let hits = cache_hits();
    let kept = similar(&app, &script::exp_id(&app, 5));
    assert_eq!(cache_hits() - hits, 1.0, "the second intent's suggestions come from the read cache");
    for reply in [&made, &kept] {
        assert_eq!(ids(reply), expected, "{reply}");
        assert_eq!(reply["arm"], "treatment");
        let mut keys: Vec<&str> = reply.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["arm", "has_more", "intent_token", "items", "next_cursor"], "{reply}");
    }
    assert_ne!(made["intent_token"], kept["intent_token"], "each intent is signed for itself");

    let newer =
        app.ask(&c.staff, "waste", "Bin collection day moved after the bank holiday", &[])["id"].as_i64().unwrap();
    let mut fresh_intents = (0..)
        .map(|k| format!("fresh-{k}"))
        .filter(|id| agora::service::deflection::arm_bucket(&app.state.ctx, id) >= 50);
    crate::helpers::eventually(std::time::Duration::from_secs(30), "the new question suggested", || {
        let reply = similar(&app, &fresh_intents.next().unwrap());
        assert_eq!(reply["arm"], "treatment");
        ids(&reply).contains(&newer)
    });

    // The arm is assigned before the intent's first event, which then
    // makes the intent with it; the race leaves it without.
    let intent = script::exp_id(&app, 7);
    assert_eq!(similar(&app, &intent)["arm"], "treatment");
    let now = app.clock.now_utc().to_rfc3339();
    send(&app, &resident(vec![event("contact_intent_started", &now, "v-race", json!({"intent_id": intent}))]));
    let arm_on_intent =
        || app.with_conn(|conn| di::table.find(&intent).select(di::arm).first::<Option<String>>(conn).unwrap());
    assert_eq!(arm_on_intent().as_deref(), Some("treatment"));
    app.with_conn(|conn| {
        diesel::update(di::table.find(&intent)).set(di::arm.eq(None::<String>)).execute(conn).unwrap();
    });
    assert_eq!(similar(&app, &intent)["arm"], "treatment");
    assert_eq!(arm_on_intent().as_deref(), Some("treatment"), "the next request records the arm");
}
