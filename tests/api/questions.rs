//! Categories, tags, questions: ask, read, list, edit, delete, revisions.

use serde_json::{Value, json};

use super::helpers::{TestApp, TestUser, spawn_app};

fn setup() -> (TestApp, TestUser, TestUser) {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "waste");
    app.create_category(&admin, "parking");
    let resident = app.register("rita");
    (app, admin, resident)
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"].as_array().unwrap().iter().map(|q| q["id"].as_i64().unwrap()).collect()
}

#[test]
fn categories_are_admin_managed() {
    let app = spawn_app();
    let admin = app.admin();
    let resident = app.register("rita");
    let created = app.create_category(&admin, "waste-recycling");
    assert_eq!(created["question_count"], 0);
    let body = json!({"slug": "parks", "name": "Parks"});
    app.post("/api/v1/categories", &body).send().assert_problem(401, "unauthorized");
    app.post("/api/v1/categories", &body).bearer(&resident.access_token).send().assert_problem(403, "forbidden");
    app.post("/api/v1/categories", &json!({"slug": "waste-recycling", "name": "Again"}))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(409, "slug_taken");
    app.post("/api/v1/categories", &json!({"slug": "Bad Slug", "name": "x"}))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    let renamed = app
        .patch("/api/v1/categories/waste-recycling", &json!({"name": "Bins & recycling"}))
        .bearer(&admin.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!(renamed["name"], "Bins & recycling");
    app.patch("/api/v1/categories/nope", &json!({"name": "Nope nope"}))
        .bearer(&admin.access_token)
        .send()
        .assert_problem(404, "not_found");
    app.patch("/api/v1/categories/waste-recycling", &json!({"name": "Mine now"}))
        .bearer(&resident.access_token)
        .send()
        .assert_problem(403, "forbidden");
    let list = app.get("/api/v1/categories").send().assert_status(200).json();
    assert_eq!(list["items"][0]["slug"], "waste-recycling");
    assert_eq!(list["has_more"], false);
}

#[test]
fn asking_and_reading_a_question() {
    let (app, _, rita) = setup();
    let body = json!({
        "title": "When is the green bin collected on Mill Lane?",
        "body": "My **green bin** wasn't emptied.\n\n- Tuesday\n- Wednesday",
        "category": "waste",
        "tags": [],
        "area": "Riverside",
    });
    let response = app.post("/api/v1/questions", &body).bearer(&rita.access_token).send();
    let created = response.assert_status(201).json();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(response.header("location"), Some(format!("/api/v1/questions/{id}").as_str()));
    assert_eq!(created["status"], "unanswered");
    assert_eq!(created["category"]["slug"], "waste");
    assert_eq!(created["area"], "Riverside");
    assert_eq!(created["author"]["username"], "rita");
    assert!(created["body_html"].as_str().unwrap().contains("<strong>green bin</strong>"));
    assert_eq!(created["following"], true, "askers follow their questions");
    assert_eq!(created["my_vote"], 0);

    let anonymous = app.question(id);
    assert!(anonymous["my_vote"].is_null());
    assert!(anonymous["following"].is_null());
    assert_eq!(anonymous["answers"], json!([]));
    app.get("/api/v1/questions/999999").send().assert_problem(404, "not_found");

    let categories = app.get("/api/v1/categories").send().json();
    let waste = categories["items"].as_array().unwrap().iter().find(|c| c["slug"] == "waste").unwrap().clone();
    assert_eq!(waste["question_count"], 1);
}

#[test]
fn question_validation() {
    let (app, _, rita) = setup();
    let ask = |body: Value| app.post("/api/v1/questions", &body).bearer(&rita.access_token).send();
    let good_body = "A body that is certainly long enough to pass.";
    let cases = [
        (json!({"title": "too short", "body": good_body, "category": "waste"}), "title"),
        (json!({"title": "t".repeat(201), "body": good_body, "category": "waste"}), "title"),
        (json!({"title": "A perfectly fine title", "body": "short", "category": "waste"}), "body"),
        (json!({"title": "A perfectly fine title", "body": "b".repeat(30_001), "category": "waste"}), "body"),
        (json!({"title": "A perfectly fine title", "body": good_body, "category": "nope"}), "category"),
        (
            json!({"title": "A perfectly fine title", "body": good_body, "category": "waste", "tags": ["a","b1","c1","d1","e1","f1"]}),
            "tags",
        ),
        (
            json!({"title": "A perfectly fine title", "body": good_body, "category": "waste", "tags": ["new-tag"]}),
            "tags",
        ),
        (json!({"title": "A perfectly fine title", "body": good_body, "category": "waste", "area": ""}), "area"),
    ];
    for (body, field) in cases {
        let problem = ask(body.clone()).assert_problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    app.post("/api/v1/questions", &json!({"title": "A perfectly fine title", "body": good_body, "category": "waste"}))
        .send()
        .assert_problem(401, "unauthorized");
}

#[test]
fn tags_are_created_with_the_privilege_and_autocompleted() {
    let (app, _, rita) = setup();
    app.set_reputation(rita.id, 150);
    let q = app.ask(&rita, "waste", "Garden waste subscription renewal?", &["Garden Waste", "bins"]);
    assert_eq!(q["tags"], json!(["bins", "garden-waste"]));
    app.set_reputation(rita.id, 1);
    // Existing tags need no privilege.
    app.ask(&rita, "waste", "Another bins question here", &["bins"]);
    let tags = app.get("/api/v1/tags?prefix=b").send().assert_status(200).json();
    assert_eq!(tags["items"], json!([{"name": "bins", "question_count": 2}]));
    let all = app.get("/api/v1/tags?limit=1").send().json();
    assert_eq!(all["items"][0]["name"], "bins");
    assert_eq!(all["has_more"], true);
    let next = app.get(&format!("/api/v1/tags?limit=1&cursor={}", all["next_cursor"].as_str().unwrap())).send().json();
    assert_eq!(next["items"][0]["name"], "garden-waste");
    assert_eq!(next["has_more"], false);
    app.get("/api/v1/tags?prefix=%25").send().assert_problem(422, "validation_failed");
}

#[test]
fn lists_filter_sort_and_paginate() {
    let (app, _, rita) = setup();
    app.set_reputation(rita.id, 200);
    let other = app.register("otto");
    let mut created = Vec::new();
    for i in 0..7 {
        let category = if i % 2 == 0 { "waste" } else { "parking" };
        let tags: &[&str] = if i < 3 { &["bins"] } else { &[] };
        let author = if i == 6 { &other } else { &rita };
        let q = app.ask(author, category, &format!("Question number {i} about things"), tags);
        created.push(q["id"].as_i64().unwrap());
        app.clock.advance(chrono::Duration::seconds(1));
    }
    let newest: Vec<i64> = created.iter().rev().copied().collect();
    assert_eq!(ids(&app.get("/api/v1/questions").send().json()), newest);

    // Pages of 3 chain through every question exactly once.
    let mut seen = Vec::new();
    let mut url = "/api/v1/questions?limit=3".to_owned();
    loop {
        let page = app.get(&url).send().assert_status(200).json();
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(page["has_more"], true);
                url = format!("/api/v1/questions?limit=3&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(seen, newest);

    let waste = ids(&app.get("/api/v1/questions?category=waste").send().json());
    assert_eq!(waste, vec![created[6], created[4], created[2], created[0]]);
    let tagged = ids(&app.get("/api/v1/questions?tag=bins").send().json());
    assert_eq!(tagged, vec![created[2], created[1], created[0]]);
    let by_other = ids(&app.get(&format!("/api/v1/questions?author={}", other.id)).send().json());
    assert_eq!(by_other, vec![created[6]]);
    assert!(ids(&app.get("/api/v1/questions?category=unknown").send().json()).is_empty());

    // Answering one makes it answered and the most active.
    app.answer(&other, created[0], "Here is an answer that is long enough.");
    let answered = ids(&app.get("/api/v1/questions?status=answered").send().json());
    assert_eq!(answered, vec![created[0]]);
    let unanswered = ids(&app.get("/api/v1/questions?status=unanswered").send().json());
    assert_eq!(unanswered.len(), 6);
    assert_eq!(ids(&app.get("/api/v1/questions?sort=active&limit=1").send().json()), vec![created[0]]);

    // Votes order.
    app.set_reputation(other.id, 20);
    app.call("PUT", &format!("/api/v1/questions/{}/vote", created[3]))
        .json(&json!({"value": 1}))
        .bearer(&other.access_token)
        .send()
        .assert_status(200);
    let by_votes = app.get("/api/v1/questions?sort=votes&limit=2").send().json();
    assert_eq!(ids(&by_votes)[0], created[3]);
    let cursor = by_votes["next_cursor"].as_str().unwrap();
    let rest = ids(&app.get(&format!("/api/v1/questions?sort=votes&limit=10&cursor={cursor}")).send().json());
    assert_eq!(rest.len(), 5);
    assert!(!rest.contains(&created[3]));

    // Bad input.
    app.get("/api/v1/questions?limit=101").send().assert_problem(422, "validation_failed");
    app.get("/api/v1/questions?limit=0").send().assert_problem(422, "validation_failed");
    app.get("/api/v1/questions?limit=ten").send().assert_problem(400, "invalid_query");
    app.get("/api/v1/questions?status=closed").send().assert_problem(400, "invalid_query");
    app.get("/api/v1/questions?sort=random").send().assert_problem(400, "invalid_query");
    app.get("/api/v1/questions?cursor=abc").send().assert_problem(400, "invalid_cursor");
    let tampered = format!("x{cursor}");
    app.get(&format!("/api/v1/questions?sort=votes&cursor={tampered}")).send().assert_problem(400, "invalid_cursor");
    // A cursor from another sort is refused too.
    app.get(&format!("/api/v1/questions?sort=newest&cursor={cursor}")).send().assert_problem(400, "invalid_cursor");
}

/// Asks a question in `area` (or none) and returns its id.
fn ask_in_area(app: &TestApp, user: &TestUser, title: &str, area: Option<&str>) -> i64 {
    let mut body = json!({
        "title": title,
        "body": format!("{title} - some more detail so the body is long enough."),
        "category": "waste",
    });
    if let Some(area) = area {
        body["area"] = json!(area);
    }
    let created = app.post("/api/v1/questions", &body).bearer(&user.access_token).send().assert_status(201).json();
    created["id"].as_i64().unwrap()
}

/// The ids a list filter gives, after checking each item matches it.
fn filtered(app: &TestApp, query: &str, field: &str, value: &str) -> Vec<i64> {
    let page = app.get(&format!("/api/v1/questions?{query}")).send().assert_status(200).json();
    for item in page["items"].as_array().unwrap() {
        assert_eq!(item[field], value, "?{query} listed {item}");
    }
    ids(&page)
}

#[test]
fn lists_filter_by_area_and_status() {
    let (app, admin, rita) = setup();
    // Past the new-account limit of 3 questions an hour.
    app.set_reputation(rita.id, 20);
    let otto = app.register("otto");
    let staff = app.user_with_roles("staff_sue", &[agora::domain::Role::Staff]);
    let ask = |title: &str, area: Option<&str>| {
        let id = ask_in_area(&app, &rita, title, area);
        app.clock.advance(chrono::Duration::seconds(1));
        id
    };
    let accepted = ask("Riverside bins were skipped again", Some("Riverside"));
    let answered = ask("Old Town parking permit renewals", Some("Old Town"));
    let verified = ask("Where do batteries go for recycling?", None);
    let riverside_open = ask("Riverside street lights are out", Some("Riverside"));
    let open = ask("Can I get a second recycling box?", None);

    let by_area = |area: &str| filtered(&app, &format!("area={}", area.replace(' ', "%20")), "area", area);
    assert_eq!(by_area("Riverside"), vec![riverside_open, accepted]);
    assert_eq!(by_area("Old Town"), vec![answered]);
    assert!(by_area("Nowhere").is_empty());

    let answer = |question: i64| app.answer(&otto, question, "An answer that is long enough to count.")["id"].clone();
    let to_accept = answer(accepted);
    answer(answered);
    let to_verify = answer(verified);
    let accept_url = format!("/api/v1/questions/{accepted}/accept");
    app.post(&accept_url, &json!({"answer_id": to_accept})).bearer(&rita.access_token).send().assert_status(200);
    let verify_url = format!("/api/v1/answers/{to_verify}/verify");
    app.call("POST", &verify_url).bearer(&staff.access_token).send().assert_status(200);

    let by_status = |status: &str| filtered(&app, &format!("status={status}"), "status", status);
    // An accepted and a council-verified answer both solve a question.
    assert_eq!(by_status("solved"), vec![verified, accepted]);
    assert_eq!(by_status("answered"), vec![answered]);
    assert_eq!(by_status("unanswered"), vec![open, riverside_open]);
    assert_eq!(filtered(&app, "area=Riverside&status=solved", "status", "solved"), vec![accepted]);
    assert_eq!(filtered(&app, "area=Riverside&status=unanswered", "area", "Riverside"), vec![riverside_open]);

    // Taking the acceptance and the verification back unsolves them.
    app.call("DELETE", &accept_url).bearer(&rita.access_token).send().assert_status(200);
    app.call("DELETE", &verify_url).bearer(&staff.access_token).send().assert_status(204);
    assert!(by_status("solved").is_empty());
    assert_eq!(by_status("answered"), vec![verified, answered, accepted]);

    // Moving a question to another area moves it between the lists.
    app.patch(&format!("/api/v1/questions/{answered}"), &json!({"area": "Riverside"}))
        .bearer(&admin.access_token)
        .send()
        .assert_status(200);
    assert!(by_area("Old Town").is_empty());
    assert_eq!(by_area("Riverside"), vec![riverside_open, answered, accepted]);
}

#[test]
fn edits_keep_revisions_and_respect_authorship() {
    let (app, admin, rita) = setup();
    let q = app.ask(&rita, "waste", "Bin collection changed this week?", &[]);
    let id = q["id"].as_i64().unwrap();
    let url = format!("/api/v1/questions/{id}");
    let edited = app
        .patch(
            &url,
            &json!({"title": "Bin collection day changed this week?", "category": "parking", "area": "Old Town"}),
        )
        .bearer(&rita.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!(edited["title"], "Bin collection day changed this week?");
    assert_eq!(edited["category"]["slug"], "parking");
    assert_eq!(edited["area"], "Old Town");

    let mallory = app.register("mallory");
    app.patch(&url, &json!({"title": "Vandalised by someone else"}))
        .bearer(&mallory.access_token)
        .send()
        .assert_problem(403, "forbidden");
    app.set_reputation(mallory.id, 1000);
    app.patch(&url, &json!({"body": "Edited by a trusted user with edit_others privilege."}))
        .bearer(&mallory.access_token)
        .send()
        .assert_status(200);
    app.patch(&url, &json!({"area": null})).bearer(&admin.access_token).send().assert_status(200);
    app.patch(&url, &json!({"title": "short"}))
        .bearer(&rita.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.patch("/api/v1/questions/424242", &json!({"title": "Whatever the title is"}))
        .bearer(&rita.access_token)
        .send()
        .assert_problem(404, "not_found");

    let revisions = app.get(&format!("{url}/revisions")).send().assert_status(200).json();
    let numbers: Vec<i64> =
        revisions["items"].as_array().unwrap().iter().map(|r| r["revision"].as_i64().unwrap()).collect();
    assert_eq!(numbers, vec![4, 3, 2, 1]);
    assert_eq!(revisions["items"][3]["title"], "Bin collection changed this week?");
    assert_eq!(revisions["items"][1]["editor"]["username"], "mallory");
    let first = app.get(&format!("{url}/revisions?limit=1")).send().json();
    let older =
        app.get(&format!("{url}/revisions?limit=3&cursor={}", first["next_cursor"].as_str().unwrap())).send().json();
    assert_eq!(older["items"].as_array().unwrap().len(), 3);

    // Counts follow the category move.
    let categories = app.get("/api/v1/categories").send().json();
    let count = |slug: &str| {
        categories["items"].as_array().unwrap().iter().find(|c| c["slug"] == slug).unwrap()["question_count"].clone()
    };
    assert_eq!((count("waste"), count("parking")), (json!(0), json!(1)));

    // A locked question takes only moderators' edits.
    app.with_conn(|conn| agora::store::questions::set_locked(conn, id, Some(app.clock.now())).unwrap());
    app.patch(&url, &json!({"title": "Trying to edit a locked one"}))
        .bearer(&rita.access_token)
        .send()
        .assert_problem(409, "question_locked");
    app.patch(&url, &json!({"title": "A moderator may edit a locked one"}))
        .bearer(&admin.access_token)
        .send()
        .assert_status(200);
}

#[test]
fn deleting_questions() {
    let (app, admin, rita) = setup();
    let lonely = app.ask(&rita, "waste", "A question nobody answers", &[])["id"].as_i64().unwrap();
    let answered = app.ask(&rita, "waste", "A question someone answers", &[])["id"].as_i64().unwrap();
    let otto = app.register("otto");
    app.answer(&otto, answered, "An answer that stops the asker deleting.");

    app.call("DELETE", &format!("/api/v1/questions/{lonely}"))
        .bearer(&otto.access_token)
        .send()
        .assert_problem(403, "forbidden");
    app.call("DELETE", &format!("/api/v1/questions/{answered}"))
        .bearer(&rita.access_token)
        .send()
        .assert_problem(409, "question_has_answers");
    app.call("DELETE", &format!("/api/v1/questions/{lonely}")).bearer(&rita.access_token).send().assert_status(204);
    app.get(&format!("/api/v1/questions/{lonely}")).send().assert_problem(404, "not_found");
    app.get(&format!("/api/v1/questions/{lonely}")).bearer(&rita.access_token).send().assert_problem(404, "not_found");
    let seen_by_moderator = app.get(&format!("/api/v1/questions/{lonely}")).bearer(&admin.access_token).send().json();
    assert_eq!(seen_by_moderator["deleted"], true);
    assert_eq!(ids(&app.get("/api/v1/questions").send().json()), vec![answered]);

    app.call("DELETE", &format!("/api/v1/questions/{answered}")).bearer(&admin.access_token).send().assert_status(204);
    app.call("DELETE", "/api/v1/questions/777777").bearer(&admin.access_token).send().assert_problem(404, "not_found");
    let categories = app.get("/api/v1/categories").send().json();
    let waste = categories["items"].as_array().unwrap().iter().find(|c| c["slug"] == "waste").unwrap().clone();
    assert_eq!(waste["question_count"], 0);
}

#[test]
fn every_searchable_write_enqueues_the_question() {
    let (app, _, rita) = setup();
    let id = app.ask(&rita, "waste", "Does the outbox see this question?", &[])["id"].as_i64().unwrap();
    let count = || app.with_conn(|conn| agora::store::outbox::count_for(conn, id).unwrap());
    assert_eq!(count(), 1);
    app.patch(&format!("/api/v1/questions/{id}"), &json!({"body": "An edited body that is long enough."}))
        .bearer(&rita.access_token)
        .send()
        .assert_status(200);
    assert_eq!(count(), 2);
    let otto = app.register("otto");
    let answer = app.answer(&otto, id, "An answer that the index must include.");
    assert_eq!(count(), 3);
    app.patch(&format!("/api/v1/answers/{}", answer["id"]), &json!({"body": "An edited answer the index must see."}))
        .bearer(&otto.access_token)
        .send()
        .assert_status(200);
    assert_eq!(count(), 4);
    // A refused write enqueues nothing.
    app.patch(&format!("/api/v1/questions/{id}"), &json!({"body": "Not allowed to edit this question."}))
        .bearer(&otto.access_token)
        .send()
        .assert_status(403);
    assert_eq!(count(), 4);
}

/// Every part of a question page, and who sees what: pinned on both
/// databases, so that a change to how the page is read (one statement on
/// PostgreSQL was tried twice, bench/results/2026-12-07-profiles.md) must
/// keep it whole.
#[test]
fn a_question_page_shows_each_part_to_the_readers_who_may_see_it() {
    use agora::domain::Role;
    let (app, _, rita) = setup();
    app.set_reputation(rita.id, 150);
    let staff = app.user_with_roles("staff_sam", &[Role::Staff, Role::Analyst]);
    let moderator = app.user_with_roles("mod_mo", &[Role::Moderator]);
    let bob = app.register("bob");
    let q =
        app.ask(&rita, "waste", "Bin day over the Christmas holidays?", &["holidays", "bins"])["id"].as_i64().unwrap();
    let verified = app.answer(&bob, q, "Collections move one day later that week.")["id"].as_i64().unwrap();
    let by_staff = app.answer(&staff, q, "The calendar on the council site has the dates.")["id"].as_i64().unwrap();
    let hidden = app.answer(&bob, q, "An answer a moderator will hide.")["id"].as_i64().unwrap();
    let deleted = app.answer(&bob, q, "An answer its author will delete.")["id"].as_i64().unwrap();
    app.call("POST", &format!("/api/v1/answers/{verified}/verify"))
        .bearer(&staff.access_token)
        .send()
        .assert_status(200);
    app.call("POST", &format!("/api/v1/mod/posts/answer/{hidden}/hide"))
        .bearer(&moderator.access_token)
        .send()
        .assert_status(204);
    app.call("DELETE", &format!("/api/v1/answers/{deleted}")).bearer(&bob.access_token).send().assert_status(204);
    let comment = |path: String, user: &super::helpers::TestUser, body: &str| {
        app.post(&path, &json!({ "body": body })).bearer(&user.access_token).send().assert_status(201).json()
    };
    comment(format!("/api/v1/questions/{q}/comments"), &rita, "Thanks, both of you.");
    comment(format!("/api/v1/answers/{verified}/comments"), &rita, "Does that include garden waste?");
    let gone = comment(format!("/api/v1/questions/{q}/comments"), &rita, "A comment deleted again.");
    app.call("DELETE", &format!("/api/v1/comments/{}", gone["id"]))
        .bearer(&rita.access_token)
        .send()
        .assert_status(204);

    let page = app.question(q);
    assert_eq!(page["title"], "Bin day over the Christmas holidays?");
    assert_eq!(page["tags"], json!(["bins", "holidays"]));
    assert_eq!(page["category"]["slug"], "waste");
    assert_eq!(page["author"]["username"], "rita");
    assert_eq!(page["author"]["roles"], json!([]));
    assert!(page["escalation"].is_null());
    let answers = page["answers"].as_array().unwrap();
    let mut shown: Vec<i64> = answers.iter().map(|a| a["id"].as_i64().unwrap()).collect();
    shown.sort_unstable();
    assert_eq!(shown, vec![verified, by_staff], "neither the hidden nor the deleted answer");
    let answer = |id: i64| answers.iter().find(|a| a["id"] == id).unwrap().clone();
    let first = answer(verified);
    assert_eq!(first["verified"]["verified_by"]["username"], "staff_sam");
    assert_eq!(first["verified"]["verified_by"]["roles"], json!(["staff"]), "a private role is not shown");
    assert_eq!(first["comments"][0]["body"], "Does that include garden waste?");
    assert_eq!(first["comments"][0]["author"]["username"], "rita");
    assert_eq!(answer(by_staff)["author"]["roles"], json!(["staff"]));
    assert!(answer(by_staff)["verified"].is_null());
    assert_eq!(page["comments"].as_array().unwrap().len(), 1, "the deleted comment is gone");
    assert_eq!(page["comments"][0]["body"], "Thanks, both of you.");

    let as_author = app.get(&format!("/api/v1/questions/{q}")).bearer(&bob.access_token).send().json();
    let ids: Vec<i64> = as_author["answers"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert!(ids.contains(&hidden) && !ids.contains(&deleted), "its author sees the hidden answer only: {ids:?}");
    let as_moderator = app.get(&format!("/api/v1/questions/{q}")).bearer(&moderator.access_token).send().json();
    let seen: Vec<(i64, bool, bool)> = as_moderator["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_i64().unwrap(), a["hidden"] == true, a["deleted"] == true))
        .filter(|(id, _, _)| [hidden, deleted].contains(id))
        .collect();
    assert_eq!(seen.len(), 2, "a moderator sees both: {seen:?}");
    assert!(seen.contains(&(hidden, true, false)) && seen.contains(&(deleted, false, true)));
}
