//! API keys: created and shown once, hashed, scoped within the owner's
//! roles, and ended by revocation, expiry, suspension and erasure.

use std::time::Instant;

use agora::domain::Role;
use serde_json::{Value, json};

use super::helpers::{TestApp, TestUser, spawn_app};

fn create_key(app: &TestApp, user: &TestUser, scopes: &[&str]) -> Value {
    app.post("/api/v1/me/api-keys", &json!({"name": "BI tool", "scopes": scopes}))
        .bearer(&user.access_token)
        .send()
        .assert_status(201)
        .json()
}

fn key_of(created: &Value) -> String {
    created["key"].as_str().expect("key").to_owned()
}

#[test]
fn a_key_is_shown_once_stored_hashed_and_acts_as_its_owner() {
    let app = spawn_app();
    let resident = app.register("keyholder");
    let created = create_key(&app, &resident, &["read", "write"]);
    let key = key_of(&created);
    assert!(key.starts_with("agora_") && key.len() == 6 + 43, "{key}");
    assert_eq!(created["prefix"], json!(&key[..14]));
    assert_eq!(created["scopes"], json!(["read", "write"]));
    assert_eq!(created["last_used_at"], Value::Null);

    // Only a hash and the prefix are stored.
    let stored: Vec<String> = app.with_conn(|conn| {
        use agora::store::schema::api_keys;
        use diesel::prelude::*;
        api_keys::table.select(api_keys::key_hash).load(conn).unwrap()
    });
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&key[6..]), "the key itself must not be stored");

    let me = app.get("/api/v1/me").bearer(&key).send().assert_status(200).json();
    assert_eq!(me["id"], resident.id);
    let listed = app.get("/api/v1/me/api-keys").bearer(&resident.access_token).send().assert_status(200).json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["items"][0]["last_used_at"].is_string(), "a use is recorded");
    assert!(!listed.to_string().contains(&key[6..]), "lists never show the key");

    // A write key writes as its owner.
    let admin = app.admin();
    app.create_category(&admin, "bins");
    let question = app
        .post(
            "/api/v1/questions",
            &json!({"title": "When is the brown bin collected?", "body": "Asked by a script through an API key.", "category": "bins"}),
        )
        .bearer(&key)
        .send()
        .assert_status(201)
        .json();
    assert_eq!(question["author"]["id"], resident.id);
}

