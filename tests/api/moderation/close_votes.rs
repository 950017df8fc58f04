//! Community closing: users with the close_vote privilege vote, enough
//! votes close the question with the reason most gave, a moderator closes
//! alone, and a reopening clears the votes.

use serde_json::{Value, json};

use super::{audit, scene};
use crate::helpers::{TestApp, TestResponse, TestUser};

fn voter(app: &TestApp, name: &str) -> TestUser {
    let user = app.register(name);
    app.set_reputation(user.id, 500);
    user
}

fn vote(app: &TestApp, user: &TestUser, question: i64, body: Value) -> TestResponse {
    app.call("PUT", &format!("/api/v1/questions/{question}/close-votes")).json(&body).bearer(&user.access_token).send()
}

fn retract(app: &TestApp, user: &TestUser, question: i64) -> TestResponse {
    app.call("DELETE", &format!("/api/v1/questions/{question}/close-votes")).bearer(&user.access_token).send()
}

fn standing(app: &TestApp, question: i64) -> Value {
    app.get(&format!("/api/v1/questions/{question}/close-votes")).send().assert_status(200).json()
}

#[test]
fn enough_votes_close_a_question_with_the_reason_most_gave() {
    let s = scene();
    let app = &s.app;
    let q = s.question;
    let canonical = app.ask(&s.asker, "waste", "Recycling box not collected, what now?", &[])["id"].as_i64().unwrap();
    let (ann, ben, cat) = (voter(app, "ann"), voter(app, "ben"), voter(app, "cat"));

    let first = vote(app, &ann, q, json!({"reason": "unclear"})).assert_status(200).json();
    assert_eq!(
        (first["count"].as_i64(), first["needed"].as_i64(), first["closed"].as_bool()),
        (Some(1), Some(3), Some(false))
    );
    assert_eq!(first["my_vote"]["reason"], "unclear");
    // Changing a vote does not add one.
    let changed = vote(app, &ann, q, json!({"reason": "duplicate", "duplicate_of": canonical})).json();
    assert_eq!((changed["count"].as_i64(), changed["my_vote"]["duplicate_of"].as_i64()), (Some(1), Some(canonical)));
    // Anyone sees the count; only voters see their own vote.
    let seen = standing(app, q);
    assert_eq!((seen["count"].as_i64(), seen["my_vote"].clone()), (Some(1), Value::Null));

    vote(app, &ben, q, json!({"reason": "off_topic"})).assert_status(200);
    let retracted = retract(app, &ben, q).assert_status(200).json();
    assert_eq!((retracted["count"].as_i64(), retracted["my_vote"].clone()), (Some(1), Value::Null));
    assert_eq!(retract(app, &ben, q).assert_status(200).json()["count"], 1, "retracting twice is harmless");
    vote(app, &ben, q, json!({"reason": "off_topic"})).assert_status(200);
    assert!(!app.question(q)["closed"].is_object(), "two votes of three leave it open");

    // The third vote closes it: duplicate 2, off_topic 1.
    let closing =
        vote(app, &cat, q, json!({"reason": "duplicate", "duplicate_of": canonical})).assert_status(200).json();
    assert_eq!((closing["count"].as_i64(), closing["closed"].as_bool()), (Some(3), Some(true)));
    let closed = app.question(q)["closed"].clone();
    assert_eq!((closed["reason"].as_str(), closed["duplicate_of"].as_i64()), (Some("duplicate"), Some(canonical)));
    let entry = &audit(app, &s.moderator, "action=close")[0];
    assert_eq!((entry["actor_id"].clone(), entry["target_id"].as_i64()), (Value::Null, Some(q)));
    assert_eq!(entry["reason"], "duplicate (3 close votes)");
    assert_eq!(entry["after"]["close_voters"], json!([ann.id, ben.id, cat.id]));
    let inbox = app.get("/api/v1/me/notifications").bearer(&s.asker.access_token).send().json();
    assert!(
        inbox["items"].as_array().unwrap().iter().any(|n| n["kind"] == "moderator_action" && n["question_id"] == q),
        "the asker is told: {inbox}"
    );

    // A closed question takes no votes and its votes stand.
    vote(app, &ann, q, json!({"reason": "unclear"})).assert_problem(409, "question_closed");
    retract(app, &ann, q).assert_problem(409, "question_closed");

    // Reopening clears them: closing again takes three fresh votes.
    app.call("POST", &format!("/api/v1/mod/questions/{q}/reopen"))
        .bearer(&s.moderator.access_token)
        .send()
        .assert_status(200);
    let reopened = standing(app, q);
    assert_eq!((reopened["count"].as_i64(), reopened["closed"].as_bool()), (Some(0), Some(false)));
    vote(app, &ann, q, json!({"reason": "unclear"})).assert_status(200);
    assert_eq!(standing(app, q)["count"], 1);
}

