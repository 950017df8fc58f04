//! The authorisation matrix: every route of openapi.yaml × {anonymous,
//! resident, staff, moderator, admin, analyst, suspended} → the expected
//! status, from one table. A route missing from the table fails the test.

use std::collections::BTreeSet;

use agora::domain::Role;
use serde_json::{Value, json};

use super::helpers::{PASSWORD, TestApp, TestUser, spawn_app};
use super::spec;

const ROLES: [&str; 7] = ["anonymous", "resident", "staff", "moderator", "admin", "analyst", "suspended"];

/// The callers and the fixtures requests are made against.
struct World {
    app: TestApp,
    callers: Vec<Option<TestUser>>,
    owner: TestUser,
    helper: TestUser,
    flagger: TestUser,
    staff: TestUser,
    counter: std::cell::Cell<u32>,
}

impl World {
    fn new() -> World {
        let app = spawn_app();
        let setup = app.user_with_roles("setup_admin", &[Role::Admin]);
        app.create_category(&setup, "waste");
        let owner = app.register("owner");
        app.set_reputation(owner.id, 5000);
        let helper = app.register("helper");
        app.set_reputation(helper.id, 5000);
        let flagger = app.register("flagger");
        app.set_reputation(flagger.id, 100);
        let staff = app.user_with_roles("staff_fixture", &[Role::Staff]);
        let resident = app.register("resident_r");
        let staff_caller = app.user_with_roles("staff_s", &[Role::Staff]);
        let moderator = app.user_with_roles("moderator_m", &[Role::Moderator]);
        let admin = app.user_with_roles("admin_a", &[Role::Admin]);
        let analyst = app.user_with_roles("analyst_n", &[Role::Analyst]);
        let suspended = app.register("suspended_x");
        let until = app.clock.now() + chrono::Duration::days(3);
        app.with_conn(|conn| {
            agora::store::users::set_suspension(conn, suspended.id, Some(until), Some("test"), app.clock.now()).unwrap()
        });
        let callers = vec![
            None,
            Some(resident),
            Some(staff_caller),
            Some(moderator),
            Some(admin),
            Some(analyst),
            Some(suspended),
        ];
        World { app, callers, owner, helper, flagger, staff, counter: std::cell::Cell::new(0) }
    }

    fn unique(&self, prefix: &str) -> String {
        self.counter.set(self.counter.get() + 1);
        format!("{prefix}{}", self.counter.get())
    }

    fn question(&self) -> i64 {
        let title = format!("Fixture question {}", self.unique("q"));
        self.app.ask(&self.owner, "waste", &title, &[])["id"].as_i64().unwrap()
    }

    fn answer(&self, question: i64) -> i64 {
        self.app.answer(&self.helper, question, "A fixture answer that is long enough.")["id"].as_i64().unwrap()
    }

    fn comment(&self, question: i64) -> i64 {
        let url = format!("/api/v1/questions/{question}/comments");
        self.app.post(&url, &json!({"body": "fixture comment"})).bearer(&self.helper.access_token).send().json()["id"]
            .as_i64()
            .unwrap()
    }

    fn flag(&self) -> i64 {
        let q = self.question();
        let body = json!({"target_type": "question", "target_id": q, "reason": "other"});
        self.app.post("/api/v1/flags", &body).bearer(&self.flagger.access_token).send().json()["id"].as_i64().unwrap()
    }

    fn victim(&self) -> i64 {
        self.app.register(&self.unique("victim")).id
    }

    /// A live API key of the fixture owner.
    fn owner_key(&self) -> i64 {
        let body = json!({"name": self.unique("key"), "scopes": ["read"]});
        let created = self.app.post("/api/v1/me/api-keys", &body).bearer(&self.owner.access_token).send();
        created.json()["id"].as_i64().unwrap()
    }

    /// A fresh session of the setup admin (for fixtures only admins make).
    fn setup_token(&self) -> String {
        self.app.login("setup_admin", PASSWORD).json()["access_token"].as_str().unwrap().to_owned()
    }