#[test]
fn scopes_never_exceed_the_owners_roles() {
    let app = spawn_app();
    let resident = app.register("plainresident");
    for scope in ["admin", "moderation", "deflection:read"] {
        let problem = app
            .post("/api/v1/me/api-keys", &json!({"name": "too much", "scopes": ["read", scope]}))
            .bearer(&resident.access_token)
            .send()
            .assert_problem(403, "insufficient_scope");
        assert!(problem["detail"].as_str().unwrap().contains(scope));
    }
    app.post("/api/v1/me/api-keys", &json!({"name": "x", "scopes": ["read", "everything"]}))
        .bearer(&resident.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.post("/api/v1/me/api-keys", &json!({"name": "x", "scopes": []}))
        .bearer(&resident.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.post("/api/v1/me/api-keys", &json!({"name": "x", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00Z"}))
        .bearer(&resident.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.post("/api/v1/me/api-keys", &json!({"name": "x", "scopes": ["read"], "extra": 1}))
        .bearer(&resident.access_token)
        .send()
        .assert_problem(422, "validation_failed");
}

#[test]
fn a_deflection_read_key_reads_reports_and_cannot_post() {
    let app = spawn_app();
    let analyst = app.user_with_roles("bi_analyst", &[Role::Analyst]);
    let key = key_of(&create_key(&app, &analyst, &["deflection:read"]));
    app.get("/api/v1/deflection/summary").bearer(&key).send().assert_status(200);
    app.get("/api/v1/deflection/export.csv").bearer(&key).send().assert_status(200);
    let admin = app.admin();
    app.create_category(&admin, "bins");
    app.post(
        "/api/v1/questions",
        &json!({"title": "Can a reporting key ask questions?", "body": "It must not be able to.", "category": "bins"}),
    )
    .bearer(&key)
    .send()
    .assert_problem(403, "insufficient_scope");
    app.get("/api/v1/me").bearer(&key).send().assert_problem(403, "insufficient_scope");

    // A read key of the same analyst cannot read the reports: the analyst
    // role reaches a key only through deflection:read.
    let read_key = key_of(&create_key(&app, &analyst, &["read"]));
    app.get("/api/v1/deflection/summary").bearer(&read_key).send().assert_problem(403, "insufficient_scope");
}

#[test]
fn an_admins_key_acts_as_admin_only_with_the_admin_scope() {
    let app = spawn_app();
    let admin = app.admin();
    let write_key = key_of(&create_key(&app, &admin, &["read", "write"]));
    // Admin powers are dropped: creating a category needs the admin role.
    app.post("/api/v1/categories", &json!({"slug": "parking", "name": "Parking", "description": "Parking"}))
        .bearer(&write_key)
        .send()
        .assert_problem(403, "forbidden");
    app.get("/api/v1/admin/settings").bearer(&write_key).send().assert_problem(403, "insufficient_scope");
    let admin_key = key_of(&create_key(&app, &admin, &["admin"]));
    app.get("/api/v1/admin/settings").bearer(&admin_key).send().assert_status(200);
    let page = app.get("/api/v1/admin/api-keys?limit=1").bearer(&admin_key).send().assert_status(200).json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["has_more"], true);
    let rest = app
        .get(&format!("/api/v1/admin/api-keys?limit=5&cursor={}", page["next_cursor"].as_str().unwrap()))
        .bearer(&admin.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["items"][0]["username"], "admin_root");

    // A resident cannot list everyone's keys.
    let resident = app.register("nosy");
    app.get("/api/v1/admin/api-keys").bearer(&resident.access_token).send().assert_problem(403, "forbidden");
}

#[test]
fn keys_cannot_create_keys_or_change_the_account() {
    let app = spawn_app();
    let resident = app.register("scripted");
    let key = key_of(&create_key(&app, &resident, &["read", "write"]));
    app.post("/api/v1/me/api-keys", &json!({"name": "child", "scopes": ["read"]}))
        .bearer(&key)
        .send()
        .assert_problem(403, "session_required");
    app.post(
        "/api/v1/me/password",
        &json!({"current_password": super::helpers::PASSWORD, "new_password": "another long passphrase 77"}),
    )
    .bearer(&key)
    .send()
    .assert_problem(403, "session_required");
    app.get("/api/v1/me/export").bearer(&key).send().assert_problem(403, "session_required");
    app.call("DELETE", "/api/v1/me")
        .json(&json!({"password": super::helpers::PASSWORD}))
        .bearer(&key)
        .send()
        .assert_problem(403, "session_required");
}

#[test]
fn revoked_expired_forged_and_suspended_keys_fail() {
    let app = spawn_app();
    let resident = app.register("shortlived");
    let created = create_key(&app, &resident, &["read"]);
    let key = key_of(&created);
    app.get("/api/v1/me").bearer(&key).send().assert_status(200);

    // Another user cannot revoke it: 404, as if it did not exist.
    let other = app.register("stranger");
    let path = format!("/api/v1/me/api-keys/{}", created["id"]);
    app.call("DELETE", &path).bearer(&other.access_token).send().assert_problem(404, "not_found");
    app.call("DELETE", &path).bearer(&resident.access_token).send().assert_status(204);
    app.get("/api/v1/me").bearer(&key).send().assert_problem(401, "unauthorized");
    app.call("DELETE", &path).bearer(&resident.access_token).send().assert_problem(404, "not_found");

    // Forged: the right shape, a wrong secret; and a truncated one.
    let forged = format!("{}{}", &key[..10], "A".repeat(key.len() - 10));
    app.get("/api/v1/me").bearer(&forged).send().assert_problem(401, "unauthorized");
    app.get("/api/v1/me").bearer("agora_short").send().assert_problem(401, "unauthorized");

    // Expired.
    let expiring = app
        .post(
            "/api/v1/me/api-keys",
            &json!({"name": "a day", "scopes": ["read"], "expires_at": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339()}),
        )
        .bearer(&resident.access_token)
        .send()
        .assert_status(201)
        .json();
    let expiring = key_of(&expiring);
    app.get("/api/v1/me").bearer(&expiring).send().assert_status(200);
    app.clock.advance(chrono::Duration::days(2));
    app.get("/api/v1/me").bearer(&expiring).send().assert_problem(401, "unauthorized");

    // Suspension ends a key at once.
    let resident = app.login("shortlived", super::helpers::PASSWORD).assert_status(200).json();
    let resident = TestUser::from_session(&resident);
    let live = key_of(&create_key(&app, &resident, &["read"]));
    let moderator = app.user_with_roles("mod_one", &[Role::Moderator]);
    let until = (app.clock.now_utc() + chrono::Duration::days(3)).to_rfc3339();
    app.post(&format!("/api/v1/mod/users/{}/suspend", resident.id), &json!({"until": until, "reason": "spam run"}))
        .bearer(&moderator.access_token)
        .send()
        .assert_status(204);
    app.get("/api/v1/me").bearer(&live).send().assert_problem(401, "unauthorized");
}

#[test]
fn a_wrong_key_and_an_unknown_key_take_the_same_time() {
    let app = spawn_app();
    let resident = app.register("timed");
    let key = key_of(&create_key(&app, &resident, &["read"]));
    // Same prefix as a real key, wrong rest; and a prefix nobody holds.
    let wrong = format!("{}{}", &key[..14], "x".repeat(key.len() - 14));
    let unknown = format!("agora_{}", "y".repeat(key.len() - 6));
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..120 {
        for (i, candidate) in [&wrong, &unknown].into_iter().enumerate() {
            let started = Instant::now();
            let response = app.get("/api/v1/me").bearer(candidate).send();
            if round >= 20 {
                times[i].push(started.elapsed().as_micros() as i64);
            }
            response.assert_problem(401, "unauthorized");
        }
    }
    let median = |v: &mut Vec<i64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (wrong_us, unknown_us) = (median(&mut times[0]), median(&mut times[1]));
    // A difference that leaks (a slow hash on one path, an early exit on
    // the other) is a millisecond or more; noise is a fraction of that.
    assert!((wrong_us - unknown_us).abs() < 1_000, "wrong {wrong_us} µs, unknown {unknown_us} µs");
}
