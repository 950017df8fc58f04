//! Account mail: verification on registration and on a change of address,
//! password reset, and the bad input around them.

use std::time::{Duration, Instant};

use serde_json::json;

use super::smtp::SmtpSink;
use super::{address, spawn_mail_app, wait_until_idle};
use crate::helpers::PASSWORD;

#[test]
fn registration_mails_a_link_that_verifies_the_address() {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    let user = app.register("verity");
    let me = app.get("/api/v1/me").bearer(&user.access_token).send().assert_status(200).json();
    assert_eq!(me["email_verified"], false);

    let mail = sink.wait_for(&address("verity"), 1).remove(0);
    assert!(mail.header("Message-ID").is_some_and(|id| id.starts_with("<mail-") && id.ends_with("@127.0.0.1>")));
    assert!(mail.text.contains("Content-Type: text/plain") && mail.text.contains("Content-Type: text/html"));
    assert!(mail.header("List-Unsubscribe").is_none(), "account mail is not a list");
    let token = mail.token_after("http://127.0.0.1:8080/account/verify?token=").expect("the link");
    app.post("/api/v1/auth/verify-email", &json!({"token": token})).send().assert_status(204);

    let me = app.get("/api/v1/me").bearer(&user.access_token).send().assert_status(200).json();
    assert_eq!(me["email_verified"], true);
    // Single use.
    app.post("/api/v1/auth/verify-email", &json!({"token": token})).send().assert_problem(400, "invalid_token");
}

#[test]
fn a_new_address_needs_verifying_again_and_the_old_link_stops_working() {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    let user = app.register("mover");
    let first = sink.wait_for(&address("mover"), 1).remove(0).token_after("/account/verify").unwrap();

    let body = json!({"email": "mover.new@example.org", "password": PASSWORD});
    let me =
        app.call("PUT", "/api/v1/me/email").json(&body).bearer(&user.access_token).send().assert_status(200).json();
    assert_eq!((me["email"].as_str(), me["email_verified"].as_bool()), (Some("mover.new@example.org"), Some(false)));
    app.post("/api/v1/auth/verify-email", &json!({"token": first})).send().assert_problem(400, "invalid_token");

    let second = sink.wait_for("mover.new@example.org", 1).remove(0).token_after("/account/verify").unwrap();
    app.post("/api/v1/auth/verify-email", &json!({"token": second})).send().assert_status(204);
    let me = app.get("/api/v1/me").bearer(&user.access_token).send().json();
    assert_eq!(me["email_verified"], true);

    // A wrong password, a taken address, a malformed one.
    let wrong = json!({"email": "x@example.org", "password": "not the password"});
    app.call("PUT", "/api/v1/me/email")
        .json(&wrong)
        .bearer(&user.access_token)
        .send()
        .assert_problem(403, "wrong_password");
    app.register("sitter");
    let taken = json!({"email": "sitter@example.org", "password": PASSWORD});
    app.call("PUT", "/api/v1/me/email")
        .json(&taken)
        .bearer(&user.access_token)
        .send()
        .assert_problem(409, "email_taken");
    for bad in ["no-at-sign", "a@b@example.org", "two words@example.org", "x@example.org\r\nBcc: v@example.org"] {
        let body = json!({"email": bad, "password": PASSWORD});
        app.call("PUT", "/api/v1/me/email")
            .json(&body)
            .bearer(&user.access_token)
            .send()
            .assert_problem(422, "validation_failed");
    }
}

#[test]
fn resend_mails_a_fresh_link_and_nothing_once_verified() {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    let user = app.register("again");
    let first = sink.wait_for(&address("again"), 1).remove(0).token_after("/account/verify").unwrap();
    app.call("POST", "/api/v1/me/verify-email/resend").bearer(&user.access_token).send().assert_status(202);
    let second = sink.wait_for(&address("again"), 2).remove(1).token_after("/account/verify").unwrap();
    assert_ne!(first, second);
    app.post("/api/v1/auth/verify-email", &json!({"token": first})).send().assert_problem(400, "invalid_token");
    app.post("/api/v1/auth/verify-email", &json!({"token": second})).send().assert_status(204);

    app.call("POST", "/api/v1/me/verify-email/resend").bearer(&user.access_token).send().assert_status(202);
    wait_until_idle(&app);
    assert_eq!(sink.mails_to(&address("again")).len(), 2);
}