#[test]
fn who_may_vote_and_what_a_vote_must_say() {
    let s = scene();
    let app = &s.app;
    let q = s.question;
    let url = format!("/api/v1/questions/{q}/close-votes");
    let ann = voter(app, "ann");
    let low = app.register("low_rep");
    app.set_reputation(low.id, 499);
    app.call("PUT", &url).json(&json!({"reason": "unclear"})).send().assert_problem(401, "unauthorized");
    vote(app, &low, q, json!({"reason": "unclear"})).assert_problem(403, "insufficient_privilege");
    retract(app, &low, q).assert_status(200);
    for (body, field) in [
        (json!({"reason": "boring"}), "reason"),
        (json!({}), "reason"),
        (json!({"reason": "duplicate"}), "duplicate_of"),
        (json!({"reason": "off_topic", "duplicate_of": q + 1}), "duplicate_of"),
        (json!({"reason": "duplicate", "duplicate_of": q}), "duplicate_of"),
        (json!({"reason": "duplicate", "duplicate_of": 987654}), "duplicate_of"),
        (json!({"reason": "duplicate", "duplicate_of": null}), "duplicate_of"),
        (json!({"reason": "unclear", "extra": 1}), "extra"),
    ] {
        let problem = vote(app, &ann, q, body.clone()).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    app.call("PUT", &url)
        .raw("application/json", "{\"reason\": ")
        .bearer(&ann.access_token)
        .send()
        .assert_problem(400, "malformed_json");
    vote(app, &ann, 987654, json!({"reason": "unclear"})).assert_problem(404, "not_found");
    app.get("/api/v1/questions/987654/close-votes").send().assert_problem(404, "not_found");
    assert_eq!(standing(app, q)["count"], 0, "no refused vote was counted");

    // A locked question takes no votes; a hidden one is not found.
    app.call("POST", &format!("/api/v1/mod/questions/{q}/lock"))
        .bearer(&s.moderator.access_token)
        .send()
        .assert_status(200);
    vote(app, &ann, q, json!({"reason": "unclear"})).assert_problem(409, "question_locked");
    let hidden = app.ask(&s.asker, "waste", "A question a moderator will hide", &[])["id"].as_i64().unwrap();
    app.call("POST", &format!("/api/v1/mod/posts/question/{hidden}/hide"))
        .bearer(&s.moderator.access_token)
        .send()
        .assert_status(204);
    vote(app, &ann, hidden, json!({"reason": "unclear"})).assert_problem(404, "not_found");
}

#[test]
fn a_moderator_closes_alone_and_the_number_needed_is_a_setting() {
    let s = scene();
    let app = &s.app;
    let q = s.question;
    let ann = voter(app, "ann");
    vote(app, &ann, q, json!({"reason": "unclear"})).assert_status(200);
    let closing = vote(app, &s.moderator, q, json!({"reason": "case_specific"})).assert_status(200).json();
    assert_eq!((closing["count"].as_i64(), closing["closed"].as_bool()), (Some(2), Some(true)));
    assert_eq!(app.question(q)["closed"]["reason"], "case_specific");
    let entry = &audit(app, &s.moderator, "action=close")[0];
    assert_eq!(entry["actor_id"].as_i64(), Some(s.moderator.id));

    app.change_settings(&s.admin, |settings| settings["moderation"]["close_votes"] = json!(1));
    let other = app.ask(&s.asker, "waste", "Is the tip open on bank holidays?", &[])["id"].as_i64().unwrap();
    let closed = vote(app, &ann, other, json!({"reason": "off_topic"})).assert_status(200).json();
    assert_eq!((closed["needed"].as_i64(), closed["closed"].as_bool()), (Some(1), Some(true)));
    assert_eq!(app.question(other)["closed"]["reason"], "off_topic");
    let mut refused = app.get("/api/v1/admin/settings").bearer(&s.admin.access_token).send().json();
    refused["moderation"]["close_votes"] = json!(0);
    app.call("PUT", "/api/v1/admin/settings")
        .json(&refused)
        .bearer(&s.admin.access_token)
        .send()
        .assert_problem(422, "validation_failed");
}

/// Votes arriving together are counted one after the other: the question
/// closes once, by the vote that reached the number.
#[test]
fn simultaneous_votes_close_a_question_once() {
    let s = scene();
    let app = &s.app;
    let q = s.question;
    let voters: Vec<TestUser> = (0..5).map(|i| voter(app, &format!("voter{i}"))).collect();
    std::thread::scope(|scope| {
        for user in &voters {
            scope.spawn(move || {
                let response = vote(app, user, q, json!({"reason": "off_topic"}));
                assert!(matches!(response.status, 200 | 409), "{}: {}", response.status, response.text);
            });
        }
    });
    let closes = audit(app, &s.moderator, "action=close");
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert_eq!(closes[0]["after"]["close_voters"].as_array().unwrap().len(), 3);
    assert_eq!(standing(app, q)["count"], 3);
}
