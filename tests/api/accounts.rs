//! Registration, login, profiles and password changes.

use agora::store::schema::users;
use diesel::prelude::*;
use serde_json::json;

use super::helpers::{PASSWORD, spawn_app};

#[test]
fn register_login_refresh_logout_round_trip() {
    let app = spawn_app();
    let response = app
        .post(
            "/api/v1/auth/register",
            &json!({"username": "Alice_1", "email": "Alice@Example.org", "password": PASSWORD, "display_name": "Alice W."}),
        )
        .send();
    let session = response.assert_status(201).json();
    assert_eq!(session["user"]["username"], "alice_1");
    assert_eq!(session["user"]["email"], "alice@example.org");
    assert_eq!(session["user"]["display_name"], "Alice W.");
    assert_eq!(session["user"]["roles"], json!(["resident"]));
    assert_eq!(session["user"]["reputation"], 1);
    assert_eq!(session["user"]["privileges"], json!(["ask", "answer"]));
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["expires_in"], 900);
    let id = session["user"]["id"].as_i64().unwrap();
    assert_eq!(response.header("location"), Some(format!("/api/v1/users/{id}").as_str()));

    // Login by username (any case) and by email.
    for login in ["alice_1", "ALICE_1", "alice@example.org"] {
        app.login(login, PASSWORD).assert_status(200);
    }
    let login = app.login("alice_1", PASSWORD).json();
    let access = login["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/me").bearer(access).send().assert_status(200).json();
    assert_eq!(me["id"], id);

    let refreshed = app
        .post("/api/v1/auth/refresh", &json!({"refresh_token": login["refresh_token"]}))
        .send()
        .assert_status(200)
        .json();
    assert_ne!(refreshed["refresh_token"], login["refresh_token"]);
    let new_access = refreshed["access_token"].as_str().unwrap();
    app.get("/api/v1/me").bearer(new_access).send().assert_status(200);

    app.post("/api/v1/auth/logout", &json!({"refresh_token": refreshed["refresh_token"]}))
        .bearer(new_access)
        .send()
        .assert_status(204);
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": refreshed["refresh_token"]}))
        .send()
        .assert_problem(401, "unauthorized");
    // The other login (the registration's) is untouched.
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": session["refresh_token"]})).send().assert_status(200);
}

#[test]
fn logout_ignores_another_users_token() {
    let app = spawn_app();
    let alice = app.register("alice");
    let bob = app.register("bob_b");
    app.post("/api/v1/auth/logout", &json!({"refresh_token": alice.refresh_token}))
        .bearer(&bob.access_token)
        .send()
        .assert_status(204);
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": alice.refresh_token})).send().assert_status(200);
    app.post("/api/v1/auth/logout", &json!({"refresh_token": "x"})).send().assert_problem(401, "unauthorized");
}

#[test]
fn duplicate_usernames_and_emails_conflict() {
    let app = spawn_app();
    app.register("samesame");
    let upper = app
        .post(
            "/api/v1/auth/register",
            &json!({"username": "SameSame", "email": "other@example.org", "password": PASSWORD}),
        )
        .send();
    upper.assert_problem(409, "username_taken");
    let email = app
        .post(
            "/api/v1/auth/register",
            &json!({"username": "different", "email": "SAMESAME@example.org", "password": PASSWORD}),
        )
        .send();
    email.assert_problem(409, "email_taken");
}

#[test]
fn invalid_registrations_list_every_field() {
    let app = spawn_app();
    let cases = [
        (json!({"username": "ab", "email": "nope", "password": "short"}), vec!["username", "email", "password"]),
        (json!({"username": "ok_name", "email": "a@b.org", "password": "password123"}), vec!["password"]),
        (json!({"username": "ok_name", "email": "a@b.org", "password": "ok_name12345"}), vec!["password"]),
        (json!({"username": "bad name!", "email": "a@b.org", "password": PASSWORD}), vec!["username"]),
        (json!({"username": "admin", "email": "a@b.org", "password": PASSWORD}), vec!["username"]),
        (
            json!({"username": "ok_name", "email": "a@b.org", "password": PASSWORD, "display_name": ""}),
            vec!["display_name"],
        ),
        (json!({"username": "ok_name", "email": "a@b.org", "password": "p".repeat(257)}), vec!["password"]),
    ];
    for (body, fields) in cases {
        let problem = app.post("/api/v1/auth/register", &body).send().assert_problem(422, "validation_failed");
        let got: Vec<&str> =
            problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(got, fields, "{body}");
    }
}

