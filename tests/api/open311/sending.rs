//! What is sent and how the answer is kept: a batch service's token,
//! resolved later into the id; lat/long; the asker's email only when the
//! setting and the asker both agree (and the address is verified); a long
//! question cut to the standard's 4,000 characters with its link kept.

use serde_json::{Value, json};

use super::{QUIET, ask, ask_with, escalate_ok, has_id, links_to, scene, set_open311, wait_for_escalation, wait_until};
use crate::helpers::{TestApp, TestUser};

#[test]
fn a_batch_service_gives_a_token_then_the_request_id() {
    let s = scene();
    let (app, server) = (&s.app, &s.server);
    let q = ask(app, &s.asker, "waste", "My green bin was not emptied on Tuesday");
    escalate_ok(app, &s.staff, q, &json!({"lat": 51.5072, "long": -0.1276}));

    let post = server.wait_for_posts(1).remove(0);
    assert_eq!(post.field("service_code"), Some("missed_bin"));
    let number = |name: &str| post.field(name).and_then(|v| v.parse::<f64>().ok());
    assert!(number("lat").is_some_and(|lat| (lat - 51.5072).abs() < 1e-9), "{:?}", post.fields);
    assert!(number("long").is_some_and(|long| (long + 0.1276).abs() < 1e-9), "{:?}", post.fields);
    assert!(!post.has("address_string"), "{:?}", post.fields);

    let case = server.wait_for_requests(1).remove(0);
    let token = case.token.clone().expect("a batch service answers with a token");
    assert!(case.service_request_id.is_none());
    let waiting = wait_for_escalation(app, &s.staff, q, "the token", |e| e["token"] == token.as_str());
    assert_eq!(waiting["status"], "submitted", "{waiting}");
    assert_eq!(waiting["service_request_id"], Value::Null, "{waiting}");

    // The client asks for the token until the council resolves it.
    let tokens = format!("/open311/v2/tokens/{token}.json");
    wait_until("the token to be asked for twice", || {
        let n = server.count("GET", &tokens);
        if n >= 2 { Ok(()) } else { Err(n.to_string()) }
    });
    let id = server.resolve_token(&token);
    let resolved = wait_for_escalation(app, &s.staff, q, "the id from the token", has_id);
    assert_eq!(resolved["service_request_id"], id.as_str(), "{resolved}");
    let open = wait_for_escalation(app, &s.staff, q, "the case's status", |e| e["status"] == "open");
    assert_eq!(open["service_request_id"], id.as_str());
    assert!(server.count("GET", &format!("/open311/v2/requests/{id}.json")) >= 1);
    let asked = server.count("GET", &tokens);
    std::thread::sleep(QUIET);
    assert!(server.count("GET", &tokens) <= asked + 1, "the token is still asked for once the id is known");
    assert_eq!((server.requests().len(), server.posts().len()), (1, 1));
}

fn verify_email(app: &TestApp, user: &TestUser) {
    use agora::store::schema::users;
    use diesel::prelude::*;
    let now = app.clock.now();
    app.with_conn(|conn| {
        diesel::update(users::table.find(user.id)).set(users::email_verified_at.eq(Some(now))).execute(conn).unwrap()
    });
}

#[track_caller]
fn ask_sharing(app: &TestApp, user: &TestUser, title: &str, share: bool) -> i64 {
    let body = json!({
        "title": title,
        "body": format!("{title}: it has been dark for a week and the pavement is uneven."),
        "category": "lighting",
        "share_email_with_council": share,
    });
    ask_with(app, user, &body)
}

#[test]
fn the_askers_email_goes_only_when_the_setting_and_the_asker_agree() {
    let s = scene();
    let (app, server) = (&s.app, &s.server);
    set_open311(app, &s.admin, "share_email", json!(true));
    let vera = app.register("verified_vera");
    app.set_reputation(vera.id, 100);
    verify_email(app, &vera);
    let uma = app.register("unverified_uma");
    let agreed = ask_sharing(app, &vera, "The lamp outside number 4 is out", true);
    let declined = ask_sharing(app, &vera, "The lamp outside number 6 is out", false);
    let unverified = ask_sharing(app, &uma, "The lamp outside number 8 is out", true);
    let location = json!({"address_string": "Elm Road, Springfield"});
    for q in [agreed, declined, unverified] {
        escalate_ok(app, &s.staff, q, &location);
    }
    let posts = server.wait_for_posts(3);
    let email_of = |q: i64| {
        let post = posts
            .iter()
            .find(|p| p.field("description").is_some_and(|d| links_to(d, q)))
            .unwrap_or_else(|| panic!("no POST for question {q}"));
        post.field("email").map(str::to_owned)
    };
    assert_eq!(email_of(agreed).as_deref(), Some("verified_vera@example.org"));
    assert_eq!(email_of(declined), None, "the asker did not agree");
    assert_eq!(email_of(unverified), None, "the address is not verified");
    for post in &posts {
        assert!(!post.has("first_name") && !post.has("last_name"), "{:?}", post.fields);
    }

    // The council's side turned off: not even when the asker agreed.
    set_open311(app, &s.admin, "share_email", json!(false));
    let later = ask_sharing(app, &vera, "The lamp outside number 10 is out", true);
    escalate_ok(app, &s.staff, later, &location);
    let posts = server.wait_for_posts(4);
    let post = posts.iter().find(|p| p.field("description").is_some_and(|d| links_to(d, later))).expect("the POST");
    assert!(!post.has("email"), "{:?}", post.fields);
}

#[test]
fn a_long_question_is_cut_to_4000_characters_with_its_link_kept() {
    let s = scene();
    let (app, server) = (&s.app, &s.server);
    let title = "Every lamp on the riverside path has been out since the storm";
    let body: String = (0..400).map(|i| format!("Sentence number {i} about the dark path. ")).collect();
    assert!(body.chars().count() > 12_000);
    let q = ask_with(app, &s.asker, &json!({"title": title, "body": body, "category": "lighting"}));
    escalate_ok(app, &s.staff, q, &json!({"address_string": "Riverside path, Springfield"}));
    let post = server.wait_for_posts(1).remove(0);
    assert_eq!(post.status, 200, "the endpoint refused it: {post:?}");
    let description = post.field("description").expect("a description");
    let length = description.chars().count();
    assert!((3500..=4000).contains(&length), "{length} characters");
    assert!(description.starts_with(title), "{description}");
    assert!(description.contains("Sentence number 0 about the dark path."), "{description}");
    assert!(!description.contains("Sentence number 399"), "not cut");
    assert!(description.contains('…'), "cut without an ellipsis");
    assert!(links_to(description, q), "the link was cut: {description}");
    wait_for_escalation(app, &s.staff, q, "the council's id", has_id);
}
