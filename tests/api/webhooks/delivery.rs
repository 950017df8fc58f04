//! Sending: retries with the same webhook-id and the delivery log, the
//! metrics, redirects not followed, private addresses refused when
//! connecting, and an event about a post hidden before it was sent not
//! sent.

use std::time::Duration;

use agora::domain::Role;
use serde_json::{Value, json};

use super::receiver::{Receiver, verify};
use super::{PATIENCE, WEBHOOKS, create_endpoint, deliveries, get_endpoint, metric, scene, scene_with, send_test};
use super::{wait_for_delivery, wait_until, wait_until_idle};
use crate::helpers::spawn_app_with;

#[test]
fn a_receiver_failing_three_times_gets_the_same_webhook_id_four_times_and_the_log_shows_each_attempt() {
    let s = scene();
    let (app, admin) = (&s.app, &s.admin);
    let receiver = Receiver::start();
    receiver.answer_first(&[500, 500, 500]);
    let endpoint = create_endpoint(app, admin, &receiver.url(), &["question.created"]);
    let ping = send_test(app, admin, endpoint.id);
    let id = ping["id"].as_i64().unwrap();
    let message_id = ping["message_id"].as_str().unwrap().to_owned();
    assert!(super::is_message_id(&message_id), "{ping}");
    assert_eq!(ping["status"], "pending", "{ping}");

    let requests = receiver.wait_for(4, PATIENCE);
    assert_eq!(requests.iter().map(|r| r.status).collect::<Vec<_>>(), [500, 500, 500, 200]);
    for request in &requests {
        assert_eq!(request.webhook_id(), message_id, "the same webhook-id on every attempt");
        verify(request, &endpoint.secret).unwrap_or_else(|e| panic!("{}: {e}", request.summary()));
    }
    // Each retry waits its step of the schedule (100 ms).
    for pair in requests.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(90), "a retry after {gap:?}");
    }

    let detail = wait_for_delivery(app, admin, endpoint.id, id, "the ping to succeed", |d| d["status"] == "succeeded");
    assert_eq!(detail["attempts"], 4, "{detail}");
    assert_eq!(detail["response_status"], 200, "{detail}");
    assert_eq!(detail["message_id"], message_id.as_str(), "{detail}");
    assert!(detail["duration_ms"].as_u64().is_some(), "{detail}");
    let log = detail["attempts_log"].as_array().expect("attempts_log");
    let statuses: Vec<i64> = log.iter().map(|a| a["response_status"].as_i64().unwrap_or(0)).collect();
    assert_eq!(statuses, [500, 500, 500, 200], "{detail}");
    let succeeded: Vec<bool> = log.iter().map(|a| a["succeeded"].as_bool().unwrap()).collect();
    assert_eq!(succeeded, [false, false, false, true], "{detail}");
    let bodies: Vec<&str> = log.iter().map(|a| a["response_body"].as_str().unwrap_or_default()).collect();
    assert_eq!(bodies, ["status 500", "status 500", "status 500", "status 200"], "{detail}");
    for attempt in log {
        assert!(attempt["duration_ms"].as_u64().is_some(), "{attempt}");
        assert!(super::is_timestamp(&attempt["attempted_at"]), "{attempt}");
    }
    let times: Vec<&str> = log.iter().map(|a| a["attempted_at"].as_str().unwrap()).collect();
    let parsed: Vec<_> = times.iter().map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap()).collect();
    assert!(parsed.windows(2).all(|w| w[0] <= w[1]), "oldest first: {times:?}");

    // A success ends the run of failures; nothing more is sent.
    let shown = get_endpoint(app, admin, endpoint.id);
    assert!(shown["failing_since"].is_null() && shown["enabled"] == true, "{shown}");
    wait_until_idle(app, admin, endpoint.id);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(receiver.requests().len(), 4);
    let listed = deliveries(app, admin, endpoint.id, "status=succeeded");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0]["id"].as_i64(), listed[0]["attempts"].as_i64()), (Some(id), Some(4)));
    assert!(listed[0].get("attempts_log").is_none(), "the list has no attempts log: {}", listed[0]);

    // The metrics count outcomes and the queue, now empty.
    let metrics = wait_until("an empty webhook queue in /metrics", || {
        let text = app.get("/metrics").send().assert_status(200).text.clone();
        if metric(&text, "webhook_queue_length") == Some(0.0) { Ok(text) } else { Err(text) }
    });
    for name in ["webhook_deliveries_total", "webhook_queue_length", "webhook_oldest_pending_seconds"] {
        assert!(metrics.contains(name), "no {name} in {metrics}");
    }
    let succeeded_line = metrics
        .lines()
        .find(|l| l.contains("webhook_deliveries_total") && l.contains("outcome=\"succeeded\""))
        .unwrap_or_else(|| panic!("no succeeded outcome in {metrics}"));
    assert!(!succeeded_line.trim_end().ends_with(" 0"), "{succeeded_line}");
}

