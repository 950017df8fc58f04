//! A staff escalation end to end: one form-encoded POST with the
//! standard's fields, the escalation submitted then open with the council's
//! id, the council closing the case with notes, the asker and followers
//! told (inbox and webhooks), one case per question, polling ended; and
//! the audit log and the deflection figures recording it.

use serde_json::{Value, json};

use super::{API_KEY, QUIET, ask, ask_with, assert_already_escalated, detail, escalate, escalate_ok, has_id, links_to};
use super::{notifications, scene, set_open311, wait_for_escalation, wait_until};
use crate::webhooks::receiver::Receiver;
use crate::webhooks::{audit, create_endpoint, is_timestamp};

const TITLE: &str = "Deep pothole outside 12 Mill Lane";
const BODY: &str = "There is a **deep** pothole in the northbound lane outside 12 Mill Lane.\n\n\
                    Two cyclists have come off their bikes there this week.";
const ADDRESS: &str = "12 Mill Lane, Springfield";

/// Whether a webhook's data is about the question (`question.id` or
/// `question_id`, at any depth).
fn about(data: &Value, question: i64) -> bool {
    match data {
        Value::Object(fields) => {
            fields.get("question_id").is_some_and(|id| *id == question)
                || fields.get("question").is_some_and(|q| q["id"] == question)
                || fields.values().any(|v| about(v, question))
        }
        Value::Array(items) => items.iter().any(|v| about(v, question)),
        _ => false,
    }
}

/// Waits for a webhook of `event_type` about the question.
#[track_caller]
fn webhook(receiver: &Receiver, event_type: &str, question: i64) -> Value {
    wait_until(&format!("a {event_type} webhook"), || {
        let requests = receiver.requests();
        requests
            .iter()
            .map(|r| r.json())
            .find(|body| body["type"] == event_type && about(&body["data"], question))
            .ok_or_else(|| format!("{:?}", requests.iter().map(|r| r.summary()).collect::<Vec<_>>()))
    })
}

