//! Admins map categories to the endpoint's service codes: the endpoint's
//! `services.json` is listed, codes it does not list and categories that
//! do not exist are refused, the mapping is saved whole; without an
//! endpoint nothing can be mapped or escalated, and an endpoint that does
//! not answer is reported as such.

use std::collections::BTreeSet;

use agora::domain::Role;
use serde_json::json;

use super::server::Open311Server;
use super::{API_KEY, SERVICES, configure, council_services, default_mapping, error_message, escalate, fast_settings};
use super::{map, mapping, raw_get, unmapped_scene};
use crate::helpers::spawn_app_with;
use crate::webhooks::is_timestamp;

#[test]
fn the_endpoints_services_are_listed_and_only_codes_it_lists_can_be_mapped() {
    let s = unmapped_scene();
    let (app, admin) = (&s.app, &s.admin);
    let listed = app.get(SERVICES).bearer(&admin.access_token).send().assert_status(200).json();
    let services = listed["services"].as_array().expect("services");
    let codes: BTreeSet<&str> = services.iter().filter_map(|s| s["service_code"].as_str()).collect();
    assert_eq!(codes, BTreeSet::from(["pothole", "missed_bin", "streetlight", "graffiti"]));
    let pothole = services.iter().find(|s| s["service_code"] == "pothole").expect("pothole");
    assert_eq!(pothole["service_name"], "Pothole", "{pothole}");
    assert_eq!(pothole["type"], "realtime", "{pothole}");
    assert_eq!(pothole["metadata"], true, "{pothole}");
    assert_eq!(pothole["group"], "Streets", "{pothole}");
    assert_eq!(pothole["description"], "Report a problem: pothole", "{pothole}");
    assert!(pothole.get("keywords").is_some(), "{pothole}");
    let bins = services.iter().find(|s| s["service_code"] == "missed_bin").expect("missed_bin");
    assert_eq!((bins["type"].as_str(), bins["metadata"].as_bool()), (Some("batch"), Some(false)), "{bins}");
    assert_eq!(listed["mapping"], json!({}));
    assert!(is_timestamp(&listed["fetched_at"]), "{listed}");
    assert!(s.server.count("GET", "/open311/v2/services.json") >= 1);

    // A code the endpoint does not list is refused, naming it.
    let problem = map(app, admin, &json!({"roads": "sinkhole"})).assert_problem(422, "validation_failed");
    let message = error_message(&problem, "mapping.roads");
    assert!(message.contains("sinkhole"), "{problem}");
    // So is a category that does not exist; nothing is saved.
    let problem = map(app, admin, &json!({"allotments": "pothole"})).assert_problem(422, "validation_failed");
    error_message(&problem, "mapping.allotments");
    let problem =
        map(app, admin, &json!({"roads": "pothole", "lighting": "lamp"})).assert_problem(422, "validation_failed");
    assert!(error_message(&problem, "mapping.lighting").contains("lamp"), "{problem}");
    assert_eq!(mapping(app, admin), json!({}), "a refused mapping is not saved, not even in part");

    // A good mapping is saved and read back; a PUT replaces the whole.
    let saved = map(app, admin, &default_mapping()).assert_status(200).json();
    assert_eq!(saved["mapping"], default_mapping());
    assert_eq!(saved["services"].as_array().map(Vec::len), Some(4), "{saved}");
    assert_eq!(mapping(app, admin), default_mapping());
    map(app, admin, &json!({"roads": "pothole", "waste": "missed_bin"})).assert_status(200);
    assert_eq!(mapping(app, admin), json!({"roads": "pothole", "waste": "missed_bin"}));

    // Admins only.
    let others =
        [("mapping_staff", Role::Staff), ("mapping_moderator", Role::Moderator), ("mapping_analyst", Role::Analyst)];
    for (name, role) in others {
        let user = app.user_with_roles(name, &[role]);
        app.get(SERVICES).bearer(&user.access_token).send().assert_status(403);
        map(app, &user, &default_mapping()).assert_status(403);
    }
    app.get(SERVICES).bearer(&s.asker.access_token).send().assert_status(403);
    map(app, &s.asker, &default_mapping()).assert_status(403);
    app.get(SERVICES).send().assert_status(401);
    assert_eq!(mapping(app, admin), json!({"roads": "pothole", "waste": "missed_bin"}));
}

#[test]
fn without_an_endpoint_nothing_can_be_mapped_or_escalated() {
    let app = spawn_app_with(fast_settings);
    let admin = app.admin();
    app.create_category(&admin, "roads");
    app.get(SERVICES).bearer(&admin.access_token).send().assert_problem(409, "open311_not_configured");
    map(&app, &admin, &json!({"roads": "pothole"})).assert_problem(409, "open311_not_configured");
    let staff = app.user_with_roles("staff_sid", &[Role::Staff]);
    let asker = app.register("asker_abe");
    let question = app.ask(&asker, "roads", "Who fills the potholes on the ring road?", &[])["id"].as_i64().unwrap();
    let body = json!({"address_string": "Ring Road, Springfield"});
    escalate(&app, &staff, question, &body).assert_problem(409, "open311_not_configured");
    app.get(&format!("/api/v1/questions/{question}/escalation")).bearer(&staff.access_token).send().assert_status(404);
}

#[test]
fn an_endpoint_that_does_not_answer_is_reported_until_it_does() {
    let port = Open311Server::reserve_port();
    let app = spawn_app_with(fast_settings);
    let admin = app.admin();
    app.create_category(&admin, "roads");
    configure(&app, &admin, &format!("http://{}:{port}/open311/v2", super::server::HOST), API_KEY);
    // 502 is outside what the harness's checked calls accept: read raw.
    let (status, problem) = raw_get(&app, SERVICES, &admin.access_token);
    assert_eq!((status, problem["code"].as_str()), (502, Some("open311_unavailable")), "{problem}");

    let server = Open311Server::start_on(port);
    server.set_services(council_services());
    server.set_api_key(API_KEY);
    let listed = app.get(SERVICES).bearer(&admin.access_token).send().assert_status(200).json();
    assert_eq!(listed["services"].as_array().map(Vec::len), Some(4), "{listed}");
    map(&app, &admin, &json!({"roads": "pothole"})).assert_status(200);
}
