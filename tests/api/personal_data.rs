//! Personal-data rights: the export holds all of the caller's data and
//! nothing of anyone else's; erasure leaves the old name, address and
//! display name in no response, search result or dump, and ends every
//! token and key.

use std::time::{Duration, Instant};

use agora::domain::Role;
use agora::service::import_export::dump;
use serde_json::{Value, json};

use super::helpers::{PASSWORD, TestApp, TestResponse, TestUser, spawn_app};

/// A resident with a trace in every part of the community.
struct Resident {
    user: TestUser,
    question: i64,
    /// The council's question she answered and commented on.
    other_question: i64,
    answer: i64,
    comment: i64,
}

fn busy_resident(app: &TestApp, admin: &TestUser, username: &str) -> Resident {
    let user = app.register(username);
    app.patch(
        "/api/v1/me",
        &json!({"display_name": format!("{username} Display"), "bio": format!("bio of {username}"), "area": "Northfield"}),
    )
    .bearer(&user.access_token)
    .send()
    .assert_status(200);
    app.set_reputation(user.id, 500);
    let question = app.ask(&user, "bins", &format!("Bulky waste collection for household {}", user.id), &[])["id"]
        .as_i64()
        .unwrap();
    let other_question =
        app.ask(admin, "bins", "A question by the council about garden waste", &[])["id"].as_i64().unwrap();
    let answer = app.answer(&user, other_question, "Book it online; the council collects within ten days.")["id"]
        .as_i64()
        .unwrap();
    let comment = app
        .post(&format!("/api/v1/questions/{other_question}/comments"), &json!({"body": "Thanks, that helped me too."}))
        .bearer(&user.access_token)
        .send()
        .assert_status(201)
        .json()["id"]
        .as_i64()
        .unwrap();
    app.call("PUT", &format!("/api/v1/questions/{other_question}/vote"))
        .json(&json!({"value": 1}))
        .bearer(&user.access_token)
        .send()
        .assert_status(200);
    app.post(&format!("/api/v1/questions/{other_question}/follow"), &json!({}))
        .bearer(&user.access_token)
        .send()
        .assert_status(204);
    Resident { user, question, other_question, answer, comment }
}

fn export_of(app: &TestApp, user: &TestUser) -> Value {
    let response = app.get("/api/v1/me/export").bearer(&user.access_token).send();
    response.assert_status(200);
    assert!(response.header("content-disposition").unwrap().starts_with("attachment"));
    response.json()
}

