//! Access and refresh tokens: forgery, expiry, `alg: none`, replay, and
//! revocation by suspension.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::helpers::{TestUser, spawn_app};

fn claims_of(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[test]
fn forged_and_malformed_tokens_are_refused() {
    let app = spawn_app();
    let user = app.register("mallory");
    let claims = claims_of(&user.access_token);

    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"not-the-server-secret-0123456789abcdef"),
    )
    .unwrap();
    let mut admin_claims = claims.clone();
    admin_claims["roles"] = json!(["admin"]);
    let header_none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("{header_none}.{}.", URL_SAFE_NO_PAD.encode(admin_claims.to_string()));
    let [head, _, signature]: [&str; 3] = user.access_token.split('.').collect::<Vec<_>>().try_into().unwrap();
    let tampered = format!("{head}.{}.{signature}", URL_SAFE_NO_PAD.encode(admin_claims.to_string()));
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(b"test-secret-0123456789-0123456789-abcdef"),
    )
    .unwrap();

    for token in [forged.as_str(), alg_none.as_str(), tampered.as_str(), hs512.as_str(), "garbage", "a.b.c"] {
        app.get("/api/v1/me").bearer(token).send().assert_problem(401, "unauthorized");
    }
    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", user.access_token.as_str()] {
        app.get("/api/v1/me").header("Authorization", header).send().assert_problem(401, "unauthorized");
    }
    // A bad token on a public route is still refused, not ignored.
    app.get(&format!("/api/v1/users/{}", user.id)).bearer("garbage").send().assert_problem(401, "unauthorized");
    app.get("/api/v1/me").bearer(&user.access_token).send().assert_status(200);
}

#[test]
fn access_tokens_expire_after_fifteen_minutes_with_no_leeway() {
    let app = spawn_app();
    let user = app.register("nancy");
    app.clock.advance(Duration::seconds(14 * 60 + 50));
    app.get("/api/v1/me").bearer(&user.access_token).send().assert_status(200);
    app.clock.advance(Duration::seconds(10));
    app.get("/api/v1/me").bearer(&user.access_token).send().assert_problem(401, "unauthorized");
    // The refresh token still works and gives a fresh access token.
    let session = app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh_token})).send().json();
    app.get("/api/v1/me").bearer(session["access_token"].as_str().unwrap()).send().assert_status(200);
}

#[test]
fn replayed_refresh_token_revokes_the_whole_family() {
    let app = spawn_app();
    let user = app.register("oscar");
    let first = app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh_token})).send();
    let rotated = first.assert_status(200).json();
    let second = app.post("/api/v1/auth/refresh", &json!({"refresh_token": rotated["refresh_token"]})).send();
    let newest = second.assert_status(200).json();

    // An attacker replays the original token: refused, and the family dies.
    let replay = app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh_token})).send();
    replay.assert_problem(401, "unauthorized");
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": newest["refresh_token"]}))
        .send()
        .assert_problem(401, "unauthorized");

    // Other logins of the same user are untouched.
    let other = TestUser::from_session(&app.login("oscar", super::helpers::PASSWORD).json());
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": other.refresh_token})).send().assert_status(200);
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": "never-issued"}))
        .send()
        .assert_problem(401, "unauthorized");
}

#[test]
fn refresh_tokens_expire_after_thirty_days() {
    let app = spawn_app();
    let user = app.register("pam_p");
    app.clock.advance(Duration::days(30) + Duration::seconds(1));
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh_token}))
        .send()
        .assert_problem(401, "unauthorized");
}

#[test]
fn suspension_kills_live_tokens_at_once() {
    let app = spawn_app();
    let user = app.register("quentin");
    app.get("/api/v1/me").bearer(&user.access_token).send().assert_status(200);
    let until = app.clock.now() + Duration::days(3);
    app.with_conn(|conn| {
        agora::store::users::set_suspension(conn, user.id, Some(until), Some("spam"), app.clock.now()).unwrap()
    });
    app.get("/api/v1/me").bearer(&user.access_token).send().assert_problem(401, "unauthorized");
    let login = app.login("quentin", super::helpers::PASSWORD);
    let problem = login.assert_problem(403, "account_suspended");
    assert!(problem["detail"].as_str().unwrap().contains(&until.format("%Y-%m-%d").to_string()), "{problem}");
    app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh_token}))
        .send()
        .assert_problem(403, "account_suspended");

    // When the suspension ends, logging in works again.
    app.clock.advance(Duration::days(3) + Duration::seconds(1));
    app.login("quentin", super::helpers::PASSWORD).assert_status(200);
}
