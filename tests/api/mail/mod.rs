//! Mail, against a real SMTP server the tests start (`smtp.rs`): account
//! mail, notification mail and preferences, digests, and delivery when
//! things go wrong.

mod accounts;
mod delivery;
mod digests;
mod notifications;
mod pages;
pub mod smtp;

use serde_json::json;

use super::helpers::{TestApp, TestUser, spawn_app_with};
use smtp::{Received, SmtpSink};

/// An app that mails through `sink`, looking for due mail every 20 ms and
/// retrying after 100 ms (doubling); digests run only when a test says.
pub fn spawn_mail_app(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    spawn_app_with(move |s| mail_settings(s, &url))
}

pub fn mail_settings(settings: &mut agora::config::Settings, smtp_url: &str) {
    settings.mail.smtp_url = Some(smtp_url.to_owned());
    settings.mail.poll_ms = 20;
    settings.mail.retry_ms = 100;
    settings.mail.housekeeping_secs = Some(0);
}

pub fn address(username: &str) -> String {
    format!("{username}@example.org")
}

/// Registers a resident and follows the link of their verification mail.
#[track_caller]
pub fn verified_user(app: &TestApp, sink: &SmtpSink, username: &str) -> TestUser {
    let user = app.register(username);
    let mail = sink.wait_for(&address(username), 1).remove(0);
    let token = mail.token_after("/account/verify").expect("a verification link");
    app.post("/api/v1/auth/verify-email", &json!({"token": token})).send().assert_status(204);
    user
}

/// Waits until the outbox has nothing left to do.
#[track_caller]
pub fn wait_until_idle(app: &TestApp) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let waiting = app.with_conn(|conn| {
            let (counts, _) = agora::store::mail::counts(conn).unwrap();
            counts.iter().filter(|(s, _)| s == "pending" || s == "sending").map(|(_, n)| n).sum::<i64>()
        });
        if waiting == 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{waiting} mails still waiting");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The mails `address` received, as subjects.
pub fn subjects(mails: &[Received]) -> Vec<String> {
    mails.iter().map(|m| m.header("Subject").unwrap_or_default()).collect()
}