    /// A new webhook endpoint. The default settings take only public
    /// addresses, so it is made on one, then pointed at a private one in
    /// the database: the sender checks the address again when it connects
    /// and refuses, so nothing leaves the test. It hears only of
    /// escalations (nothing sends them yet) and test pings.
    fn fresh_webhook(&self, description: &str) -> i64 {
        use agora::store::schema::webhook_endpoints;
        use diesel::prelude::*;
        let body =
            json!({"url": "https://93.184.215.14/hook", "events": ["question.escalated"], "description": description});
        let created = self.app.post("/api/v1/admin/webhooks", &body).bearer(&self.setup_token()).send();
        let id = created.json()["id"].as_i64().unwrap();
        self.app.with_conn(|conn| {
            diesel::update(webhook_endpoints::table.find(id))
                .set(webhook_endpoints::url.eq("https://127.0.0.1:9/hook"))
                .execute(conn)
                .unwrap()
        });
        id
    }

    /// The matrix's shared webhook endpoint (at most 50 may exist).
    fn webhook(&self) -> i64 {
        let list = self.app.get("/api/v1/admin/webhooks").bearer(&self.setup_token()).send().json();
        let items = list["items"].as_array().cloned().unwrap_or_default();
        match items.iter().find(|e| e["description"] == "authz fixture") {
            Some(existing) => existing["id"].as_i64().unwrap(),
            None => self.fresh_webhook("authz fixture"),
        }
    }

    /// The shared endpoint and one of its deliveries (a test ping).
    fn webhook_delivery(&self) -> (i64, i64) {
        let id = self.webhook();
        let ping =
            self.app.call("POST", &format!("/api/v1/admin/webhooks/{id}/test")).bearer(&self.setup_token()).send();
        (id, ping.json()["id"].as_i64().unwrap())
    }

    fn verified_answer(&self) -> i64 {
        let answer = self.answer(self.question());
        self.app.call("POST", &format!("/api/v1/answers/{answer}/verify")).bearer(&self.staff.access_token).send();
        answer
    }
}