fn ids(export: &Value, part: &str) -> Vec<i64> {
    export[part]
        .as_array()
        .unwrap_or_else(|| panic!("{part} missing"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn the_export_holds_all_of_the_callers_data_and_nothing_of_anyone_elses() {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "bins");
    let alice = busy_resident(&app, &admin, "alice_export");
    let bob = busy_resident(&app, &admin, "bob_export");
    app.post("/api/v1/me/api-keys", &json!({"name": "alice's sheet", "scopes": ["read"]}))
        .bearer(&alice.user.access_token)
        .send()
        .assert_status(201);

    let export = export_of(&app, &alice.user);
    assert_eq!(export["format"], "agora-personal-data-v1");
    assert_eq!(export["profile"]["username"], "alice_export");
    assert_eq!(export["profile"]["email"], "alice_export@example.org");
    assert_eq!(export["profile"]["bio"], "bio of alice_export");
    assert_eq!(ids(&export, "questions"), vec![alice.question]);
    assert_eq!(ids(&export, "answers"), vec![alice.answer]);
    assert_eq!(ids(&export, "comments"), vec![alice.comment]);
    assert_eq!(export["votes"].as_array().unwrap().len(), 1);
    // Her own question (askers follow what they ask) and the one she answered.
    assert_eq!(export["follows"].as_array().unwrap().len(), 2);
    assert!(!export["revisions"].as_array().unwrap().is_empty());
    assert!(!export["sessions"].as_array().unwrap().is_empty());
    assert_eq!(export["api_keys"][0]["name"], "alice's sheet");
    assert!(export["api_keys"][0].get("key").is_none());
    // Posting recorded deflection events tied to her.
    assert!(!export["deflection_events"].as_array().unwrap().is_empty());
    assert_eq!(export["truncated"], json!([]));

    // Nothing of Bob's: no id of his posts, no trace of his name or address.
    let text = export.to_string();
    for id in [bob.question, bob.answer, bob.comment] {
        assert!(!ids(&export, "questions").contains(&id) && !ids(&export, "answers").contains(&id));
    }
    assert!(!text.contains("bob_export"), "the export leaks another user");
    assert!(export["deflection_events"].as_array().unwrap().iter().all(|e| e["user_id"] == alice.user.id));
    assert!(export["votes"].as_array().unwrap().iter().all(|v| v["voter_id"] == alice.user.id));
    assert!(export["reputation_events"].as_array().unwrap().iter().all(|r| r["user_id"] == alice.user.id));

    app.get("/api/v1/me/export").send().assert_problem(401, "unauthorized");
}

/// Every string in which the old identity could surface.
fn assert_forgotten(haystack: &str, where_: &str) {
    for old in ["carol_erased", "carol_erased@example.org", "carol_erased Display", "bio of carol_erased"] {
        assert!(!haystack.contains(old), "{where_} still shows {old:?}");
    }
}

fn ok(app: &TestApp, path: &str, who: Option<&TestUser>) -> TestResponse {
    let call = app.get(path);
    let response = match who {
        Some(user) => call.bearer(&user.access_token).send(),
        None => call.send(),
    };
    response.assert_status(200);
    response
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn after_erasure_the_person_appears_nowhere_and_their_credentials_fail() {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "bins");
    let carol = busy_resident(&app, &admin, "carol_erased");
    let key = app
        .post("/api/v1/me/api-keys", &json!({"name": "carol's key", "scopes": ["read"]}))
        .bearer(&carol.user.access_token)
        .send()
        .assert_status(201)
        .json()["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // An upvote puts her in the reputation ledger.
    app.call("PUT", &format!("/api/v1/questions/{}/vote", carol.question))
        .json(&json!({"value": 1}))
        .bearer(&admin.access_token)
        .send()
        .assert_status(200);
    let ledger_before = app.ledger_reputation(carol.user.id);
    assert!(ledger_before > 1);

    // The wrong password, a bad body, and nobody signed in are refused.
    let erase = |body: Value, token: &str| app.call("DELETE", "/api/v1/me").json(&body).bearer(token).send();
    erase(json!({"password": "not the password at all"}), &carol.user.access_token)
        .assert_problem(403, "wrong_password");
    erase(json!({"password": PASSWORD, "delete_content": null}), &carol.user.access_token)
        .assert_problem(422, "validation_failed");
    app.call("DELETE", "/api/v1/me").json(&json!({"password": PASSWORD})).send().assert_problem(401, "unauthorized");
    app.get("/api/v1/me").bearer(&carol.user.access_token).send().assert_status(200);

    erase(json!({"password": PASSWORD}), &carol.user.access_token).assert_status(204);

    // Tokens, refresh tokens, keys and the password all fail.
    app.get("/api/v1/me").bearer(&carol.user.access_token).send().assert_problem(401, "unauthorized");
    app.get("/api/v1/me").bearer(&key).send().assert_problem(401, "unauthorized");
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": carol.user.refresh_token}))
        .send()
        .assert_problem(401, "unauthorized");
    app.login("carol_erased", PASSWORD).assert_problem(401, "unauthorized");
    app.login("carol_erased@example.org", PASSWORD).assert_problem(401, "unauthorized");

    // Her content stays, under the anonymous name.
    let anonymous = format!("former-resident-{}", carol.user.id);
    let question = ok(&app, &format!("/api/v1/questions/{}", carol.question), None);
    assert_eq!(question.json()["author"]["username"], json!(anonymous));
    assert_eq!(question.json()["author"]["display_name"], json!(anonymous));
    assert_forgotten(&question.text, "the question");
    let profile = ok(&app, &format!("/api/v1/users/{}", carol.user.id), None);
    assert_eq!(profile.json()["username"], json!(anonymous));
    assert_forgotten(&profile.text, "the profile");
    let answered = ok(&app, &format!("/api/v1/questions/{}", carol.other_question), None);
    assert!(answered.text.contains(&anonymous), "her answer stays under the anonymous name");
    assert!(answered.text.contains("collects within ten days"));
    assert_forgotten(&answered.text, "the question she answered");
    for path in [
        "/api/v1/users".to_owned(),
        "/api/v1/questions?sort=newest".to_owned(),
        format!("/api/v1/questions/{}/revisions", carol.question),
        "/api/v1/search?q=bulky%20waste".to_owned(),
        "/api/v1/questions/similar?text=bulky%20waste%20collection".to_owned(),
    ] {
        let response = ok(&app, &path, None);
        assert_forgotten(&response.text, &path);
    }
    let audit = ok(&app, "/api/v1/mod/audit-log?action=erase", Some(&admin));
    assert_eq!(audit.json()["items"][0]["target_id"], carol.user.id);
    assert_forgotten(&audit.text, "the audit log");

    // Nor does the dump hold her.
    let dir = std::env::temp_dir().join(format!("agora-erasure-dump-{}", uuid::Uuid::new_v4()));
    app.with_conn(|conn| dump::export(conn, &dir, &mut |_, _| {}).expect("export"));
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        assert_forgotten(&std::fs::read_to_string(&path).unwrap(), &path.display().to_string());
    }
    let _ = std::fs::remove_dir_all(&dir);

    // The reputation ledger is kept under the anonymous id.
    assert_eq!(app.ledger_reputation(carol.user.id), ledger_before);
    // The name is free again for nobody: former-resident-* cannot be registered.
    app.post(
        "/api/v1/auth/register",
        &json!({"username": format!("former-resident-{}", carol.user.id + 1), "email": "x@example.org", "password": PASSWORD}),
    )
    .send()
    .assert_problem(422, "validation_failed");
    // Erasing twice finds nobody.
    app.post(&format!("/api/v1/admin/users/{}/erase", carol.user.id), &json!({}))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(404, "not_found");
}

#[test]
fn an_admin_erases_on_request_and_can_delete_the_content_with_the_person() {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "bins");
    let dave = busy_resident(&app, &admin, "dave_erased");
    let hits = |q: &str| -> Vec<i64> {
        app.get(&format!("/api/v1/search?q={q}")).send().assert_status(200).json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["question_id"].as_i64().unwrap())
            .collect()
    };
    eventually("the question indexed", || hits("bulky").contains(&dave.question));

    let path = format!("/api/v1/admin/users/{}/erase", dave.user.id);
    let moderator = app.user_with_roles("mod_erase", &[Role::Moderator]);
    app.post(&path, &json!({})).bearer(&moderator.access_token).send().assert_problem(403, "forbidden");
    app.post(&path, &json!({"delete_content": "yes"}))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    // An array is not the body, though serde would read one ("[]" once
    // erased an account: the contract fuzz found it).
    app.post(&path, &json!([])).bearer(&admin.access_token).send().assert_problem(422, "validation_failed");
    app.post("/api/v1/admin/users/999999/erase", &json!({}))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(404, "not_found");
    app.post(&path, &json!({"delete_content": true})).bearer(&admin.access_token).send().assert_status(204);

    app.get(&format!("/api/v1/questions/{}", dave.question)).send().assert_problem(404, "not_found");
    eventually("the question left the index", || !hits("bulky").contains(&dave.question));
    let answers = ok(&app, &format!("/api/v1/questions/{}", dave.other_question), None);
    assert!(!answers.text.contains("collects within ten days"), "the deleted answer still shows");
    let audit = app.get("/api/v1/mod/audit-log?action=erase").bearer(&admin.access_token).send().json();
    assert_eq!(audit["items"][0]["actor_id"], admin.id);
    assert!(!audit.to_string().contains("dave_erased"));

    // An admin erases themselves only with their password, and the only
    // admin not at all.
    app.post(&format!("/api/v1/admin/users/{}/erase", admin.id), &json!({}))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(403, "forbidden");
    app.call("DELETE", "/api/v1/me")
        .json(&json!({"password": PASSWORD}))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(409, "last_admin_guard");
}
