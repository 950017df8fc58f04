//! Digests: what they say, once per period, nothing when nothing is new.

use serde_json::json;

use super::smtp::SmtpSink;
use super::{address, spawn_mail_app, verified_user, wait_until_idle};
use crate::helpers::{PASSWORD, TestApp, TestUser};

/// A fresh login after the clock moved past the access token's life.
fn relogin(app: &TestApp, username: &str) -> TestUser {
    TestUser::from_session(&app.login(username, PASSWORD).assert_status(200).json())
}

fn run_digests(app: &TestApp) -> usize {
    let mut conn = app.conn();
    agora::service::mail::digest::run(&mut conn, &app.state.ctx).expect("digest pass")
}

#[test]
fn a_daily_digest_tells_what_is_new_once_a_day_and_nothing_when_nothing_is() {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    let admin = app.admin();
    app.create_category(&admin, "parking");
    app.create_category(&admin, "waste");
    let asker = verified_user(&app, &sink, "asker");
    let reader = verified_user(&app, &sink, "reader");
    let helper = verified_user(&app, &sink, "helper");
    app.call("PUT", "/api/v1/me/notification-settings")
        .json(&json!({"email": {}, "digest": "daily"}))
        .bearer(&reader.access_token)
        .send()
        .assert_status(200);
    let q = app.ask(&asker, "parking", "How do I get a resident parking permit?", &[])["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/questions/{q}/follow"), &json!({}))
        .bearer(&reader.access_token)
        .send()
        .assert_status(204);
    app.answer(&helper, q, "Apply online with proof of address; it takes five days.");
    app.ask(&asker, "parking", "Can visitors park in bays overnight?", &[]);
    app.ask(&asker, "waste", "When is the garden waste round?", &[]);
    wait_until_idle(&app);
    assert_eq!(sink.mails_to(&address("reader")).len(), 1, "followed activity waits for the digest");

    assert!(run_digests(&app) >= 1);
    let digest = sink.wait_for(&address("reader"), 2).remove(1);
    assert_eq!(digest.header("Subject").unwrap(), "Your digest: 2 new items");
    assert!(digest.text.contains("New answer on \"How do I get a resident parking permit?\""));
    assert!(digest.text.contains("Apply online with proof of address"));
    assert!(digest.text.contains("Can visitors park in bays overnight?"), "unanswered in a followed category");
    assert!(!digest.text.contains("garden waste"), "not a followed category");
    assert!(digest.header("List-Unsubscribe").is_some());
    assert_eq!(digest.header("List-Unsubscribe-Post").unwrap(), "List-Unsubscribe=One-Click");

    // Once per period.
    assert_eq!(run_digests(&app), 0);
    // A day later with nothing new: no mail.
    app.clock.advance(chrono::Duration::days(1));
    assert_eq!(run_digests(&app), 0);
    // Something new: the next day's digest tells only that.
    app.clock.advance(chrono::Duration::days(1));
    let asker = relogin(&app, "asker");
    app.ask(&asker, "parking", "Is there a permit for carers visiting daily?", &[]);
    app.clock.advance(chrono::Duration::minutes(1));
    run_digests(&app);
    let next = sink.wait_for(&address("reader"), 3).remove(2);
    assert_eq!(next.header("Subject").unwrap(), "Your digest: 1 new item");
    assert!(next.text.contains("carers") && !next.text.contains("overnight"));
    wait_until_idle(&app);
    assert_eq!(sink.mails_to(&address("reader")).len(), 3);
}

#[test]
fn digest_off_and_unsubscribe_from_the_digest_stop_it() {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    let admin = app.admin();
    app.create_category(&admin, "parking");
    let asker = verified_user(&app, &sink, "asker");
    let reader = verified_user(&app, &sink, "reader");
    let q = app.ask(&asker, "parking", "How do I get a resident parking permit?", &[])["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/questions/{q}/follow"), &json!({}))
        .bearer(&reader.access_token)
        .send()
        .assert_status(204);
    app.ask(&asker, "parking", "Can visitors park in bays overnight?", &[]);
    run_digests(&app);
    let digest = sink.wait_for(&address("reader"), 2).remove(1);
    let path = digest.header("List-Unsubscribe").unwrap().trim_matches(['<', '>']).replace("http://127.0.0.1:8080", "");
    app.call("POST", &path)
        .raw("application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
        .send()
        .assert_status(200);
    let settings = app.get("/api/v1/me/notification-settings").bearer(&reader.access_token).send().json();
    assert_eq!(settings["digest"], "off");

    app.clock.advance(chrono::Duration::days(8));
    let asker = relogin(&app, "asker");
    app.ask(&asker, "parking", "Is there a permit for carers visiting daily?", &[]);
    app.clock.advance(chrono::Duration::minutes(1));
    run_digests(&app);
    wait_until_idle(&app);
    assert_eq!(sink.mails_to(&address("reader")).len(), 2);
}

#[test]
fn a_digest_pass_goes_a_few_users_at_a_time_and_each_reader_gets_one_digest() {
    use agora::service::mail::digest;
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    let admin = app.admin();
    app.create_category(&admin, "parking");
    let asker = verified_user(&app, &sink, "asker");
    let helper = verified_user(&app, &sink, "helper");
    let q = app.ask(&asker, "parking", "How do I get a resident parking permit?", &[])["id"].as_i64().unwrap();
    let readers = ["reader1", "reader2", "reader3"];
    for name in readers {
        let reader = verified_user(&app, &sink, name);
        app.call("PUT", "/api/v1/me/notification-settings")
            .json(&json!({"email": {}, "digest": "daily"}))
            .bearer(&reader.access_token)
            .send()
            .assert_status(200);
        app.post(&format!("/api/v1/questions/{q}/follow"), &json!({}))
            .bearer(&reader.access_token)
            .send()
            .assert_status(204);
    }
    app.answer(&helper, q, "Apply online with proof of address; it takes five days.");
    wait_until_idle(&app);

    let mut conn = app.conn();
    let mut cursor = digest::Cursor::default();
    let (mut steps, mut enqueued) = (0, 0);
    loop {
        let step = digest::step(&mut conn, &app.state.ctx, &mut cursor, 2).expect("digest step");
        steps += 1;
        enqueued += step.enqueued;
        assert!(steps < 10, "the pass ends");
        if step.finished {
            break;
        }
    }
    // At least five users with an address (asker, helper, three readers),
    // two a step.
    assert!(steps >= 3, "{steps} steps");
    assert_eq!(enqueued, readers.len());
    assert_eq!(
        digest::step(&mut conn, &app.state.ctx, &mut cursor, 2).unwrap(),
        digest::Step { enqueued: 0, finished: true }
    );
    assert_eq!(run_digests(&app), 0, "everyone was looked at today");
    for name in readers {
        let mails = sink.wait_for(&address(name), 2);
        assert_eq!(mails[1].header("Subject").unwrap(), "Your digest: 1 new item");
    }
    wait_until_idle(&app);
    assert!(readers.iter().all(|name| sink.mails_to(&address(name)).len() == 2), "one digest each");
}
