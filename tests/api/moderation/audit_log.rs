//! The audit log: what moderators and admins do is recorded, filtered,
//! exported, and cannot be changed.

use serde_json::json;

use super::{audit, scene, trusted};
use crate::helpers::TestUser;

#[test]
fn moderators_deleting_others_comments_and_admins_changing_categories_are_audited() {
    let s = scene();
    let app = &s.app;
    let helper = trusted(app, "helper");
    let comment = |user: &TestUser, body: &str| {
        app.post(&format!("/api/v1/questions/{}/comments", s.question), &json!({"body": body}))
            .bearer(&user.access_token)
            .send()
            .assert_status(201)
            .json()["id"]
            .as_i64()
            .unwrap()
    };
    let delete = |user: &TestUser, id: i64| {
        app.call("DELETE", &format!("/api/v1/comments/{id}")).bearer(&user.access_token).send().assert_status(204);
    };
    let (own, others, moderators) =
        (comment(&helper, "never mind"), comment(&helper, "rude remark"), comment(&s.moderator, "a note"));
    delete(&helper, own);
    delete(&s.moderator, moderators);
    assert!(audit(app, &s.moderator, "action=delete").is_empty(), "authors deleting their own are not moderation");
    app.call("DELETE", &format!("/api/v1/comments/{others}"))
        .bearer(&s.asker.access_token)
        .send()
        .assert_problem(403, "forbidden");
    delete(&s.moderator, others);
    delete(&s.moderator, others);
    assert_eq!(app.question(s.question)["comments"], json!([]));
    let entries = audit(app, &s.moderator, "action=delete");
    assert_eq!(entries.len(), 1, "once, however often: {entries:?}");
    assert_eq!(
        (entries[0]["actor_id"].as_i64(), entries[0]["target_type"].as_str()),
        (Some(s.moderator.id), Some("comment"))
    );
    assert_eq!(entries[0]["target_id"], others);
    assert_eq!(entries[0]["before"], json!({"deleted": false}));
    assert_eq!(entries[0]["after"], json!({"deleted": true}));

    // Categories: created (by the scene) and changed by an admin.
    let category = app.get("/api/v1/categories").send().json()["items"][0].clone();
    let created = &audit(app, &s.moderator, "action=create_category")[0];
    assert_eq!((created["actor_id"].as_i64(), created["target_type"].as_str()), (Some(s.admin.id), Some("category")));
    assert_eq!(created["target_id"], category["id"]);
    assert!(created["before"].is_null());
    assert_eq!(created["after"], json!({"slug": "waste", "name": "Category waste", "description": "Test category"}));
    app.patch("/api/v1/categories/waste", &json!({"name": "Bins and recycling"}))
        .bearer(&s.admin.access_token)
        .send()
        .assert_status(200);
    app.patch("/api/v1/categories/waste", &json!({})).bearer(&s.admin.access_token).send().assert_status(200);
    let updated = audit(app, &s.moderator, "action=update_category");
    assert_eq!(updated.len(), 1, "an empty change changes nothing: {updated:?}");
    assert_eq!(
        (updated[0]["actor_id"].as_i64(), updated[0]["target_id"].as_i64()),
        (Some(s.admin.id), category["id"].as_i64())
    );
    assert_eq!(updated[0]["before"]["name"], "Category waste");
    assert_eq!(
        updated[0]["after"],
        json!({"slug": "waste", "name": "Bins and recycling", "description": "Test category"})
    );
}

#[test]
fn the_audit_log_filters_exports_and_cannot_be_changed() {
    let s = scene();
    let app = &s.app;
    app.call("POST", &format!("/api/v1/mod/questions/{}/lock", s.question))
        .bearer(&s.moderator.access_token)
        .send()
        .assert_status(200);
    app.call("POST", &format!("/api/v1/mod/questions/{}/unlock", s.question))
        .bearer(&s.admin.access_token)
        .send()
        .assert_status(200);
    // The scene's category, then the lock and the unlock.
    assert_eq!(audit(app, &s.moderator, "").len(), 3);
    assert_eq!(audit(app, &s.moderator, &format!("actor={}", s.admin.id))[0]["action"], "unlock");
    assert_eq!(audit(app, &s.moderator, "action=lock").len(), 1);
    let tomorrow = (app.clock.now_utc() + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert!(audit(app, &s.moderator, &format!("since={tomorrow}")).is_empty());
    app.get("/api/v1/mod/audit-log").bearer(&s.asker.access_token).send().assert_problem(403, "forbidden");
    app.get("/api/v1/mod/audit-log?since=yesterday")
        .bearer(&s.moderator.access_token)
        .send()
        .assert_problem(400, "invalid_query");

    let csv = app.get("/api/v1/mod/audit-log.csv").bearer(&s.moderator.access_token).send();
    csv.assert_status(200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines[0], "id,created_at,actor_id,action,target_type,target_id,reason,before,after");
    assert_eq!(lines.len(), 4);
    assert!(lines[1].contains(",unlock,question,"));

    // The database refuses to change or remove entries, whoever asks.
    use agora::store::schema::audit_log;
    use diesel::prelude::*;
    let update =
        app.with_conn(|conn| diesel::update(audit_log::table).set(audit_log::action.eq("nothing")).execute(conn));
    assert!(update.is_err(), "update must fail");
    let delete = app.with_conn(|conn| diesel::delete(audit_log::table).execute(conn));
    assert!(delete.is_err(), "delete must fail");
    assert_eq!(audit(app, &s.moderator, "").len(), 3);
}
