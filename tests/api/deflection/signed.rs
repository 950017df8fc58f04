//! Signed intents and plausibility: `contact_*` events count only with the
//! server's token for their intent, and a flood from one visitor or one
//! address, paced however it likes, leaves the figures as they were.

use chrono::Duration;
use serde_json::{Value, json};

use super::script::{BROWSER, community, event};
use crate::helpers::{TestApp, TestUser, spawn_app_with};

fn trusting_proxies() -> TestApp {
    spawn_app_with(|s| s.trust_forwarded_for = true)
}

/// `GET /questions/similar` for an intent, as the widget calls it.
fn token_for(app: &TestApp, intent: &str, from: &str) -> String {
    let reply = app
        .get(&format!("/api/v1/questions/similar?text=bin%20collection%20day&intent_id={intent}"))
        .header("x-forwarded-for", from)
        .send()
        .assert_status(200)
        .json();
    reply["intent_token"].as_str().expect("a token with an intent").to_owned()
}

fn post(app: &TestApp, from: &str, events: Vec<Value>) -> crate::helpers::TestResponse {
    app.post("/api/v1/events", &json!({"events": events}))
        .header("user-agent", BROWSER)
        .header("x-forwarded-for", from)
        .send()
}

/// A contact form visit that ends confirmed by question `q`.
fn confirmed_visit(intent: &str, visitor: &str, q: i64, token: Option<&str>, at: &str) -> Vec<Value> {
    let mut fields = json!({"intent_id": intent});
    if let Some(token) = token {
        fields["intent_token"] = json!(token);
    }
    let mut confirmed = fields.clone();
    confirmed["question_id"] = json!(q);
    vec![
        event("contact_intent_started", at, visitor, fields.clone()),
        event("contact_suggestions_shown", at, visitor, fields.clone()),
        event("contact_suggestion_clicked", at, visitor, confirmed.clone()),
        event("contact_intent_confirmed_resolved", at, visitor, confirmed),
    ]
}

fn summary(app: &TestApp, analyst: &TestUser) -> Value {
    app.get("/api/v1/deflection/summary").bearer(&analyst.access_token).send().assert_status(200).json()
}

#[test]
fn only_the_servers_token_for_the_intent_makes_a_contact_count() {
    let app = trusting_proxies();
    let c = community(&app);
    let now = || app.clock.now_utc().to_rfc3339();
    let resident = "203.0.113.10";
    let before = summary(&app, &c.analyst);

    // The real round trip: the token from /questions/similar counts.
    let token = token_for(&app, "intent-good", resident);
    post(&app, resident, confirmed_visit("intent-good", "visitor-good", c.q1, Some(&token), &now())).assert_status(202);
    let after = summary(&app, &c.analyst);
    assert_eq!(after["confirmed"]["count"], before["confirmed"]["count"].as_u64().unwrap() + 1, "{after}");

    // No token, another intent's token, an altered one, a made-up one:
    // stored, counted nowhere but under unverified_intent.
    let other = token_for(&app, "intent-other", resident);
    let altered = format!("{}x", &token[..token.len() - 1]);
    let cases: [(&str, Option<&str>); 4] = [
        ("intent-none", None),
        ("intent-stolen", Some(&other)),
        ("intent-altered", Some(&altered)),
        ("intent-made-up", Some("bm90LmEudG9rZW4.AAAAAAAAAAAAAAAA")),
    ];
    for (intent, token) in cases {
        let visitor = format!("visitor-{intent}");
        post(&app, resident, confirmed_visit(intent, &visitor, c.q1, token, &now())).assert_status(202);
    }
    let forged = summary(&app, &c.analyst);
    assert_eq!(forged["confirmed"], after["confirmed"], "an unverified intent counted");
    assert_eq!(forged["excluded"]["unverified_intent"], 16, "{}", forged["excluded"]);

    // Expired: a token used for events more than a day after it was issued.
    let old = token_for(&app, "intent-late", resident);
    app.clock.advance(Duration::hours(25));
    let analyst = app.login("analyst", crate::helpers::PASSWORD).json();
    let analyst = TestUser::from_session(&analyst);
    post(&app, resident, confirmed_visit("intent-late", "visitor-late", c.q1, Some(&old), &now())).assert_status(202);
    let late = summary(&app, &analyst);
    assert_eq!(late["excluded"]["unverified_intent"], 20, "{}", late["excluded"]);
    assert_eq!(late["confirmed"], forged["confirmed"]);

    // A token is only for contact events, and has a size.
    let viewed = event("question_viewed", &now(), "v", json!({"question_id": c.q1, "intent_token": token}));
    let problem = post(&app, resident, vec![viewed]).assert_problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "events[0].intent_token");
    let huge = event("contact_submitted", &now(), "v", json!({"intent_id": "i", "intent_token": "a".repeat(513)}));
    post(&app, resident, vec![huge]).assert_problem(422, "validation_failed");
}

