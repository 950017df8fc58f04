//! Automatic escalation: a question asked with `escalate_if_unanswered`
//! and a location, still unanswered when the set hours have passed (by the
//! app's clock), becomes a case with no one acting; an answered, a hidden
//! or an ordinary question does not.

use agora::domain::Role;
use serde_json::{Value, json};

use super::{ASKER, QUIET, STAFF, ask_with, cases_for, escalation, escalation_response, has_id, links_to, scene};
use super::{set_open311, wait_for_escalation};
use crate::helpers::{TestApp, TestUser};
use crate::webhooks::{audit, relogin};

const LOCATION: &str = "Lamp post 14, Mill Lane";

#[track_caller]
fn ask_escalating(app: &TestApp, user: &TestUser, title: &str) -> i64 {
    let body = json!({
        "title": title,
        "body": format!("{title}: it has been like this for a week now."),
        "category": "lighting",
        "escalate_if_unanswered": true,
        "location": {"address_string": LOCATION},
        "share_email_with_council": true,
    });
    ask_with(app, user, &body)
}

#[test]
fn an_unanswered_question_is_escalated_once_the_set_hours_have_passed() {
    let s = scene();
    let (app, server) = (&s.app, &s.server);
    set_open311(app, &s.admin, "auto_escalate_after_hours", json!(24));
    let helper = app.register("helper_hal");
    let moderator = app.user_with_roles("mod_mo", &[Role::Moderator]);

    let unanswered = ask_escalating(app, &s.asker, "The street light on Mill Lane has been out for a week");
    let answered = ask_escalating(app, &s.asker, "The lamp outside number 3 flickers all night long");
    app.answer(&helper, answered, "It is on the council's repair list already: they fix it on Friday.");
    let hidden = ask_escalating(app, &s.asker, "Lamp post 9 leans over the pavement at an angle");
    app.call("POST", &format!("/api/v1/mod/posts/question/{hidden}/hide"))
        .bearer(&moderator.access_token)
        .send()
        .assert_status(204);
    let plain = ask_with(
        app,
        &s.asker,
        &json!({
            "title": "Who looks after the lamps in the park at night",
            "body": "Nobody seems to know who to ask about the lamps in the park.",
            "category": "lighting",
        }),
    );
    let asked = [unanswered, answered, hidden, plain];
    for q in asked {
        escalation_response(app, Some(&s.staff), q).assert_status(404);
    }

    // 23 hours on: too early.
    app.clock.advance(chrono::Duration::hours(23));
    std::thread::sleep(QUIET);
    assert!(server.posts().is_empty(), "escalated early: {:#?}", server.posts());

    // 25 hours on: the unanswered one, and only it.
    app.clock.advance(chrono::Duration::hours(2));
    let case = server.wait_for_requests(1).remove(0);
    assert!(links_to(&case.description, unanswered), "{}", case.description);
    std::thread::sleep(QUIET);
    assert_eq!(server.requests().len(), 1, "{:#?}", server.requests());
    assert_eq!(server.posts().len(), 1);
    let post = server.posts().remove(0);
    assert_eq!(post.field("service_code"), Some("streetlight"));
    assert_eq!(post.field("address_string"), Some(LOCATION));
    assert!(!post.has("email"), "the setting is off: {:?}", post.fields);
    assert!(post.fields.iter().all(|(name, _)| !name.starts_with("attribute[")), "{:?}", post.fields);
    assert_eq!(cases_for(server, unanswered).len(), 1);

    // Sessions expired with the clock: sign in again.
    let staff = relogin(app, STAFF);
    let asker = relogin(app, ASKER);
    let admin = relogin(app, "admin_root");
    let escalated = wait_for_escalation(app, &staff, unanswered, "the council's id", has_id);
    assert_eq!(escalated["service_request_id"], case.service_request_id.as_deref().unwrap_or_default());
    assert_eq!(escalation(app, &asker, unanswered)["service_code"], "streetlight");
    for q in [answered, hidden, plain] {
        escalation_response(app, Some(&staff), q).assert_status(404);
    }

    // No one acted: the audit log says so.
    let entries = audit(app, &admin, "escalate");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["target_id"], unanswered, "{entries:?}");
    assert_eq!(entries[0]["actor_id"], Value::Null, "{entries:?}");
}

#[test]
fn the_hours_are_counted_from_when_the_question_was_asked() {
    let s = scene();
    let (app, server) = (&s.app, &s.server);
    // The default: 48 hours.
    let first = ask_escalating(app, &s.asker, "The lamp by the war memorial is out again");
    app.clock.advance(chrono::Duration::hours(30));
    let asker = relogin(app, ASKER);
    let second = ask_escalating(app, &asker, "The lamp by the library steps is out as well");
    app.clock.advance(chrono::Duration::hours(19));
    // 49 hours for the first, 19 for the second.
    let case = server.wait_for_requests(1).remove(0);
    assert!(links_to(&case.description, first), "{}", case.description);
    std::thread::sleep(QUIET);
    assert_eq!(server.requests().len(), 1);
    app.clock.advance(chrono::Duration::hours(30));
    server.wait_for_requests(2);
    assert_eq!(cases_for(server, second).len(), 1);
    std::thread::sleep(QUIET);
    assert_eq!(server.requests().len(), 2, "{:#?}", server.requests());
}
