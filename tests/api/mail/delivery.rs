//! Delivery when things go wrong: the SMTP server down or refusing, the
//! process killed with mail queued, two nodes on one database; and the
//! `.eml` files written when no SMTP server is configured.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::smtp::{Received, SmtpSink};
use super::{address, mail_settings, spawn_mail_app, wait_until_idle};
use crate::helpers::{PASSWORD, TestDatabase, postgres_admin_url, spawn_app, spawn_node};
use crate::process::Node;

/// Every mail exactly once: one per address, no Message-ID twice.
#[track_caller]
fn assert_each_once(mails: &[Received], addresses: &[String]) {
    let mut per_address: HashMap<&str, usize> = HashMap::new();
    for mail in mails {
        for to in &mail.to {
            *per_address.entry(to.as_str()).or_default() += 1;
        }
    }
    for a in addresses {
        assert_eq!(per_address.get(a.as_str()), Some(&1), "{a}: {per_address:?}");
    }
    let mut ids: Vec<String> = mails.iter().filter_map(|m| m.header("Message-ID")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), mails.len(), "a Message-ID was sent twice");
}

#[test]
fn with_the_smtp_server_down_for_a_while_every_mail_arrives_once() {
    let port = SmtpSink::reserve_port();
    let app = spawn_app_with_smtp(&format!("smtp://127.0.0.1:{port}"));
    let names: Vec<String> = (0..5).map(|i| format!("patient{i}")).collect();
    for name in &names {
        app.register(name);
    }
    // Each mail is tried and fails (connection refused), more than once.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let attempts: Vec<i32> = app.with_conn(|conn| {
            use agora::store::schema::mail_outbox;
            use diesel::prelude::*;
            mail_outbox::table.select(mail_outbox::attempts).load(conn).unwrap()
        });
        if attempts.len() == 5 && attempts.iter().all(|&a| a >= 2) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not every mail was tried twice: {attempts:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let metrics = app.get("/metrics").send().assert_status(200).text.clone();
    assert!(metrics.contains("agora_mail_queued 5"), "{metrics}");
    assert!(!metrics.contains("agora_mail_oldest_queued_seconds 0\n"), "{metrics}");

    let sink = SmtpSink::start_on(port);
    sink.set_failing(true);
    std::thread::sleep(Duration::from_millis(400));
    assert!(sink.mails().is_empty(), "refused with 451 meanwhile");
    sink.set_failing(false);
    let addresses: Vec<String> = names.iter().map(|n| address(n)).collect();
    sink.wait_for_total(5, Duration::from_secs(30));
    wait_until_idle(&app);
    std::thread::sleep(Duration::from_millis(200));
    assert_each_once(&sink.mails(), &addresses);
    let metrics = app.get("/metrics").send().assert_status(200).text.clone();
    assert!(metrics.contains("agora_mail_queued 0") && metrics.contains("agora_mail_sent_total 5"), "{metrics}");
}

fn spawn_app_with_smtp(url: &str) -> crate::helpers::TestApp {
    let url = url.to_owned();
    crate::helpers::spawn_app_with(move |s| mail_settings(s, &url))
}

#[test]
fn a_permanent_refusal_marks_the_address_undeliverable_until_it_changes() {
    let sink = SmtpSink::start();
    sink.refuse(&address("bouncer"));
    let app = spawn_mail_app(&sink);
    let user = app.register("bouncer");
    wait_until_idle(&app);
    let (status, attempts, undeliverable) = app.with_conn(|conn| {
        use agora::store::schema::{mail_outbox, users};
        use diesel::prelude::*;
        let (status, attempts): (String, i32) =
            mail_outbox::table.select((mail_outbox::status, mail_outbox::attempts)).first(conn).unwrap();
        let undeliverable: Option<chrono::NaiveDateTime> =
            users::table.find(user.id).select(users::email_undeliverable_at).first(conn).unwrap();
        (status, attempts, undeliverable)
    });
    assert_eq!((status.as_str(), attempts), ("failed", 1), "no retry after a 5xx");
    assert!(undeliverable.is_some());

    let body = json!({"email": "bouncer.fixed@example.org", "password": PASSWORD});
    app.call("PUT", "/api/v1/me/email").json(&body).bearer(&user.access_token).send().assert_status(200);
    sink.wait_for("bouncer.fixed@example.org", 1);
}

#[test]
fn without_an_smtp_server_each_mail_is_an_eml_file_in_the_data_dir() {
    let app = spawn_app();
    app.register("newcomer");
    let dir = app.state.ctx.config.data_dir.join("mail");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let file = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
            entries.flatten().map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "eml"))
        });
        if let Some(file) = found {
            break file;
        }
        assert!(std::time::Instant::now() < deadline, "no .eml file in {}", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(file.file_name().unwrap().to_string_lossy().ends_with("-verify_email.eml"));
    assert!(text.contains("To: newcomer <newcomer@example.org>"), "{text}");
    assert!(text.contains("Subject: Confirm your email address"));
}

#[test]
fn mail_queued_when_the_process_is_killed_is_sent_after_the_restart() {
    let (db, _) = TestDatabase::create();
    let port = SmtpSink::reserve_port();
    let smtp = format!("smtp://127.0.0.1:{port}");
    let data_dir = db.scratch_dir().join("node");
    // A sender that looks for mail only every ten minutes: what is enqueued
    // stays queued until the kill.
    let node = Node::start(&db, &data_dir, &[("AGORA_SMTP_URL", &smtp), ("AGORA_MAIL_POLL_MS", "600000")]);
    for name in ["killed0", "killed1", "killed2"] {
        let body = json!({"username": name, "email": address(name), "password": PASSWORD});
        let (status, _) = node.call("POST", "/api/v1/auth/register", Some(&body), None);
        assert_eq!(status, 201);
    }
    node.kill();

    let sink = SmtpSink::start_on(port);
    let node = Node::start(&db, &data_dir, &[("AGORA_SMTP_URL", &smtp), ("AGORA_MAIL_POLL_MS", "20")]);
    let mails = sink.wait_for_total(3, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    assert_each_once(&sink.mails(), &["killed0", "killed1", "killed2"].map(address));
    assert_eq!(mails.len(), 3);
    drop(node);
}

#[test]
fn two_nodes_on_postgresql_send_each_mail_once() {
    if postgres_admin_url().is_none() {
        eprintln!("NOTICE: AGORA_TEST_DATABASE_URL not set; the two-node mail test runs on PostgreSQL only");
        return;
    }
    let sink = SmtpSink::start();
    let a = spawn_mail_app(&sink);
    let url = sink.url();
    let b = spawn_node(&a.db, a.db.scratch_dir().join("node-b"), move |s| mail_settings(s, &url));
    let names: Vec<String> = (0..30).map(|i| format!("twin{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        node.register(name);
    }
    sink.wait_for_total(30, Duration::from_secs(30));
    wait_until_idle(&a);
    std::thread::sleep(Duration::from_millis(300));
    let addresses: Vec<String> = names.iter().map(|n| address(n)).collect();
    assert_each_once(&sink.mails(), &addresses);
}
