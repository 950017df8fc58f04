//! Every event type reaches an endpoint subscribed to it, signed, with the
//! documented data and nothing personal; an endpoint hears only of what it
//! subscribed to.

use std::collections::BTreeSet;

use agora::domain::Role;
use serde_json::{Value, json};

use super::receiver::{Receiver, Request, verify};
use super::{ALL_EVENTS, create_endpoint, deliveries, is_message_id, is_timestamp, scene, send_test};
use super::{wait_until, wait_until_idle};

/// Waits for the first request of `event_type` whose `data` satisfies
/// `matches`; returns it with its body.
#[track_caller]
fn event(receiver: &Receiver, event_type: &str, matches: impl Fn(&Value) -> bool) -> (Request, Value) {
    wait_until(&format!("a {event_type} delivery"), || {
        let requests = receiver.requests();
        requests
            .iter()
            .find_map(|r| {
                let body = r.json();
                (body["type"] == event_type && matches(&body["data"])).then(|| (r.clone(), body))
            })
            .ok_or_else(|| format!("{:#?}", requests.iter().map(Request::summary).collect::<Vec<_>>()))
    })
}

#[test]
fn every_event_type_is_delivered_signed_with_ids_and_nothing_personal() {
    let s = scene();
    let (app, admin) = (&s.app, &s.admin);
    let everything = Receiver::start();
    let answers_only = Receiver::start();
    let all = create_endpoint(app, admin, &everything.url(), &ALL_EVENTS);
    let answers = create_endpoint(app, admin, &answers_only.url(), &["answer.created"]);
    assert_ne!(all.secret, answers.secret);

    let asker = app.register("asker");
    let helper = app.register("helper");
    let second = app.register("second");
    let troll = app.register("troll");
    let flagger = app.register("flagger");
    app.set_reputation(flagger.id, 100);
    let staff = app.user_with_roles("staff_sue", &[Role::Staff]);
    let moderator = app.user_with_roles("mod_mia", &[Role::Moderator]);

    let title = "Why was my recycling box left behind?";
    let question = app.ask(&asker, "waste", title, &[])["id"].as_i64().unwrap();
    let accepted = app.answer(&helper, question, "Report it online and the crew comes back within two days.")["id"]
        .as_i64()
        .unwrap();
    let verified =
        app.answer(&second, question, "Ring the waste team: they collect missed boxes.")["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/questions/{question}/accept"), &json!({"answer_id": accepted}))
        .bearer(&asker.access_token)
        .send()
        .assert_status(200);
    app.call("POST", &format!("/api/v1/answers/{verified}/verify"))
        .bearer(&staff.access_token)
        .send()
        .assert_status(200);
    let flag_body = json!({"target_type": "question", "target_id": question, "reason": "spam"});
    let flag_response = app.post("/api/v1/flags", &flag_body).bearer(&flagger.access_token).send();
    let flag = flag_response.assert_status(201).json()["id"].as_i64().unwrap();
    let hidden = app.ask(&asker, "waste", "Can I leave a sofa out with the bins?", &[])["id"].as_i64().unwrap();
    app.call("POST", &format!("/api/v1/mod/posts/question/{hidden}/hide"))
        .bearer(&moderator.access_token)
        .send()
        .assert_status(204);
    let until = (app.clock.now_utc() + chrono::Duration::days(7)).to_rfc3339();
    app.post(&format!("/api/v1/mod/users/{}/suspend", troll.id), &json!({"until": until, "reason": "spam"}))
        .bearer(&moderator.access_token)
        .send()
        .assert_status(204);
    let ping = send_test(app, admin, all.id);

    // The data of each, with the ids of what happened.
    let (_, created) = event(&everything, "question.created", |d| d["question"]["id"] == question);
    let q = &created["data"]["question"];
    assert_eq!(q["title"], title, "{created}");
    assert_eq!(q["category"], "waste", "{created}");
    assert_eq!((q["author"]["id"].as_i64(), q["author"]["username"].as_str()), (Some(asker.id), Some("asker")));
    assert!(q["url"].as_str().is_some_and(|u| u.contains(&format!("/questions/{question}"))), "{created}");
    assert!(q["state"].is_string() && is_timestamp(&q["created_at"]), "{created}");

    let (_, answered) = event(&everything, "answer.created", |d| d["answer"]["id"] == accepted);
    assert_eq!(answered["data"]["question"]["id"], question, "{answered}");
    assert_eq!(answered["data"]["answer"]["author"]["id"], helper.id, "{answered}");
    assert_eq!(answered["data"]["answer"]["author"]["username"], "helper", "{answered}");
    assert!(answered["data"]["answer"]["url"].is_string(), "{answered}");
    assert!(is_timestamp(&answered["data"]["answer"]["created_at"]), "{answered}");

    let (_, solved) = event(&everything, "question.solved", |d| d["answer"]["id"] == accepted);
    assert_eq!(solved["data"]["question"]["id"], question, "{solved}");

    let (_, checked) = event(&everything, "answer.verified", |d| d["answer"]["id"] == verified);
    assert_eq!(checked["data"]["question"]["id"], question, "{checked}");
    assert_eq!(checked["data"]["verified_by"], json!({"id": staff.id, "username": "staff_sue"}), "{checked}");

    let (_, flagged) = event(&everything, "flag.created", |d| d["flag"]["id"] == flag);
    assert_eq!(flagged["data"]["flag"]["reason"], "spam", "{flagged}");
    assert_eq!(flagged["data"]["post"], json!({"type": "question", "id": question, "question_id": question}));

    let (_, hid) = event(&everything, "post.hidden", |d| d["post"]["id"] == hidden);
    assert_eq!(hid["data"]["post"], json!({"type": "question", "id": hidden, "question_id": hidden}), "{hid}");

    let (_, suspended) = event(&everything, "user.suspended", |d| d["user"]["id"] == troll.id);
    assert_eq!(suspended["data"]["user"]["username"], "troll", "{suspended}");
    assert!(is_timestamp(&suspended["data"]["until"]), "{suspended}");

    let (ping_request, pinged) = event(&everything, "ping", |d| d["endpoint_id"] == all.id);
    assert_eq!(pinged["data"], json!({"endpoint_id": all.id, "message": "ping"}));
    assert_eq!(ping_request.webhook_id(), ping["message_id"].as_str().unwrap());

    wait_until_idle(app, admin, all.id);
    wait_until_idle(app, admin, answers.id);

    // Every request: signed, well formed, small, nothing personal.
    let requests = everything.requests();
    let mut ids = BTreeSet::new();
    for request in &requests {
        let what = request.summary();
        verify(request, &all.secret).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(verify(request, &answers.secret).is_err(), "{what}: verified with another endpoint's secret");
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/hook"));
        assert!(request.header("content-type").is_some_and(|t| t.starts_with("application/json")), "{what}");
        assert_eq!(request.header("user-agent"), Some("Agora-Webhooks/1"), "{what}");
        assert!(is_message_id(request.webhook_id()), "{what}");
        assert!(ids.insert(request.webhook_id().to_owned()), "{what}: a webhook-id twice (every answer was 200)");
        let body = request.json();
        let keys: BTreeSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["data", "timestamp", "type"]), "{what}");
        assert!(body["data"].is_object() && is_timestamp(&body["timestamp"]), "{what}: {body}");
        let text = request.text();
        assert!(request.body.len() < 20_000, "{what}: {} bytes", request.body.len());
        assert!(!text.contains("@example.org"), "{what}: an email address in {text}");
        for body_text in ["some more detail", "Report it online", "Ring the waste team"] {
            assert!(!text.contains(body_text), "{what}: a post's body in {text}");
        }
    }
    let seen: BTreeSet<String> = requests.iter().map(Request::event_type).collect();
    let expected = [
        "question.created",
        "answer.created",
        "question.solved",
        "answer.verified",
        "flag.created",
        "post.hidden",
        "user.suspended",
        "ping",
    ];
    assert_eq!(seen, expected.iter().map(|t| t.to_string()).collect::<BTreeSet<_>>());

    // The delivery log agrees: each request is a delivery that succeeded;
    // the only other outcome is the hidden question's creation, not sent.
    let log = deliveries(app, admin, all.id, "");
    let logged: BTreeSet<String> = log.iter().filter_map(|d| d["message_id"].as_str().map(str::to_owned)).collect();
    assert!(ids.is_subset(&logged), "{ids:?} not all in {logged:?}");
    for d in &log {
        match d["status"].as_str() {
            Some("succeeded") => assert_eq!(d["response_status"], 200, "{d}"),
            Some("abandoned") => {
                assert_eq!(d["event_type"], "question.created", "{d}");
                assert!(d["last_error"].as_str().is_some_and(|e| e.starts_with("not sent")), "{d}");
            }
            _ => panic!("unexpected delivery {d}"),
        }
    }

    // The endpoint subscribed to answers heard of the two answers only.
    let answer_requests = answers_only.requests();
    let types: Vec<String> = answer_requests.iter().map(Request::event_type).collect();
    assert_eq!(types, ["answer.created", "answer.created"], "{types:?}");
    let answer_ids: BTreeSet<i64> =
        answer_requests.iter().filter_map(|r| r.json()["data"]["answer"]["id"].as_i64()).collect();
    assert_eq!(answer_ids, BTreeSet::from([accepted, verified]));
    for request in &answer_requests {
        verify(request, &answers.secret).unwrap_or_else(|e| panic!("{}: {e}", request.summary()));
    }
}