/// What one case sends: method, concrete path and body.
type Request = (&'static str, String, Option<Value>);
type Build = fn(&World) -> Request;

const A: u16 = 401;
const F: u16 = 403;

/// Every route: (method, template, expected per role, request builder).
fn cases() -> Vec<(&'static str, &'static str, [u16; 7], Build)> {
    vec![
        ("GET", "/healthz", [200; 7], |_| ("GET", "/healthz".into(), None)),
        ("GET", "/readyz", [200; 7], |_| ("GET", "/readyz".into(), None)),
        ("GET", "/metrics", [200; 7], |_| ("GET", "/metrics".into(), None)),
        ("GET", "/openapi.yaml", [200; 7], |_| ("GET", "/openapi.yaml".into(), None)),
        // The front door's files are public and read no credentials.
        ("GET", "/widget.js", [200; 7], |_| ("GET", "/widget.js".into(), None)),
        ("GET", "/widget.css", [200; 7], |_| ("GET", "/widget.css".into(), None)),
        ("GET", "/widget/demo", [200; 7], |_| ("GET", "/widget/demo".into(), None)),
        ("GET", "/questions/{id}", [200; 7], |w| ("GET", format!("/questions/{}", w.question()), None)),
        ("GET", "/assets/{name}", [200; 7], |_| ("GET", "/assets/agora.css".into(), None)),
        ("GET", "/", [200; 7], |_| ("GET", "/".into(), None)),
        ("GET", "/docs", [200; 7], |_| ("GET", "/docs".into(), None)),
        ("GET", "/dashboard", [200; 7], |_| ("GET", "/dashboard".into(), None)),
        ("GET", "/account/{page}", [200; 7], |_| ("GET", "/account/verify?token=abc".into(), None)),
        ("POST", "/api/v1/auth/register", [201; 7], |w| {
            let name = w.unique("newbie");
            (
                "POST",
                "/api/v1/auth/register".into(),
                Some(json!({"username": name, "email": format!("{name}@example.org"), "password": PASSWORD})),
            )
        }),
        ("POST", "/api/v1/auth/login", [200; 7], |_| {
            ("POST", "/api/v1/auth/login".into(), Some(json!({"login": "owner", "password": PASSWORD})))
        }),
        ("POST", "/api/v1/auth/refresh", [200; 7], |w| {
            let session = w.app.login("owner", PASSWORD).json();
            ("POST", "/api/v1/auth/refresh".into(), Some(json!({"refresh_token": session["refresh_token"]})))
        }),
        ("POST", "/api/v1/auth/logout", [A, 204, 204, 204, 204, 204, A], |_| {
            ("POST", "/api/v1/auth/logout".into(), Some(json!({"refresh_token": "not-a-real-token"})))
        }),
        ("POST", "/api/v1/auth/password-reset", [202; 7], |w| {
            let email = format!("{}@example.org", w.unique("forgot"));
            ("POST", "/api/v1/auth/password-reset".into(), Some(json!({"email": email})))
        }),
        // Made-up tokens: the routes are open to all, the tokens refused.
        ("POST", "/api/v1/auth/password-reset/confirm", [400; 7], |_| {
            let body = json!({"token": "made-up-token", "new_password": "a brand new passphrase"});
            ("POST", "/api/v1/auth/password-reset/confirm".into(), Some(body))
        }),
        ("POST", "/api/v1/auth/verify-email", [400; 7], |_| {
            ("POST", "/api/v1/auth/verify-email".into(), Some(json!({"token": "made-up-token"})))
        }),
        ("POST", "/api/v1/unsubscribe", [200; 7], |w| {
            use agora::service::mail::preferences::{Unsubscribe, unsubscribe_token};
            let token = unsubscribe_token(&w.app.state.ctx, w.owner.id, Unsubscribe::All);
            ("POST", format!("/api/v1/unsubscribe?token={token}"), None)
        }),
        // A wrong password: the route is reachable, the change refused.
        ("PUT", "/api/v1/me/email", [A, F, F, F, F, F, A], |_| {
            ("PUT", "/api/v1/me/email".into(), Some(json!({"email": "elsewhere@example.org", "password": "not mine"})))
        }),
        ("POST", "/api/v1/me/verify-email/resend", [A, 202, 202, 202, 202, 202, A], |_| {
            ("POST", "/api/v1/me/verify-email/resend".into(), None)
        }),
        ("GET", "/api/v1/me/notification-settings", [A, 200, 200, 200, 200, 200, A], |_| {
            ("GET", "/api/v1/me/notification-settings".into(), None)
        }),
        ("PUT", "/api/v1/me/notification-settings", [A, 200, 200, 200, 200, 200, A], |_| {
            let body = json!({"email": {"expert_new_question": "off"}, "digest": "daily"});
            ("PUT", "/api/v1/me/notification-settings".into(), Some(body))
        }),
        ("GET", "/api/v1/me", [A, 200, 200, 200, 200, 200, A], |_| ("GET", "/api/v1/me".into(), None)),
        ("PATCH", "/api/v1/me", [A, 200, 200, 200, 200, 200, A], |_| {
            ("PATCH", "/api/v1/me".into(), Some(json!({"bio": "hello"})))
        }),
        // A wrong current password: the route is reachable, the change refused.
        ("POST", "/api/v1/me/password", [A, F, F, F, F, F, A], |_| {
            (
                "POST",
                "/api/v1/me/password".into(),
                Some(json!({"current_password": "not my password", "new_password": "a brand new passphrase"})),
            )
        }),
        ("GET", "/api/v1/me/export", [A, 200, 200, 200, 200, 200, A], |_| ("GET", "/api/v1/me/export".into(), None)),
        // A wrong password: the route is reachable, the erasure refused.
        ("DELETE", "/api/v1/me", [A, F, F, F, F, F, A], |_| {
            ("DELETE", "/api/v1/me".into(), Some(json!({"password": "not my password"})))
        }),
        ("POST", "/api/v1/me/api-keys", [A, 201, 201, 201, 201, 201, A], |_| {
            ("POST", "/api/v1/me/api-keys".into(), Some(json!({"name": "sheet", "scopes": ["read"]})))
        }),
        ("GET", "/api/v1/me/api-keys", [A, 200, 200, 200, 200, 200, A], |_| {
            ("GET", "/api/v1/me/api-keys".into(), None)
        }),
        // Someone else's key: as if it did not exist.
        ("DELETE", "/api/v1/me/api-keys/{id}", [A, 404, 404, 404, 404, 404, A], |w| {
            ("DELETE", format!("/api/v1/me/api-keys/{}", w.owner_key()), None)
        }),
        ("GET", "/api/v1/admin/api-keys", [A, F, F, F, 200, F, A], |_| ("GET", "/api/v1/admin/api-keys".into(), None)),
        ("DELETE", "/api/v1/admin/api-keys/{id}", [A, F, F, F, 204, F, A], |w| {
            ("DELETE", format!("/api/v1/admin/api-keys/{}", w.owner_key()), None)
        }),
        ("GET", "/api/v1/admin/webhooks", [A, F, F, F, 200, F, A], |_| ("GET", "/api/v1/admin/webhooks".into(), None)),
        // Escalations only: nothing the matrix does is sent to it.
        ("POST", "/api/v1/admin/webhooks", [A, F, F, F, 201, F, A], |w| {
            let body = json!({
                "url": "https://93.184.215.14/hook",
                "events": ["question.escalated"],
                "description": w.unique("hook"),
            });
            ("POST", "/api/v1/admin/webhooks".into(), Some(body))
        }),
        ("GET", "/api/v1/admin/webhooks/{id}", [A, F, F, F, 200, F, A], |w| {
            ("GET", format!("/api/v1/admin/webhooks/{}", w.webhook()), None)
        }),
        ("PATCH", "/api/v1/admin/webhooks/{id}", [A, F, F, F, 200, F, A], |w| {
            ("PATCH", format!("/api/v1/admin/webhooks/{}", w.webhook()), Some(json!({"description": "authz fixture"})))
        }),
        ("DELETE", "/api/v1/admin/webhooks/{id}", [A, F, F, F, 204, F, A], |w| {
            ("DELETE", format!("/api/v1/admin/webhooks/{}", w.fresh_webhook("authz delete")), None)
        }),
        ("POST", "/api/v1/admin/webhooks/{id}/rotate-secret", [A, F, F, F, 200, F, A], |w| {
            ("POST", format!("/api/v1/admin/webhooks/{}/rotate-secret", w.webhook()), None)
        }),
        ("POST", "/api/v1/admin/webhooks/{id}/test", [A, F, F, F, 202, F, A], |w| {
            ("POST", format!("/api/v1/admin/webhooks/{}/test", w.webhook()), None)
        }),
        ("GET", "/api/v1/admin/webhooks/{id}/deliveries", [A, F, F, F, 200, F, A], |w| {
            ("GET", format!("/api/v1/admin/webhooks/{}/deliveries", w.webhook()), None)
        }),
        ("GET", "/api/v1/admin/webhooks/{id}/deliveries/{delivery_id}", [A, F, F, F, 200, F, A], |w| {
            let (id, delivery) = w.webhook_delivery();
            ("GET", format!("/api/v1/admin/webhooks/{id}/deliveries/{delivery}"), None)
        }),
        ("POST", "/api/v1/admin/webhooks/{id}/deliveries/{delivery_id}/redeliver", [A, F, F, F, 202, F, A], |w| {
            let (id, delivery) = w.webhook_delivery();
            ("POST", format!("/api/v1/admin/webhooks/{id}/deliveries/{delivery}/redeliver"), None)
        }),
        // Nothing is configured in the matrix: admins reach the mapping and
        // learn so (409 open311_not_configured).
        ("GET", "/api/v1/admin/open311/services", [A, F, F, F, 409, F, A], |_| {
            ("GET", "/api/v1/admin/open311/services".into(), None)
        }),
        ("PUT", "/api/v1/admin/open311/services", [A, F, F, F, 409, F, A], |_| {
            ("PUT", "/api/v1/admin/open311/services".into(), Some(json!({"mapping": {}})))
        }),
        // Council roles reach the escalation and learn that no endpoint is set.
        ("POST", "/api/v1/questions/{id}/escalate", [A, F, 409, 409, 409, F, A], |w| {
            let body = json!({"address_string": "1 Town Hall Square"});
            ("POST", format!("/api/v1/questions/{}/escalate", w.question()), Some(body))
        }),
        // Not the asker: residents and analysts 403; the council 404 (not escalated).
        ("GET", "/api/v1/questions/{id}/escalation", [A, F, 404, 404, 404, F, A], |w| {
            ("GET", format!("/api/v1/questions/{}/escalation", w.question()), None)
        }),
        ("POST", "/api/v1/admin/users/{id}/erase", [A, F, F, F, 204, F, A], |w| {
            ("POST", format!("/api/v1/admin/users/{}/erase", w.victim()), None)
        }),
        ("GET", "/api/v1/users", [200, 200, 200, 200, 200, 200, A], |_| ("GET", "/api/v1/users".into(), None)),
        ("GET", "/api/v1/users/{id}", [200, 200, 200, 200, 200, 200, A], |w| {
            ("GET", format!("/api/v1/users/{}", w.owner.id), None)
        }),
        ("GET", "/api/v1/admin/settings", [A, F, F, F, 200, F, A], |_| ("GET", "/api/v1/admin/settings".into(), None)),
        ("PUT", "/api/v1/admin/settings", [A, F, F, F, 200, F, A], |w| {
            let setup = w.app.login("setup_admin", PASSWORD).json();
            let current =
                w.app.get("/api/v1/admin/settings").bearer(setup["access_token"].as_str().unwrap()).send().json();
            ("PUT", "/api/v1/admin/settings".into(), Some(current))
        }),
        ("GET", "/api/v1/categories/{slug}/experts", [200, 200, 200, 200, 200, 200, A], |_| {
            ("GET", "/api/v1/categories/waste/experts".into(), None)
        }),
        ("POST", "/api/v1/answers/{id}/verify", [A, F, 200, F, F, F, A], |w| {
            ("POST", format!("/api/v1/answers/{}/verify", w.answer(w.question())), None)
        }),
        ("DELETE", "/api/v1/answers/{id}/verify", [A, F, 204, F, F, F, A], |w| {
            ("DELETE", format!("/api/v1/answers/{}/verify", w.verified_answer()), None)
        }),
        ("GET", "/api/v1/answers/stale", [A, F, 200, F, F, F, A], |_| ("GET", "/api/v1/answers/stale".into(), None)),
        ("GET", "/api/v1/me/notifications", [A, 200, 200, 200, 200, 200, A], |_| {
            ("GET", "/api/v1/me/notifications".into(), None)
        }),
        ("POST", "/api/v1/me/notifications/read", [A, 200, 200, 200, 200, 200, A], |_| {
            ("POST", "/api/v1/me/notifications/read".into(), Some(json!({"all": true})))
        }),
        ("GET", "/api/v1/categories", [200, 200, 200, 200, 200, 200, A], |_| {
            ("GET", "/api/v1/categories".into(), None)
        }),
        ("POST", "/api/v1/categories", [A, F, F, F, 201, F, A], |w| {
            ("POST", "/api/v1/categories".into(), Some(json!({"slug": w.unique("cat"), "name": "A category"})))
        }),
        ("PATCH", "/api/v1/categories/{slug}", [A, F, F, F, 200, F, A], |_| {
            ("PATCH", "/api/v1/categories/waste".into(), Some(json!({"description": "Bins and recycling"})))
        }),
        ("GET", "/api/v1/tags", [200, 200, 200, 200, 200, 200, A], |_| ("GET", "/api/v1/tags".into(), None)),
        ("POST", "/api/v1/flags", [A, F, F, 201, 201, F, A], |w| {
            (
                "POST",
                "/api/v1/flags".into(),
                Some(json!({"target_type": "question", "target_id": w.question(), "reason": "spam"})),
            )
        }),
        ("GET", "/api/v1/mod/flags", [A, F, F, 200, 200, F, A], |_| ("GET", "/api/v1/mod/flags".into(), None)),
        ("POST", "/api/v1/mod/flags/{id}/resolve", [A, F, F, 200, 200, F, A], |w| {
            ("POST", format!("/api/v1/mod/flags/{}/resolve", w.flag()), Some(json!({"action": "dismiss"})))
        }),
        ("POST", "/api/v1/mod/questions/{id}/close", [A, F, F, 200, 200, F, A], |w| {
            ("POST", format!("/api/v1/mod/questions/{}/close", w.question()), Some(json!({"reason": "off topic"})))
        }),
        // Residents, staff and analysts lack the close_vote privilege (500).
        ("GET", "/api/v1/questions/{id}/close-votes", [200, 200, 200, 200, 200, 200, A], |w| {
            ("GET", format!("/api/v1/questions/{}/close-votes", w.question()), None)
        }),
        ("PUT", "/api/v1/questions/{id}/close-votes", [A, F, F, 200, 200, F, A], |w| {
            ("PUT", format!("/api/v1/questions/{}/close-votes", w.question()), Some(json!({"reason": "unclear"})))
        }),
        ("DELETE", "/api/v1/questions/{id}/close-votes", [A, 200, 200, 200, 200, 200, A], |w| {
            ("DELETE", format!("/api/v1/questions/{}/close-votes", w.question()), None)
        }),
        ("POST", "/api/v1/mod/questions/{id}/reopen", [A, F, F, 200, 200, F, A], |w| {
            ("POST", format!("/api/v1/mod/questions/{}/reopen", w.question()), None)
        }),
        ("POST", "/api/v1/mod/questions/{id}/lock", [A, F, F, 200, 200, F, A], |w| {
            ("POST", format!("/api/v1/mod/questions/{}/lock", w.question()), None)
        }),
        ("POST", "/api/v1/mod/questions/{id}/unlock", [A, F, F, 200, 200, F, A], |w| {
            ("POST", format!("/api/v1/mod/questions/{}/unlock", w.question()), None)
        }),
        ("POST", "/api/v1/mod/questions/{id}/merge", [A, F, F, 200, 200, F, A], |w| {
            let into = w.question();
            ("POST", format!("/api/v1/mod/questions/{}/merge", w.question()), Some(json!({"into": into})))
        }),
        ("POST", "/api/v1/mod/posts/{type}/{id}/hide", [A, F, F, 204, 204, F, A], |w| {
            ("POST", format!("/api/v1/mod/posts/question/{}/hide", w.question()), None)
        }),
        ("POST", "/api/v1/mod/posts/{type}/{id}/unhide", [A, F, F, 204, 204, F, A], |w| {
            ("POST", format!("/api/v1/mod/posts/question/{}/unhide", w.question()), None)
        }),
        ("POST", "/api/v1/mod/users/{id}/suspend", [A, F, F, 204, 204, F, A], |w| {
            let until = (w.app.clock.now_utc() + chrono::Duration::days(1)).to_rfc3339();
            (
                "POST",
                format!("/api/v1/mod/users/{}/suspend", w.victim()),
                Some(json!({"until": until, "reason": "testing"})),
            )
        }),
        ("POST", "/api/v1/mod/users/{id}/unsuspend", [A, F, F, 204, 204, F, A], |w| {
            ("POST", format!("/api/v1/mod/users/{}/unsuspend", w.victim()), None)
        }),
        ("PUT", "/api/v1/admin/users/{id}/roles", [A, F, F, F, 200, F, A], |w| {
            ("PUT", format!("/api/v1/admin/users/{}/roles", w.victim()), Some(json!({"roles": ["staff"]})))
        }),
        ("GET", "/api/v1/mod/audit-log", [A, F, F, 200, 200, F, A], |_| ("GET", "/api/v1/mod/audit-log".into(), None)),
        ("GET", "/api/v1/mod/audit-log.csv", [A, F, F, 200, 200, F, A], |_| {
            ("GET", "/api/v1/mod/audit-log.csv".into(), None)
        }),
        ("POST", "/api/v1/events", [202, 202, 202, 202, 202, 202, A], |w| {
            let event = json!({
                "event_id": uuid::Uuid::new_v4().to_string(),
                "type": "search_performed",
                "occurred_at": w.app.clock.now_utc().to_rfc3339(),
                "visitor_id": "authz-visitor",
                "query": "bins",
            });
            ("POST", "/api/v1/events".into(), Some(json!({"events": [event]})))
        }),
        ("GET", "/api/v1/deflection/summary", [A, F, F, F, 200, 200, A], |_| {
            ("GET", "/api/v1/deflection/summary".into(), None)
        }),
        ("GET", "/api/v1/deflection/timeseries", [A, F, F, F, 200, 200, A], |_| {
            ("GET", "/api/v1/deflection/timeseries?granularity=week".into(), None)
        }),
        ("GET", "/api/v1/deflection/questions", [A, F, F, F, 200, 200, A], |_| {
            ("GET", "/api/v1/deflection/questions".into(), None)
        }),
        ("GET", "/api/v1/deflection/gaps", [A, F, F, F, 200, 200, A], |_| {
            ("GET", "/api/v1/deflection/gaps".into(), None)
        }),
        ("GET", "/api/v1/deflection/experiment", [A, F, F, F, 200, 200, A], |_| {
            ("GET", "/api/v1/deflection/experiment".into(), None)
        }),
        ("GET", "/api/v1/deflection/export.csv", [A, F, F, F, 200, 200, A], |_| {
            ("GET", "/api/v1/deflection/export.csv".into(), None)
        }),
        ("GET", "/api/v1/search", [200, 200, 200, 200, 200, 200, A], |_| {
            ("GET", "/api/v1/search?q=fixture".into(), None)
        }),
        ("GET", "/api/v1/questions/similar", [200, 200, 200, 200, 200, 200, A], |_| {
            ("GET", "/api/v1/questions/similar?text=fixture".into(), None)
        }),
        ("GET", "/api/v1/questions", [200, 200, 200, 200, 200, 200, A], |_| ("GET", "/api/v1/questions".into(), None)),
        ("POST", "/api/v1/questions", [A, 201, 201, 201, 201, 201, A], |w| {
            let title = format!("A question from a role {}", w.unique("t"));
            (
                "POST",
                "/api/v1/questions".into(),
                Some(json!({"title": title, "body": "A body that is long enough.", "category": "waste"})),
            )
        }),
        ("GET", "/api/v1/questions/{id}", [200, 200, 200, 200, 200, 200, A], |w| {
            ("GET", format!("/api/v1/questions/{}", w.question()), None)
        }),
        ("PATCH", "/api/v1/questions/{id}", [A, F, F, 200, 200, F, A], |w| {
            (
                "PATCH",
                format!("/api/v1/questions/{}", w.question()),
                Some(json!({"body": "An edited body, long enough."})),
            )
        }),
        ("DELETE", "/api/v1/questions/{id}", [A, F, F, 204, 204, F, A], |w| {
            ("DELETE", format!("/api/v1/questions/{}", w.question()), None)
        }),
        ("GET", "/api/v1/questions/{id}/revisions", [200, 200, 200, 200, 200, 200, A], |w| {
            ("GET", format!("/api/v1/questions/{}/revisions", w.question()), None)
        }),
        ("POST", "/api/v1/questions/{id}/answers", [A, 201, 201, 201, 201, 201, A], |w| {
            (
                "POST",
                format!("/api/v1/questions/{}/answers", w.question()),
                Some(json!({"body": "An answer from any role."})),
            )
        }),
        ("POST", "/api/v1/questions/{id}/accept", [A, F, F, 200, 200, F, A], |w| {
            let q = w.question();
            ("POST", format!("/api/v1/questions/{q}/accept"), Some(json!({"answer_id": w.answer(q)})))
        }),
        ("DELETE", "/api/v1/questions/{id}/accept", [A, F, F, 200, 200, F, A], |w| {
            ("DELETE", format!("/api/v1/questions/{}/accept", w.question()), None)
        }),
        ("PUT", "/api/v1/questions/{id}/vote", [A, F, F, 200, 200, F, A], |w| {
            ("PUT", format!("/api/v1/questions/{}/vote", w.question()), Some(json!({"value": 1})))
        }),
        ("POST", "/api/v1/questions/{id}/comments", [A, F, F, 201, 201, F, A], |w| {
            ("POST", format!("/api/v1/questions/{}/comments", w.question()), Some(json!({"body": "a comment"})))
        }),
        ("POST", "/api/v1/questions/{id}/follow", [A, 204, 204, 204, 204, 204, A], |w| {
            ("POST", format!("/api/v1/questions/{}/follow", w.question()), None)
        }),
        ("DELETE", "/api/v1/questions/{id}/follow", [A, 204, 204, 204, 204, 204, A], |w| {
            ("DELETE", format!("/api/v1/questions/{}/follow", w.question()), None)
        }),
        ("PATCH", "/api/v1/answers/{id}", [A, F, F, 200, 200, F, A], |w| {
            (
                "PATCH",
                format!("/api/v1/answers/{}", w.answer(w.question())),
                Some(json!({"body": "An edited answer, long enough."})),
            )
        }),
        ("DELETE", "/api/v1/answers/{id}", [A, F, F, 204, 204, F, A], |w| {
            ("DELETE", format!("/api/v1/answers/{}", w.answer(w.question())), None)
        }),
        ("GET", "/api/v1/answers/{id}/revisions", [200, 200, 200, 200, 200, 200, A], |w| {
            ("GET", format!("/api/v1/answers/{}/revisions", w.answer(w.question())), None)
        }),
        ("PUT", "/api/v1/answers/{id}/vote", [A, F, F, 200, 200, F, A], |w| {
            ("PUT", format!("/api/v1/answers/{}/vote", w.answer(w.question())), Some(json!({"value": 1})))
        }),
        ("POST", "/api/v1/answers/{id}/comments", [A, F, F, 201, 201, F, A], |w| {
            ("POST", format!("/api/v1/answers/{}/comments", w.answer(w.question())), Some(json!({"body": "a comment"})))
        }),
        ("DELETE", "/api/v1/comments/{id}", [A, F, F, 204, 204, F, A], |w| {
            let q = w.question();
            ("DELETE", format!("/api/v1/comments/{}", w.comment(q)), None)
        }),
    ]
}

#[test]
fn every_route_answers_every_role_as_expected() {
    let table = cases();
    let covered: BTreeSet<(String, String)> = table.iter().map(|(m, p, ..)| (m.to_string(), p.to_string())).collect();
    let documented = spec::documented_routes();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(missing.is_empty(), "routes without an entry in the authorisation matrix: {missing:?}");
    let world = World::new();
    let mut failures = Vec::new();
    for (method, template, expected, build) in &table {
        for (role, caller) in world.callers.iter().enumerate() {
            let (verb, path, body) = build(&world);
            let mut call = world.app.call(verb, &path);
            if let Some(body) = &body {
                call = call.json(body);
            }
            if let Some(user) = caller {
                call = call.bearer(&user.access_token);
            }
            let response = call.send();
            if response.status != expected[role] {
                failures.push(format!(
                    "{method} {template} as {}: {} (expected {}) {}",
                    ROLES[role], response.status, expected[role], response.text
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