#[test]
fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn_app();
    app.register("carol");
    let wrong = app.login("carol", "not the password at all");
    let unknown = app.login("nobody_here", "not the password at all");
    let (a, b) = (wrong.assert_problem(401, "unauthorized"), unknown.assert_problem(401, "unauthorized"));
    assert_eq!(a, b);
    assert_eq!(wrong.header("www-authenticate"), unknown.header("www-authenticate"));
}

#[test]
fn passwords_are_stored_as_argon2id_phc_strings() {
    let app = spawn_app();
    let user = app.register("dave");
    let hash: Option<String> =
        app.with_conn(|conn| users::table.find(user.id).select(users::password_hash).first(conn).unwrap());
    let hash = hash.unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
}

#[test]
fn repeated_login_failures_are_throttled() {
    let app = spawn_app();
    app.register("erin");
    for _ in 0..5 {
        app.login("erin", "wrong password again").assert_problem(401, "unauthorized");
    }
    let throttled = app.login("erin", PASSWORD);
    throttled.assert_problem(429, "rate_limited");
    let retry_after: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // Another account from the same address is not locked by erin's failures.
    app.register("frank");
    app.login("frank", PASSWORD).assert_status(200);
    // When the window has passed, the right password works and clears the count.
    app.clock.advance(chrono::Duration::seconds(retry_after as i64 + 1));
    app.login("erin", PASSWORD).assert_status(200);
    app.login("erin", "wrong password again").assert_problem(401, "unauthorized");
}

#[test]
fn failures_are_throttled_per_address_too() {
    let app = spawn_app();
    for i in 0..20 {
        app.login(&format!("ghost{i}"), "wrong password again").assert_problem(401, "unauthorized");
    }
    app.register("henry");
    app.login("henry", PASSWORD).assert_problem(429, "rate_limited");
}

#[test]
fn profile_updates_and_public_profiles() {
    let app = spawn_app();
    let user = app.register("ivy");
    let me = app
        .patch(
            "/api/v1/me",
            &json!({"display_name": "Ivy G", "bio": "Lives near the park.\nLikes bins.", "area": "Riverside"}),
        )
        .bearer(&user.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!((me["display_name"].as_str(), me["area"].as_str()), (Some("Ivy G"), Some("Riverside")));
    // Absent fields stay; null clears the area.
    let me =
        app.patch("/api/v1/me", &json!({"area": null})).bearer(&user.access_token).send().assert_status(200).json();
    assert_eq!(me["display_name"], "Ivy G");
    assert!(me["area"].is_null());
    let problem = app
        .patch("/api/v1/me", &json!({"display_name": "x".repeat(65), "area": ""}))
        .bearer(&user.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    app.patch("/api/v1/me", &json!({"bio": "hi"})).send().assert_problem(401, "unauthorized");

    let staff = app.user_with_roles("staff_sam", &[agora::domain::Role::Staff, agora::domain::Role::Analyst]);
    let public = app.get(&format!("/api/v1/users/{}", staff.id)).send().assert_status(200).json();
    assert_eq!(public["roles"], json!(["staff"]), "analyst is not public");
    assert!(public.get("email").is_none());
    let public = app.get(&format!("/api/v1/users/{}", user.id)).send().assert_status(200).json();
    assert_eq!(public["display_name"], "Ivy G");
}

#[test]
fn changing_the_password_ends_other_sessions() {
    let app = spawn_app();
    let first = app.register("jack");
    let second = super::helpers::TestUser::from_session(&app.login("jack", PASSWORD).json());
    let new_password = "a much better passphrase";

    app.post("/api/v1/me/password", &json!({"current_password": "wrong one here", "new_password": new_password}))
        .bearer(&first.access_token)
        .send()
        .assert_problem(403, "wrong_password");
    app.post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": "short"}))
        .bearer(&first.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.post("/api/v1/me/password", &json!({"current_password": PASSWORD, "new_password": new_password}))
        .bearer(&first.access_token)
        .send()
        .assert_status(204);

    // Every access token dies at once, including the one that made the change.
    app.get("/api/v1/me").bearer(&first.access_token).send().assert_problem(401, "unauthorized");
    app.get("/api/v1/me").bearer(&second.access_token).send().assert_problem(401, "unauthorized");
    // The other login's refresh token is revoked; this login's survives.
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": second.refresh_token}))
        .send()
        .assert_problem(401, "unauthorized");
    let renewed = app.post("/api/v1/auth/refresh", &json!({"refresh_token": first.refresh_token})).send().json();
    app.get("/api/v1/me").bearer(renewed["access_token"].as_str().unwrap()).send().assert_status(200);

    app.login("jack", PASSWORD).assert_problem(401, "unauthorized");
    app.login("jack", new_password).assert_status(200);
}
