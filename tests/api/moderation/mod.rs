//! Moderation: flags and auto-hide, the review queue, closing, locking,
//! hiding, merging, suspensions, roles, the personal-information guard
//! and redaction, the audit log, and rate limits.

use agora::domain::Role;
use serde_json::{Value, json};

use super::helpers::{TestApp, TestResponse, TestUser, spawn_app};

mod accounts;
mod audit_log;
mod close_votes;
mod flags;
mod posts;

pub(super) struct Scene {
    pub(super) app: TestApp,
    pub(super) admin: TestUser,
    pub(super) moderator: TestUser,
    pub(super) asker: TestUser,
    pub(super) question: i64,
}

pub(super) fn scene() -> Scene {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "waste");
    let moderator = app.user_with_roles("mod_mia", &[Role::Moderator]);
    let asker = app.register("asker");
    let question = app.ask(&asker, "waste", "Why was my recycling box left behind?", &[])["id"].as_i64().unwrap();
    Scene { app, admin, moderator, asker, question }
}

/// A resident with enough reputation to flag and comment.
pub(super) fn trusted(app: &TestApp, name: &str) -> TestUser {
    let user = app.register(name);
    app.set_reputation(user.id, 60);
    user
}

pub(super) fn audit(app: &TestApp, moderator: &TestUser, query: &str) -> Vec<Value> {
    let page = app
        .get(&format!("/api/v1/mod/audit-log?{query}"))
        .bearer(&moderator.access_token)
        .send()
        .assert_status(200)
        .json();
    page["items"].as_array().unwrap().clone()
}

pub(super) fn flag(app: &TestApp, user: &TestUser, kind: &str, id: i64, reason: &str) -> TestResponse {
    app.post("/api/v1/flags", &json!({"target_type": kind, "target_id": id, "reason": reason}))
        .bearer(&user.access_token)
        .send()
}
