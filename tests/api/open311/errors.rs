//! The endpoint's refusals, as its error arrays say them (JSON, or XML even
//! when JSON was asked): a wrong key keeps the escalation pending until an
//! admin fixes it; a 400 fails it for good with the council's message; a
//! duplicate refusal takes the request already filed, or fails when there
//! is none to find.

use std::time::Duration;

use serde_json::json;

use super::{API_KEY, QUIET, ask, assert_already_escalated, escalate, escalate_ok, escalation, has_id, scene};
use super::{set_open311, wait_for_escalation};
use crate::webhooks::audit;

#[test]
fn a_wrong_api_key_keeps_the_escalation_pending_until_an_admin_fixes_it() {
    let s = scene();
    let (app, server) = (&s.app, &s.server);
    set_open311(app, &s.admin, "api_key", json!("not-the-councils-key"));
    let q = ask(app, &s.asker, "lighting", "The lamp at the end of Cherry Lane is out");
    escalate_ok(app, &s.staff, q, &json!({"address_string": "Cherry Lane, Springfield"}));
    let refused = wait_for_escalation(app, &s.staff, q, "the 403 to be kept", |e| {
        e["last_error"].as_str().is_some_and(|m| m.contains("403"))
    });
    assert_eq!(refused["status"], "pending", "{refused}");
    assert!(!has_id(&refused), "{refused}");
    let message = refused["last_error"].as_str().unwrap_or_default();
    assert!(message.contains("invalid api_key"), "the endpoint's description is kept: {message}");
    assert!(server.requests().is_empty());
    let posts = server.posts();
    assert!(posts.iter().all(|p| p.status == 403 && p.field("api_key") == Some("not-the-councils-key")), "{posts:#?}");
    // Retried, and still refused.
    server.wait_for_posts(posts.len() + 1);
    assert_eq!(escalation(app, &s.staff, q)["status"], "pending");

    // The admin fixes the key: the next retry is taken.
    set_open311(app, &s.admin, "api_key", json!(API_KEY));
    let sent = wait_for_escalation(app, &s.staff, q, "the escalation to be sent with the right key", has_id);
    assert!(matches!(sent["status"].as_str(), Some("submitted" | "open")), "{sent}");
    std::thread::sleep(QUIET);
    assert_eq!(server.requests().len(), 1, "{:#?}", server.requests());
    let last = server.posts().pop().expect("the last POST");
    assert_eq!((last.status, last.field("api_key")), (200, Some(API_KEY)));
    assert!(audit(app, &s.admin, "escalation_failed").is_empty());
}

#[test]
fn a_refusal_in_xml_fails_the_escalation_for_good_with_the_councils_message() {
    let s = scene();
    let (app, server) = (&s.app, &s.server);
    // Its errors come as XML though the client asks for .json, and its
    // definition forgets an attribute its POSTs require.
    server.errors_as_xml(true);
    let q = ask(app, &s.asker, "vandalism", "Someone sprayed tags all over the bandstand");
    escalate_ok(app, &s.staff, q, &json!({"address_string": "Bandstand, Victoria Park"}));
    let failed = wait_for_escalation(app, &s.staff, q, "the escalation to fail", |e| e["status"] == "failed");
    let message = failed["last_error"].as_str().unwrap_or_default();
    assert!(message.contains("400") && message.contains("attribute[surface] is required"), "{failed}");
    assert!(!has_id(&failed), "{failed}");
    std::thread::sleep(QUIET);
    assert_eq!(server.posts().len(), 1, "a refusal for good is not retried");
    assert!(server.requests().is_empty());
    assert_eq!(escalation(app, &s.staff, q)["status"], "failed");

    let entries = audit(app, &s.admin, "escalation_failed");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!((entries[0]["target_type"].as_str(), entries[0]["target_id"].as_i64()), (Some("question"), Some(q)));
    // One case per question, ever: a failed one too.
    assert_already_escalated(&escalate(app, &s.staff, q, &json!({"address_string": "Bandstand, Victoria Park"})));
}

#[test]
fn a_duplicate_refusal_takes_the_request_already_filed() {
    let s = scene();
    let (app, server) = (&s.app, &s.server);
    // The first POST makes the case but its answer comes after the timeout.
    server.hold_next_post(Duration::from_millis(1500));
    let q = ask(app, &s.asker, "lighting", "The lamp on Quay Street buzzes and goes dark");
    escalate_ok(app, &s.staff, q, &json!({"address_string": "Quay Street, Springfield"}));
    server.wait_for_posts(1);
    // The search before the resend misses it, as a lagging index would: the
    // resend is refused as a duplicate, and the search after finds it.
    server.hide_from_listing(1);
    let found = wait_for_escalation(app, &s.staff, q, "the filed request to be taken", has_id);
    let cases = server.requests();
    assert_eq!(cases.len(), 1, "{cases:#?}");
    assert_eq!(found["service_request_id"], cases[0].service_request_id.as_deref().unwrap_or_default());
    assert!(matches!(found["status"].as_str(), Some("submitted" | "open")), "{found}");
    std::thread::sleep(Duration::from_millis(1500) + QUIET);
    let posts = server.posts();
    assert_eq!(posts.iter().map(|p| p.status).collect::<Vec<_>>(), [200, 400], "{posts:#?}");
    assert_eq!(posts[0].field("description"), posts[1].field("description"), "the same request, resent");
    assert_eq!(server.requests().len(), 1);
    assert!(audit(app, &s.admin, "escalation_failed").is_empty());
}

#[test]
fn a_duplicate_refusal_with_no_request_to_find_fails() {
    let s = scene();
    let (app, server) = (&s.app, &s.server);
    server.hold_next_post(Duration::from_millis(1500));
    let q = ask(app, &s.asker, "lighting", "The lamp by the ferry steps is out");
    escalate_ok(app, &s.staff, q, &json!({"address_string": "Ferry steps, Springfield"}));
    server.wait_for_posts(1);
    // Searches never find it (an endpoint whose search is broken).
    server.hide_from_listing(1000);
    let failed = wait_for_escalation(app, &s.staff, q, "the escalation to fail", |e| e["status"] == "failed");
    let message = failed["last_error"].as_str().unwrap_or_default();
    assert!(message.contains("duplicate"), "{failed}");
    std::thread::sleep(Duration::from_millis(1500) + QUIET);
    assert_eq!(server.posts().iter().map(|p| p.status).collect::<Vec<_>>(), [200, 400]);
    assert_eq!(audit(app, &s.admin, "escalation_failed").len(), 1);
}
