//! An endpoint is disabled by a 410 Gone, or after failing for
//! `disable_after_secs` (3 days); every admin is told in the inbox and by
//! mail; `PATCH {"enabled": true}` starts it again.

use std::time::Duration;

use agora::domain::Role;
use serde_json::{Value, json};

use super::receiver::Receiver;
use super::{PATIENCE, create_endpoint, deliveries, get_endpoint, notification_kinds, path, relogin, scene};
use super::{scene_with, send_test, wait_for_delivery, wait_until};
use crate::helpers::{TestApp, TestUser};

/// Marks the admins' addresses verified: notification mail goes only to
/// verified addresses, and accounts made as `agora user create` makes them
/// have none.
fn verify_addresses(app: &TestApp, admins: &[&TestUser]) {
    use agora::store::schema::users;
    use diesel::prelude::*;
    for user in admins {
        app.with_conn(|conn| {
            diesel::update(users::table.find(user.id))
                .set(users::email_verified_at.eq(Some(app.clock.now())))
                .execute(conn)
                .unwrap()
        });
    }
}

/// Waits until the endpoint is disabled; returns it.
#[track_caller]
fn wait_until_disabled(app: &TestApp, admin: &TestUser, id: i64) -> Value {
    wait_until("the endpoint to be disabled", || {
        let shown = get_endpoint(app, admin, id);
        if shown["enabled"] == false { Ok(shown) } else { Err(shown.to_string()) }
    })
}

#[track_caller]
fn wait_for_notification(app: &TestApp, user: &TestUser, kind: &str) {
    wait_until(&format!("a {kind} notification"), || {
        let kinds = notification_kinds(app, user);
        if kinds.iter().any(|k| k == kind) { Ok(()) } else { Err(format!("{kinds:?}")) }
    });
}

#[test]
fn a_410_disables_the_endpoint_and_every_admin_is_told() {
    let s = scene();
    let (app, admin) = (&s.app, &s.admin);
    let other_admin = app.user_with_roles("admin_two", &[Role::Admin]);
    verify_addresses(app, &[admin, &other_admin]);
    let receiver = Receiver::start();
    receiver.answer(410);
    let endpoint = create_endpoint(app, admin, &receiver.url(), &["question.created"]);
    let asker = app.register("asker");
    let question = app.ask(&asker, "waste", "Why was my recycling box left behind?", &[])["id"].as_i64().unwrap();
    receiver.wait_for(1, PATIENCE);

    let shown = wait_until_disabled(app, admin, endpoint.id);
    assert!(shown["disabled_reason"].as_str().is_some_and(|r| r.contains("410")), "{shown}");
    let log = wait_until("the delivery to be abandoned", || {
        let log = deliveries(app, admin, endpoint.id, "");
        if log.iter().all(|d| d["status"] == "abandoned") { Ok(log) } else { Err(Value::from(log).to_string()) }
    });
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!((log[0]["response_status"].as_i64(), log[0]["attempts"].as_i64()), (Some(410), Some(1)), "{:?}", log[0]);
    let delivery_id = log[0]["id"].as_i64().unwrap();

    // A disabled endpoint is queued nothing, and refuses pings and
    // redeliveries.
    app.ask(&asker, "waste", "When is the garden waste collected?", &[]);
    app.call("POST", &format!("{}/test", path(endpoint.id)))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(409, "endpoint_disabled");
    app.call("POST", &format!("{}/deliveries/{delivery_id}/redeliver", path(endpoint.id)))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(409, "endpoint_disabled");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.requests().len(), 1, "{:?}", receiver.requests());
    assert_eq!(deliveries(app, admin, endpoint.id, "").len(), 1, "a delivery was queued for a disabled endpoint");
    assert_eq!(receiver.requests()[0].json()["data"]["question"]["id"], question);

    // Every admin is told: in the inbox, and by mail (.eml files here,
    // with no SMTP server configured).
    for user in [admin, &other_admin] {
        wait_for_notification(app, user, "webhook_disabled");
    }
    let inbox = app.get("/api/v1/me/notifications").bearer(&admin.access_token).send().json();
    let notice = inbox["items"].as_array().unwrap().iter().find(|n| n["kind"] == "webhook_disabled").unwrap().clone();
    assert!(notice["question_id"].is_null(), "{notice}");
    let dir = app.state.ctx.config.data_dir.join("mail");
    let mails = wait_until("a webhook_disabled mail to each admin", || {
        let texts: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.to_string_lossy().ends_with("-webhook_disabled.eml"))
                    .filter_map(|p| std::fs::read_to_string(p).ok())
                    .collect()
            })
            .unwrap_or_default();
        if texts.len() >= 2 { Ok(texts) } else { Err(format!("{} mails in {}", texts.len(), dir.display())) }
    });
    for address in ["admin_root@example.org", "admin_two@example.org"] {
        assert!(mails.iter().any(|m| m.contains(address)), "no mail to {address}");
    }

    // Switched on again, it is sent to (the receiver now answers 200).
    receiver.answer(200);
    let enabled = app
        .patch(&path(endpoint.id), &json!({"enabled": true}))
        .bearer(&admin.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!((enabled["enabled"].as_bool(), enabled["disabled_reason"].as_str()), (Some(true), None), "{enabled}");
    assert!(enabled["failing_since"].is_null(), "{enabled}");
    send_test(app, admin, endpoint.id);
    receiver.wait_for(2, PATIENCE);
}

#[test]
fn an_endpoint_failing_for_three_days_is_disabled() {
    // Retries every 200 ms for six seconds, so one is due after the clock
    // moves on.
    let s = scene_with(|s| s.webhooks.retry_schedule_ms = vec![200; 30]);
    let app = &s.app;
    let receiver = Receiver::start();
    receiver.answer(500);
    let endpoint = create_endpoint(app, &s.admin, &receiver.url(), &["question.created"]);
    let ping = send_test(app, &s.admin, endpoint.id);
    receiver.wait_for(1, PATIENCE);
    let failing = wait_until("failing_since to be set", || {
        let shown = get_endpoint(app, &s.admin, endpoint.id);
        if shown["failing_since"].is_string() { Ok(shown) } else { Err(shown.to_string()) }
    });
    assert_eq!(failing["enabled"], true, "a day of failures is not enough: {failing}");

    // Three days and an hour later (the app's clock; webhook-timestamp
    // follows it, so signatures are not checked from here on), the next
    // failure disables it.
    app.clock.advance(chrono::Duration::days(3) + chrono::Duration::hours(1));
    let admin = relogin(app, "admin_root");
    let shown = wait_until_disabled(app, &admin, endpoint.id);
    assert!(shown["disabled_reason"].as_str().is_some_and(|r| !r.is_empty()), "{shown}");
    wait_for_notification(app, &admin, "webhook_disabled");
    // Its waiting delivery is given up.
    let id = ping["id"].as_i64().unwrap();
    wait_for_delivery(app, &admin, endpoint.id, id, "the ping to be abandoned", |d| d["status"] == "abandoned");
    let count = receiver.requests().len();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.requests().len(), count, "sent to after it was disabled");

    // Enabling it clears the reason and the run of failures.
    let enabled = app
        .patch(&path(endpoint.id), &json!({"enabled": true}))
        .bearer(&admin.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!(enabled["enabled"], true, "{enabled}");
    assert!(enabled["disabled_reason"].is_null() && enabled["failing_since"].is_null(), "{enabled}");
}