#[test]
fn a_staff_escalation_reaches_the_council_and_its_status_flows_back() {
    let s = scene();
    let (app, server) = (&s.app, &s.server);
    set_open311(app, &s.admin, "jurisdiction_id", json!("springfield.example"));
    let hooks = Receiver::start();
    create_endpoint(app, &s.admin, &hooks.url(), &["question.escalated", "escalation.updated"]);
    let follower = app.register("follower_fay");
    let q = ask_with(app, &s.asker, &json!({"title": TITLE, "body": BODY, "category": "roads", "tags": []}));
    app.call("POST", &format!("/api/v1/questions/{q}/follow")).bearer(&follower.access_token).send().assert_status(204);
    assert_eq!(detail(app, &s.asker, q)["escalation"], Value::Null);

    // Status reads fail for now, so the escalation stays `submitted`.
    server.fail_status_reads(true);
    let request = json!({
        "address_string": ADDRESS,
        "attributes": {"depth": "deep", "lanes": ["north", "south"]},
    });
    let accepted = escalate_ok(app, &s.staff, q, &request);
    assert_eq!(accepted["service_code"], "pothole", "{accepted}");
    assert!(is_timestamp(&accepted["created_at"]), "{accepted}");

    // One POST with the standard's form fields.
    let post = server.wait_for_posts(1).remove(0);
    assert_eq!(post.path, "/open311/v2/requests.json");
    assert!(post.content_type.starts_with("application/x-www-form-urlencoded"), "{}", post.content_type);
    assert_eq!(post.status, 200, "{post:?}");
    assert_eq!(post.field("api_key"), Some(API_KEY));
    assert_eq!(post.field("jurisdiction_id"), Some("springfield.example"));
    assert_eq!(post.field("service_code"), Some("pothole"));
    assert_eq!(post.field("address_string"), Some(ADDRESS));
    assert_eq!(post.all("attribute[depth]"), ["deep"]);
    assert_eq!(post.all("attribute[lanes][]"), ["north", "south"]);
    for absent in ["lat", "long", "email", "first_name", "last_name", "phone", "attribute[emergency]"] {
        assert!(!post.has(absent), "{absent} sent: {:?}", post.fields);
    }
    let description = post.field("description").expect("a description");
    assert!(description.chars().count() <= 4000);
    assert!(description.contains(TITLE), "{description}");
    assert!(description.contains("Two cyclists have come off their bikes there this week."), "{description}");
    assert!(!description.contains("**"), "markdown rather than plain text: {description}");
    assert!(description.contains("Agora question:") && links_to(description, q), "{description}");

    let case = server.wait_for_requests(1).remove(0);
    let id = case.service_request_id.clone().expect("a realtime service gives an id at once");
    let submitted = wait_for_escalation(app, &s.staff, q, "the council's id", has_id);
    assert_eq!(submitted["status"], "submitted", "{submitted}");
    assert_eq!(submitted["service_request_id"], id.as_str());
    assert_eq!(submitted["token"], Value::Null);
    assert!(is_timestamp(&submitted["submitted_at"]), "{submitted}");
    let told = wait_until("the asker to be told of the submission", || {
        let n = notifications(app, &s.asker, "escalation_updated", q);
        if n >= 1 { Ok(n) } else { Err(n.to_string()) }
    });
    webhook(&hooks, "question.escalated", q);

    // The endpoint answers again: the case is open.
    server.fail_status_reads(false);
    let open = wait_for_escalation(app, &s.staff, q, "the escalation to be open", |e| e["status"] == "open");
    assert_eq!(open["service_request_id"], id.as_str());
    let shown = wait_until("the question to show the open escalation", || {
        let escalation = detail(app, &s.asker, q)["escalation"].clone();
        if escalation["status"] == "open" { Ok(escalation) } else { Err(escalation.to_string()) }
    });
    assert_eq!(shown["service_request_id"], id.as_str());
    let keys: Vec<&str> = shown.as_object().expect("an object").keys().map(String::as_str).collect();
    assert!(keys.iter().all(|k| ["status", "service_request_id", "status_notes", "updated_at"].contains(k)), "{shown}");
    assert!(!detail(app, &follower, q).to_string().contains(ADDRESS), "the location is not shown");
    // Whatever the opening told has landed by now.
    std::thread::sleep(QUIET);
    let before_closing = notifications(app, &s.asker, "escalation_updated", q);
    assert!(before_closing >= told);

    // The council closes it with notes: they flow back, and everyone hears.
    let notes = "Filled with cold asphalt on 3 March; a permanent repair is booked.";
    server.set_status(&id, "closed", Some(notes));
    let closed = wait_for_escalation(app, &s.staff, q, "the escalation to be closed", |e| e["status"] == "closed");
    assert_eq!(closed["status_notes"], notes);
    assert_eq!(super::escalation(app, &s.asker, q)["status_notes"], notes, "the asker reads it too");
    wait_until("the question to show the notes", || {
        let escalation = detail(app, &follower, q)["escalation"].clone();
        if escalation["status_notes"] == notes { Ok(()) } else { Err(escalation.to_string()) }
    });
    wait_until("the asker to be told of the change", || {
        let n = notifications(app, &s.asker, "escalation_updated", q);
        if n > before_closing { Ok(()) } else { Err(n.to_string()) }
    });
    wait_until("the follower to be told", || {
        let n = notifications(app, &follower, "escalation_updated", q);
        if n >= 1 { Ok(()) } else { Err(n.to_string()) }
    });
    webhook(&hooks, "escalation.updated", q);

    // One case per question, ever.
    assert_already_escalated(&escalate(app, &s.staff, q, &request));
    assert_already_escalated(&escalate(app, &s.admin, q, &request));

    // Closed ends the polling; the client asked for JSON every time.
    let path = format!("/open311/v2/requests/{id}.json");
    let polls = server.count("GET", &path);
    std::thread::sleep(QUIET);
    assert!(server.count("GET", &path) <= polls + 1, "still polled after it closed");
    let hits = server.hits();
    assert!(hits.iter().all(|h| h.path.ends_with(".json")), "{hits:#?}");
    assert_eq!((server.requests().len(), server.posts().len()), (1, 1));
}

#[test]
fn the_audit_log_and_the_deflection_figures_record_the_escalation() {
    let s = scene();
    let app = &s.app;
    let contacts = || {
        let summary =
            app.get("/api/v1/deflection/summary").bearer(&s.admin.access_token).send().assert_status(200).json();
        summary["visitors"]["submitted_contact"].as_u64().unwrap_or_else(|| panic!("no contact count: {summary}"))
    };
    let before = contacts();
    let q = ask(app, &s.asker, "lighting", "The street light outside the library is out");
    let other = ask(app, &s.asker, "lighting", "Who do I ask about a brighter lamp on my street");
    escalate_ok(app, &s.staff, q, &json!({"lat": 51.5072, "long": -0.1276}));
    wait_for_escalation(app, &s.staff, q, "the council's id", has_id);

    // The escalated question counts as a contact: it was not deflected.
    wait_until("the escalation to count as a contact", || {
        let now = contacts();
        if now == before + 1 { Ok(()) } else { Err(format!("{before} before, {now} now")) }
    });
    std::thread::sleep(QUIET);
    assert_eq!(contacts(), before + 1, "one escalation, one contact");

    let entries = audit(app, &s.admin, "escalate");
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!((entry["target_type"].as_str(), entry["target_id"].as_i64()), (Some("question"), Some(q)), "{entry}");
    assert_eq!(entry["actor_id"], s.staff.id, "{entry}");
    assert!(audit(app, &s.admin, "escalation_failed").is_empty());
    assert!(entries.iter().all(|e| e["target_id"] != other));
}