#[test]
fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    let user = app.register("forgetful");
    sink.wait_for(&address("forgetful"), 1);

    app.post("/api/v1/auth/password-reset", &json!({"email": "Forgetful@Example.org"})).send().assert_status(202);
    let mail = sink.wait_for(&address("forgetful"), 2).remove(1);
    assert!(mail.header("Subject").unwrap().contains("Reset"));
    let token = mail.token_after("http://127.0.0.1:8080/account/reset?token=").expect("the link");

    let new_password = "a brand new passphrase";
    app.post("/api/v1/auth/password-reset/confirm", &json!({"token": token, "new_password": "short"}))
        .send()
        .assert_problem(422, "validation_failed");
    app.post("/api/v1/auth/password-reset/confirm", &json!({"token": token, "new_password": new_password}))
        .send()
        .assert_status(204);
    // Every session ended: the access token and the refresh token.
    app.get("/api/v1/me").bearer(&user.access_token).send().assert_status(401);
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh_token})).send().assert_status(401);
    app.login("forgetful", PASSWORD).assert_status(401);
    let session = app.login("forgetful", new_password).assert_status(200).json();
    assert_eq!(session["user"]["email_verified"], true, "following the link proved the address");
    // Single use.
    app.post("/api/v1/auth/password-reset/confirm", &json!({"token": token, "new_password": "yet another passphrase"}))
        .send()
        .assert_problem(400, "invalid_token");
}

#[test]
fn a_reset_link_expires_after_an_hour() {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    app.register("slowpoke");
    app.post("/api/v1/auth/password-reset", &json!({"email": address("slowpoke")})).send().assert_status(202);
    let token = sink.wait_for(&address("slowpoke"), 2).remove(1).token_after("/account/reset").unwrap();
    app.clock.advance(chrono::Duration::minutes(61));
    app.post("/api/v1/auth/password-reset/confirm", &json!({"token": token, "new_password": "a brand new passphrase"}))
        .send()
        .assert_problem(400, "invalid_token");
    for bad in ["", "made-up-token"] {
        let status = app
            .post(
                "/api/v1/auth/password-reset/confirm",
                &json!({"token": bad, "new_password": "a brand new passphrase"}),
            )
            .send()
            .status;
        assert!(status == 400 || status == 422, "{bad}: {status}");
    }
    app.login("slowpoke", PASSWORD).assert_status(200);
}

#[test]
fn a_reset_request_tells_nothing_of_which_addresses_exist() {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    for name in ["known1", "known2", "known3"] {
        app.register(name);
    }
    sink.wait_for_total(3, Duration::from_secs(20));
    let time = |email: String| {
        let started = Instant::now();
        let response = app.post("/api/v1/auth/password-reset", &json!({"email": email})).send();
        (response.status, response.text, started.elapsed())
    };
    let known: Vec<_> = ["known1", "known2", "known3"].iter().map(|n| time(address(n))).collect();
    let unknown: Vec<_> = ["ghost1", "ghost2", "ghost3"].iter().map(|n| time(address(n))).collect();
    for (status, text, _) in known.iter().chain(&unknown) {
        assert_eq!((*status, text.as_str()), (202, ""));
    }
    // Roughly the same time: the same work is done either way.
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[1]
    };
    let known_time = median(known.iter().map(|r| r.2).collect());
    let unknown_time = median(unknown.iter().map(|r| r.2).collect());
    let (fast, slow) = if known_time < unknown_time { (known_time, unknown_time) } else { (unknown_time, known_time) };
    assert!(slow < fast * 4 + Duration::from_millis(30), "known {known_time:?} vs unknown {unknown_time:?}");

    wait_until_idle(&app);
    assert_eq!(sink.mails().len(), 6, "three verifications and three resets, none for the ghosts");
    assert!(sink.mails_to(&address("ghost1")).is_empty());
}

#[test]
fn reset_requests_are_limited_per_address_whether_or_not_it_exists() {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    app.register("popular");
    for email in [address("popular"), address("nobody")] {
        for _ in 0..3 {
            app.post("/api/v1/auth/password-reset", &json!({"email": email})).send().assert_status(202);
        }
        let response = app.post("/api/v1/auth/password-reset", &json!({"email": email})).send();
        response.assert_problem(429, "rate_limited");
        assert!(response.header("retry-after").is_some());
    }
}

#[test]
fn malformed_addresses_and_header_injection_are_refused_and_nothing_is_sent() {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    for bad in ["plainaddress", "a@b", "x@example.org\r\nBcc: victim@example.org", "<x>@example.org", "x@exa mple.org"]
    {
        let body = json!({"username": "injector", "email": bad, "password": PASSWORD});
        app.post("/api/v1/auth/register", &body).send().assert_problem(422, "validation_failed");
        app.post("/api/v1/auth/password-reset", &json!({"email": bad})).send().assert_problem(422, "validation_failed");
    }
    let body = json!({"username": "injector", "email": "inj@example.org", "password": PASSWORD,
        "display_name": "Eve\r\nBcc: victim@example.org"});
    app.post("/api/v1/auth/register", &body).send().assert_problem(422, "validation_failed");
    let user = app.register("plain");
    app.patch("/api/v1/me", &json!({"display_name": "Eve\r\nBcc: victim@example.org"}))
        .bearer(&user.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    wait_until_idle(&app);
    assert_eq!(sink.mails().len(), 1, "only plain's verification: {:?}", super::subjects(&sink.mails()));
    assert!(sink.mails_to("victim@example.org").is_empty());
}