#[test]
fn a_scripted_inflation_from_one_address_leaves_the_figures_unchanged() {
    let app = trusting_proxies();
    let c = community(&app);
    let now = app.clock.now_utc().to_rfc3339();
    // Two residents confirm, from their own addresses.
    for (n, address) in ["203.0.113.10", "203.0.113.11"].into_iter().enumerate() {
        let intent = format!("resident-intent-{n}");
        let token = token_for(&app, &intent, address);
        let visit = confirmed_visit(&intent, &format!("resident-{n}"), c.q1, Some(&token), &now);
        post(&app, address, visit).assert_status(202);
    }
    let before = summary(&app, &c.analyst);
    assert_eq!(before["confirmed"]["count"], 2, "{before}");

    let attacker = "198.51.100.66";
    // 10,000 confirmations without tokens, each from a fresh visitor.
    for batch in 0..100 {
        let events: Vec<Value> = (0..100)
            .map(|i| {
                let n = batch * 100 + i;
                let fields = json!({"intent_id": format!("forged-{n}"), "question_id": c.q1});
                event("contact_intent_confirmed_resolved", &now, &format!("bot-visitor-{n}"), fields)
            })
            .collect();
        post(&app, attacker, events).assert_status(202);
    }
    // Then with real tokens, fetched one by one and used at once, so the
    // first intents are counted before the address goes over its limit.
    for n in 0..60 {
        let intent = format!("scripted-{n}");
        let token = token_for(&app, &intent, attacker);
        post(&app, attacker, confirmed_visit(&intent, &format!("scripted-visitor-{n}"), c.q1, Some(&token), &now))
            .assert_status(202);
    }
    // And one visitor with thirty intents from yet another address.
    for n in 0..30 {
        let intent = format!("one-visitor-{n}");
        let token = token_for(&app, &intent, "198.51.100.99");
        post(&app, "198.51.100.99", confirmed_visit(&intent, "one-visitor", c.q1, Some(&token), &now))
            .assert_status(202);
    }

    let after = summary(&app, &c.analyst);
    assert_eq!(after["confirmed"], before["confirmed"], "the confirmed tier moved");
    assert_eq!(after["probable"], before["probable"]);
    assert_eq!(after["cost_avoided"], before["cost_avoided"], "the costs moved");
    assert_eq!(after["excluded"]["unverified_intent"], 10_000, "{}", after["excluded"]);
    assert_eq!(after["excluded"]["implausible"], (60 + 30) * 4, "{}", after["excluded"]);
    app.with_conn(|conn| assert_eq!(agora::service::deflection::check_rollups(conn).unwrap(), vec![]));
    // What was moved is what a rebuild from the raw events gives.
    let rebuilt = app.with_conn(|conn| {
        agora::service::deflection::rebuild(conn).unwrap();
        agora::service::deflection::check_rollups(conn).unwrap()
    });
    assert_eq!(rebuilt, vec![]);
    assert_eq!(summary(&app, &c.analyst)["confirmed"], before["confirmed"]);
}