#[test]
fn redirects_are_not_followed() {
    let s = scene();
    let (app, admin) = (&s.app, &s.admin);
    let target = Receiver::start();
    let redirecting = Receiver::start();
    redirecting.answer(302);
    redirecting.add_header("Location", &target.url());
    let endpoint = create_endpoint(app, admin, &redirecting.url(), &["question.created"]);
    let ping = send_test(app, admin, endpoint.id);
    let id = ping["id"].as_i64().unwrap();

    // Each attempt fails on the 302; after the five retries of the
    // schedule the delivery is abandoned.
    let detail =
        wait_for_delivery(app, admin, endpoint.id, id, "the delivery to be abandoned", |d| d["status"] == "abandoned");
    assert_eq!(detail["response_status"], 302, "{detail}");
    assert_eq!(detail["attempts"], 6, "one attempt and five retries: {detail}");
    let log = detail["attempts_log"].as_array().unwrap();
    assert_eq!(log.len(), 6, "{detail}");
    assert!(log.iter().all(|a| a["response_status"] == 302 && a["succeeded"] == false), "{detail}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(redirecting.requests().len(), 6);
    assert!(target.requests().is_empty(), "the redirect was followed: {:?}", target.requests());
}

#[test]
fn an_event_about_a_post_hidden_before_it_is_sent_is_not_sent() {
    // Retries every 200 ms for ten seconds: the delivery keeps failing
    // (nothing listens) until the question is hidden. The receiver comes
    // up only once the delivery is abandoned: an attempt whose body was
    // built before the hiding may still be connecting after it, and, had
    // the receiver been listening, would rightly have been sent (this
    // test was flaky that way on a busy machine).
    let s = scene_with(|s| s.webhooks.retry_schedule_ms = vec![200; 50]);
    let (app, admin) = (&s.app, &s.admin);
    let port = Receiver::reserve_port();
    let endpoint = create_endpoint(app, admin, &Receiver::reserved_url(port), &["question.created"]);
    let asker = app.register("asker");
    let moderator = app.user_with_roles("mod_mia", &[Role::Moderator]);
    let question = app.ask(&asker, "waste", "Why was my recycling box left behind?", &[])["id"].as_i64().unwrap();
    app.call("POST", &format!("/api/v1/mod/posts/question/{question}/hide"))
        .bearer(&moderator.access_token)
        .send()
        .assert_status(204);
    // A delivery that ignored the hiding would go on failing to connect
    // and never be abandoned.
    let abandoned = wait_until("the question.created delivery to be abandoned", || {
        let log = deliveries(app, admin, endpoint.id, "");
        match log.iter().find(|d| d["status"] == "abandoned") {
            Some(d) => Ok(d.clone()),
            None => Err(Value::from(log).to_string()),
        }
    });
    assert_eq!(abandoned["event_type"], "question.created", "{abandoned}");
    assert!(abandoned["last_error"].as_str().is_some_and(|e| e.starts_with("not sent")), "{abandoned}");
    // ...and once abandoned it stays so: with a receiver up, three retry
    // periods later nothing has reached it.
    let receiver = Receiver::start_on(port);
    std::thread::sleep(Duration::from_millis(600));
    assert!(receiver.requests().is_empty(), "the hidden question was sent: {:?}", receiver.requests());

    // A question still visible is sent to the same receiver.
    let visible = app.ask(&asker, "waste", "When is the garden waste collected?", &[])["id"].as_i64().unwrap();
    receiver.wait_for(1, PATIENCE);
    wait_until_idle(app, admin, endpoint.id);
    std::thread::sleep(Duration::from_millis(300));
    let requests = receiver.requests();
    let questions: Vec<Option<i64>> = requests.iter().map(|r| r.json()["data"]["question"]["id"].as_i64()).collect();
    assert_eq!(questions, [Some(visible)], "the hidden question {question} was sent");
    verify(&requests[0], &endpoint.secret).unwrap();
}

#[test]
fn an_address_that_turns_private_after_the_check_is_refused_when_connecting() {
    // The default settings (no private addresses), with a fast sender.
    let app = spawn_app_with(|s| {
        s.webhooks.poll_ms = 20;
        s.webhooks.retry_schedule_ms = vec![100];
    });
    let admin = app.admin();
    let receiver = Receiver::start();
    let body = json!({"url": "https://93.184.215.14/hook", "events": ["question.escalated"]});
    let created = app.post(WEBHOOKS, &body).bearer(&admin.access_token).send().assert_status(201).json();
    let id = created["id"].as_i64().unwrap();
    // As when the endpoint's name comes to resolve to loopback (DNS
    // rebinding): the stored URL now leads to the receiver on 127.0.0.1.
    app.with_conn(|conn| {
        use agora::store::schema::webhook_endpoints;
        use diesel::prelude::*;
        diesel::update(webhook_endpoints::table.find(id))
            .set(webhook_endpoints::url.eq(receiver.url()))
            .execute(conn)
            .unwrap()
    });
    let ping = send_test(&app, &admin, id);
    let delivery_id = ping["id"].as_i64().unwrap();
    let detail =
        wait_for_delivery(&app, &admin, id, delivery_id, "the ping to be given up", |d| d["status"] == "abandoned");
    let log = detail["attempts_log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "one attempt and one retry: {detail}");
    for attempt in log {
        assert!(attempt["response_status"].is_null(), "{attempt}");
        assert!(attempt["error"].as_str().is_some_and(|e| e.contains("refused")), "{attempt}");
    }
    assert!(receiver.requests().is_empty(), "connected to a private address: {:?}", receiver.requests());
}
