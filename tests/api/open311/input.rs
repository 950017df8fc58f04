//! Bad input and who may do what: an unmapped category (409 naming it), a
//! missing or unknown required attribute (422 naming it), locations out of
//! range or missing, residents and anonymous callers; a question asked for
//! escalation without a location; who sees an escalation; and the location
//! a resident gave, in their export and erased with their account.

use agora::domain::Role;
use serde_json::{Value, json};

use super::{
    QUIET, ask, ask_with, detail, error_fields, escalate, escalate_ok, escalation, escalation_response, has_id,
};
use super::{scene, wait_for_escalation, wait_until};

#[test]
fn bad_escalations_are_refused_with_the_reason_and_nothing_is_sent() {
    let s = scene();
    let (app, server, staff) = (&s.app, &s.server, &s.staff);
    let roads = ask(app, &s.asker, "roads", "A pothole as deep as a bucket on Station Road");
    let parking = ask(app, &s.asker, "parking", "Can I park outside the school at pick-up time");
    let address = "Station Road, Springfield";

    // A category with no service code: 409, naming it.
    let problem =
        escalate(app, staff, parking, &json!({"address_string": address})).assert_problem(409, "category_not_mapped");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("parking")), "{problem}");

    // The service's required attribute, missing or not one of its values.
    let refused = |body: Value| escalate(app, staff, roads, &body).assert_problem(422, "validation_failed");
    let missing = refused(json!({"address_string": address}));
    assert!(error_fields(&missing).contains(&"attributes.depth".to_owned()), "{missing}");
    let unknown = refused(json!({"address_string": address, "attributes": {"depth": "bottomless"}}));
    assert!(error_fields(&unknown).contains(&"attributes.depth".to_owned()), "{unknown}");
    assert!(server.count("GET", "/open311/v2/services/pothole.json") >= 1, "the definition was not read");

    // Locations: out of range, half given, or none.
    let depth = json!({"depth": "deep"});
    let cases = [
        (json!({"lat": 91, "long": 0, "attributes": depth}), "lat"),
        (json!({"lat": -90.5, "long": 0, "attributes": depth}), "lat"),
        (json!({"lat": 51.5, "long": 181, "attributes": depth}), "long"),
        (json!({"lat": 51.5, "long": -180.01, "attributes": depth}), "long"),
        (json!({"lat": 51.5, "attributes": depth}), "long"),
        (json!({"attributes": depth}), "location"),
        (json!({}), "location"),
    ];
    for (body, field) in cases {
        let problem = refused(body.clone());
        assert!(error_fields(&problem).contains(&field.to_owned()), "{body} → {problem}");
    }

    // Who may: staff, moderators and admins; not residents, even the asker.
    let good = json!({"address_string": address, "attributes": depth});
    escalate(app, &s.asker, roads, &good).assert_status(403);
    let analyst = app.user_with_roles("analyst_ann", &[Role::Analyst]);
    escalate(app, &analyst, roads, &good).assert_status(403);
    app.post(&format!("/api/v1/questions/{roads}/escalate"), &good).send().assert_status(401);
    escalate(app, staff, 999_999, &good).assert_problem(404, "not_found");

    // Nothing of it reached the endpoint or made an escalation.
    std::thread::sleep(QUIET);
    assert!(server.posts().is_empty(), "{:#?}", server.posts());
    for q in [roads, parking] {
        escalation_response(app, Some(staff), q).assert_status(404);
    }

    // Good input still goes through; a moderator may escalate too.
    escalate_ok(app, staff, roads, &good);
    wait_for_escalation(app, staff, roads, "the council's id", has_id);
    let other = ask(app, &s.asker, "lighting", "The lamp outside the chemist is out");
    let moderator = app.user_with_roles("mod_meg", &[Role::Moderator]);
    escalate_ok(app, &moderator, other, &json!({"lat": -33.8688, "long": 151.2093}));
    wait_for_escalation(app, staff, other, "the council's id", has_id);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_question_asked_for_escalation_needs_a_location() {
    let s = scene();
    let app = &s.app;
    let question = |title: &str, extra: Value| {
        let mut body = json!({
            "title": title,
            "body": "It is very dark on the corner and cars come round it fast.",
            "category": "lighting",
        });
        for (key, value) in extra.as_object().expect("an object") {
            body[key] = value.clone();
        }
        body
    };
    let problem = app
        .post("/api/v1/questions", &question("The lamp on Orchard Way is out", json!({"escalate_if_unanswered": true})))
        .bearer(&s.asker.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    assert!(error_fields(&problem).contains(&"location".to_owned()), "{problem}");
    ask_with(
        app,
        &s.asker,
        &question(
            "The lamp on Orchard Way is still out",
            json!({"escalate_if_unanswered": true, "location": {"lat": 51.5, "long": -0.12}}),
        ),
    );
    ask_with(app, &s.asker, &question("Who mends the lamps on Orchard Way", json!({"escalate_if_unanswered": false})));
}

#[test]
fn an_escalation_is_shown_to_the_asker_and_the_council_only() {
    let s = scene();
    let (app, staff) = (&s.app, &s.staff);
    let q = ask(app, &s.asker, "lighting", "The lamp outside the church is out");
    escalation_response(app, Some(staff), q).assert_status(404);
    assert_eq!(detail(app, &s.asker, q)["escalation"], Value::Null);
    escalate_ok(app, staff, q, &json!({"address_string": "Lamp post 7, Church Street"}));
    let seen = wait_for_escalation(app, staff, q, "the council's id", has_id);

    let neighbour = app.register("neighbour_ned");
    let moderator = app.user_with_roles("mod_max", &[Role::Moderator]);
    let analyst = app.user_with_roles("analyst_al", &[Role::Analyst]);
    let by_asker = escalation(app, &s.asker, q);
    assert_eq!(by_asker["service_request_id"], seen["service_request_id"], "{by_asker}");
    assert_eq!(by_asker["question_id"], q);
    for user in [&moderator, &s.admin] {
        escalation(app, user, q);
    }
    escalation_response(app, Some(&neighbour), q).assert_status(403);
    escalation_response(app, Some(&analyst), q).assert_status(403);
    escalation_response(app, None, q).assert_status(401);

    // The question shows the status to everyone, and not where it is.
    let shown = wait_until("anonymous readers to see the escalation", || {
        let page = app.question(q);
        if page["escalation"].is_object() { Ok(page) } else { Err(page["escalation"].to_string()) }
    });
    let public = &shown["escalation"];
    assert!(matches!(public["status"].as_str(), Some("submitted" | "open")), "{public}");
    assert_eq!(public["service_request_id"], seen["service_request_id"]);
    assert!(!shown.to_string().contains("Church Street"), "the location is shown: {shown}");
    assert!(public.get("attributes").is_none() && public.get("address_string").is_none(), "{public}");
}

#[test]
fn the_location_a_resident_gave_is_in_their_export_and_gone_with_their_account() {
    let s = scene();
    let (app, asker) = (&s.app, &s.asker);
    let body = json!({
        "title": "The lamp outside my house has been out for a week",
        "body": "The lamp outside number 12 has been dark for a week now.",
        "category": "lighting",
        "escalate_if_unanswered": true,
        "location": {"address_string": "12 Elm Road, Springfield"},
        "share_email_with_council": true,
    });
    let q = ask_with(app, asker, &body);
    let export = app.get("/api/v1/me/export").bearer(&asker.access_token).send().assert_status(200).json();
    let held = export["escalations"].as_array().expect("escalations in the export");
    assert_eq!(held.len(), 1, "{export}");
    assert_eq!(held[0]["question_id"], q);
    assert_eq!(held[0]["address_string"], "12 Elm Road, Springfield");
    assert_eq!(
        (held[0]["share_email"].as_bool(), held[0]["escalate_if_unanswered"].as_bool()),
        (Some(true), Some(true))
    );

    app.call("DELETE", "/api/v1/me")
        .json(&json!({"password": crate::helpers::PASSWORD}))
        .bearer(&asker.access_token)
        .send()
        .assert_status(204);
    let left = app.with_conn(|conn| agora::store::escalations::request_of(conn, q).unwrap());
    assert!(left.is_none(), "the location and the consent outlive the account: {left:?}");
}
