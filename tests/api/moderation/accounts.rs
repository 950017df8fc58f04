//! Moderating people: suspensions, role changes and rate limits.

use std::time::Duration;

use serde_json::json;

use super::{audit, scene};
use crate::helpers::{PASSWORD, TestUser, spawn_app_with};

#[test]
fn suspensions_end_sessions_and_are_bounded_by_role() {
    let s = scene();
    let app = &s.app;
    let until = (app.clock.now_utc() + chrono::Duration::days(7)).to_rfc3339();
    let body = json!({"until": until, "reason": "repeated abuse"});
    app.post(&format!("/api/v1/mod/users/{}/suspend", s.asker.id), &body)
        .bearer(&s.asker.access_token)
        .send()
        .assert_problem(403, "forbidden");
    app.post(&format!("/api/v1/mod/users/{}/suspend", s.admin.id), &body)
        .bearer(&s.moderator.access_token)
        .send()
        .assert_problem(403, "forbidden");
    app.post(&format!("/api/v1/mod/users/{}/suspend", s.moderator.id), &body)
        .bearer(&s.moderator.access_token)
        .send()
        .assert_problem(403, "forbidden");
    let past = json!({"until": "2020-01-01T00:00:00Z", "reason": "too late"});
    app.post(&format!("/api/v1/mod/users/{}/suspend", s.asker.id), &past)
        .bearer(&s.moderator.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.post(&format!("/api/v1/mod/users/{}/suspend", s.asker.id), &body)
        .bearer(&s.moderator.access_token)
        .send()
        .assert_status(204);

    app.get("/api/v1/me").bearer(&s.asker.access_token).send().assert_problem(401, "unauthorized");
    let login = app.login("asker", PASSWORD).assert_problem(403, "account_suspended");
    assert!(login["detail"].as_str().unwrap().contains(&until[..10]));
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": s.asker.refresh_token}))
        .send()
        .assert_problem(401, "unauthorized");
    let entry = &audit(app, &s.moderator, "action=suspend")[0];
    assert_eq!((entry["target_id"].as_i64(), entry["reason"].as_str()), (Some(s.asker.id), Some("repeated abuse")));

    app.call("POST", &format!("/api/v1/mod/users/{}/unsuspend", s.asker.id))
        .bearer(&s.moderator.access_token)
        .send()
        .assert_status(204);
    app.login("asker", PASSWORD).assert_status(200);
    let entry = &audit(app, &s.moderator, "action=unsuspend")[0];
    assert_eq!((entry["actor_id"].as_i64(), entry["target_type"].as_str()), (Some(s.moderator.id), Some("user")));
    assert_eq!(entry["target_id"], s.asker.id);
    assert!(entry["before"]["suspended_until"].as_str().unwrap().starts_with(&until[..10]), "{entry}");
    assert!(entry["after"]["suspended_until"].is_null(), "{entry}");
    app.call("POST", "/api/v1/mod/users/424242/unsuspend")
        .bearer(&s.moderator.access_token)
        .send()
        .assert_problem(404, "not_found");
}

#[test]
fn admins_change_roles() {
    let s = scene();
    let app = &s.app;
    let url = format!("/api/v1/admin/users/{}/roles", s.asker.id);
    app.call("PUT", &url)
        .json(&json!({"roles": ["staff"]}))
        .bearer(&s.moderator.access_token)
        .send()
        .assert_problem(403, "forbidden");
    let result = app
        .call("PUT", &url)
        .json(&json!({"roles": ["staff", "analyst"]}))
        .bearer(&s.admin.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!(result["roles"], json!(["resident", "staff", "analyst"]));
    let me = app.get("/api/v1/me").bearer(&s.asker.access_token).send().json();
    assert_eq!(me["roles"], json!(["resident", "staff", "analyst"]), "takes effect at once");
    app.call("PUT", &url)
        .json(&json!({"roles": ["wizard"]}))
        .bearer(&s.admin.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.call("PUT", &format!("/api/v1/admin/users/{}/roles", s.admin.id))
        .json(&json!({"roles": ["resident"]}))
        .bearer(&s.admin.access_token)
        .send()
        .assert_problem(409, "last_admin_guard");
    let entry = &audit(app, &s.admin, "action=set_roles")[0];
    assert_eq!(entry["before"]["roles"], json!(["resident"]));
    assert_eq!(entry["after"]["roles"], json!(["resident", "staff", "analyst"]));
}

#[test]
fn rate_limits_send_headers_and_429s() {
    let app = spawn_app_with(|s| {
        s.rate_limits.search = agora::config::Limit { per_minute: 60, burst: 3 };
        s.rate_limits.write_per_user = agora::config::Limit { per_minute: 60, burst: 2 };
        // One token a minute: the slow password checks below must not
        // earn back a token on a loaded machine.
        s.rate_limits.auth = agora::config::Limit { per_minute: 1, burst: 4 };
    });
    for remaining in ["2", "1", "0"] {
        let ok = app.get("/api/v1/search?q=bins").send();
        ok.assert_status(200);
        assert_eq!(ok.header("ratelimit-limit"), Some("3"));
        assert_eq!(ok.header("ratelimit-remaining"), Some(remaining));
        assert!(ok.header("ratelimit-reset").is_some());
    }
    let limited = app.get("/api/v1/search?q=bins").send();
    limited.assert_problem(429, "rate_limited");
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    assert!(app.get("/healthz").send().header("ratelimit-limit").is_none(), "only limited routes carry the headers");

    // Writes are limited per user (the admin is exempt).
    let admin = app.admin();
    let user = app.register("writer");
    let patch = |u: &TestUser| app.patch("/api/v1/me", &json!({"bio": "hello"})).bearer(&u.access_token).send();
    patch(&user).assert_status(200);
    patch(&user).assert_status(200);
    patch(&user).assert_problem(429, "rate_limited");
    for _ in 0..5 {
        patch(&admin).assert_status(200);
    }
    std::thread::sleep(Duration::from_millis(1100));
    patch(&user).assert_status(200);

    // Logins are limited per address.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.login("nobody", "wrong password here").status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}
