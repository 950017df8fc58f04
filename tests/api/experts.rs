//! Council verification, experts, the leaderboard, badges and the limits
//! on new accounts.

use chrono::Duration;
use serde_json::{Value, json};

use super::helpers::{TestApp, TestUser, spawn_app};

fn setup() -> (TestApp, TestUser) {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "waste");
    app.create_category(&admin, "parking");
    (app, admin)
}

#[test]
fn staff_verify_answers_which_solves_questions_and_go_stale() {
    let (app, _) = setup();
    let asker = app.register("asker");
    let bea = app.register("bea");
    let staff = app.user_with_roles("staff_sue", &[agora::domain::Role::Staff]);
    let question = app.ask(&asker, "waste", "Is glass collected with recycling?", &[])["id"].as_i64().unwrap();
    let answer = app.answer(&bea, question, "Yes, in the blue box, not the wheelie bin.")["id"].as_i64().unwrap();
    let own = app.answer(&staff, question, "Staff answer: glass goes in the blue box.")["id"].as_i64().unwrap();
    let url = format!("/api/v1/answers/{answer}/verify");

    app.call("POST", &url).bearer(&bea.access_token).send().assert_problem(403, "forbidden");
    app.call("POST", &url).send().assert_problem(401, "unauthorized");
    app.call("POST", &format!("/api/v1/answers/{own}/verify"))
        .bearer(&staff.access_token)
        .send()
        .assert_problem(403, "self_verify");
    let yesterday = (app.clock.now() - Duration::days(1)).date().to_string();
    app.post(&url, &json!({"review_by": yesterday}))
        .bearer(&staff.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.post(&url, &json!({"review_by": "next tuesday"}))
        .bearer(&staff.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.call("POST", "/api/v1/answers/4040/verify").bearer(&staff.access_token).send().assert_problem(404, "not_found");

    let review_by = (app.clock.now() + Duration::days(30)).date().to_string();
    let verified =
        app.post(&url, &json!({"review_by": review_by})).bearer(&staff.access_token).send().assert_status(200).json();
    assert_eq!(verified["verified"]["review_by"], review_by);
    assert_eq!(verified["verified"]["verified_by"]["username"], "staff_sue");
    let page = app.question(question);
    assert_eq!(page["status"], "solved", "a verified answer solves the question");
    assert_eq!(page["answers"][0]["id"], answer, "verified answers come before others");
    assert_eq!(app.reputation(bea.id), 16);
    let inbox = app.get("/api/v1/me/notifications").bearer(&bea.access_token).send().json();
    assert_eq!(inbox["items"][0]["kind"], "answer_verified");

    let stale = || app.get("/api/v1/answers/stale").bearer(&staff.access_token).send().assert_status(200).json();
    assert_eq!(stale()["items"], json!([]));
    app.get("/api/v1/answers/stale").bearer(&bea.access_token).send().assert_problem(403, "forbidden");
    app.clock.advance(Duration::days(31));
    let staff = TestUser::from_session(&app.login("staff_sue", super::helpers::PASSWORD).json());
    let stale = app.get("/api/v1/answers/stale").bearer(&staff.access_token).send().json();
    assert_eq!(stale["items"][0]["answer_id"], answer);
    assert_eq!(stale["items"][0]["review_by"], review_by);

    app.call("DELETE", &url).bearer(&staff.access_token).send().assert_status(204);
    assert_eq!(app.question(question)["status"], "answered");
    assert_eq!(app.reputation(bea.id), 1);
}

/// Gives `expert` `n` accepted answers in `category` (15 category
/// reputation each), each on a different asker's question.
fn make_expert(app: &TestApp, admin: &TestUser, expert: &TestUser, category: &str, n: usize) {
    app.change_settings(admin, |s| {
        s["privileges"]["vote_up"] = json!(1);
        s["new_accounts"]["questions_per_hour"] = json!(1000);
        s["new_accounts"]["answers_per_hour"] = json!(1000);
    });
    for i in 0..n {
        let asker = app.register(&format!("{category}_asker{i}_{}", expert.id));
        let q = app.ask(&asker, category, &format!("A {category} question number {i} for experts"), &[])["id"]
            .as_i64()
            .unwrap();
        let a = app.answer(expert, q, &format!("An expert answer number {i} here."))["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/questions/{q}/accept"), &json!({"answer_id": a}))
            .bearer(&asker.access_token)
            .send()
            .assert_status(200);
    }
}

fn usernames(page: &Value, path: &str) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|i| i[path]["username"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn experts_are_recognised_by_the_rule_and_hear_of_new_questions() {
    let (app, admin) = setup();
    let expert = app.register("expert_eve");
    let almost = app.register("almost_al");
    make_expert(&app, &admin, &expert, "waste", 5);
    make_expert(&app, &admin, &almost, "waste", 4);

    let profile = app.get(&format!("/api/v1/users/{}", expert.id)).send().json();
    assert_eq!(profile["expert_in"], json!(["waste"]));
    assert_eq!(profile["counts"]["accepted_answers"], 5);
    let badges: Vec<&str> =
        profile["badges"].as_array().unwrap().iter().map(|b| b["badge"].as_str().unwrap()).collect();
    assert_eq!(badges, ["first_answer", "first_accepted_answer"]);
    assert_eq!(app.get(&format!("/api/v1/users/{}", almost.id)).send().json()["expert_in"], json!([]));

    let experts = app.get("/api/v1/categories/waste/experts").send().assert_status(200).json();
    assert_eq!(usernames(&experts, "user"), ["expert_eve"]);
    assert_eq!(experts["items"][0]["solved_answers"], 5);
    assert_eq!(experts["items"][0]["category_reputation"], 75);
    assert_eq!(app.get("/api/v1/categories/parking/experts").send().json()["items"], json!([]));
    app.get("/api/v1/categories/nope/experts").send().assert_problem(404, "not_found");

    // The rule is a setting.
    app.change_settings(&admin, |s| s["experts"]["min_solved_answers"] = json!(4));
    let experts = app.get("/api/v1/categories/waste/experts").send().json();
    assert_eq!(usernames(&experts, "user"), ["expert_eve", "almost_al"]);

    // Opted-in experts hear about new questions in their category only.
    app.patch("/api/v1/me", &json!({"expert_notifications": true}))
        .bearer(&expert.access_token)
        .send()
        .assert_status(200);
    let resident = app.register("newcomer");
    app.ask(&resident, "waste", "Where do I take an old mattress?", &[]);
    app.ask(&resident, "parking", "Where do I get a visitor permit?", &[]);
    let inbox = app.get("/api/v1/me/notifications").bearer(&expert.access_token).send().json();
    let expert_kinds: Vec<&Value> =
        inbox["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "expert_question").collect();
    assert_eq!(expert_kinds.len(), 1);
    assert_eq!(expert_kinds[0]["question_title"], "Where do I take an old mattress?");
    let inbox = app.get("/api/v1/me/notifications").bearer(&almost.access_token).send().json();
    assert!(!inbox["items"].as_array().unwrap().iter().any(|n| n["kind"] == "expert_question"), "not opted in");
}

#[test]
fn the_leaderboard_ranks_by_reputation_or_accepted_answers() {
    let (app, admin) = setup();
    let eve = app.register("eve");
    let fay = app.register("fay");
    make_expert(&app, &admin, &eve, "waste", 3);
    make_expert(&app, &admin, &fay, "parking", 1);
    let voter = app.register("voter");
    // Fay gets upvotes in parking, outranking Eve on reputation there.
    let q = app.ask(&voter, "parking", "A parking question for the leaderboard", &[])["id"].as_i64().unwrap();
    for i in 0..5 {
        let a = app.answer(&fay, q, &format!("Fay's parking answer number {i}."))["id"].as_i64().unwrap();
        app.call("PUT", &format!("/api/v1/answers/{a}/vote"))
            .json(&json!({"value": 1}))
            .bearer(&voter.access_token)
            .send()
            .assert_status(200);
    }
    let by_accepted = app.get("/api/v1/users?sort=accepted&limit=2").send().assert_status(200).json();
    assert_eq!(usernames(&by_accepted, "user"), ["eve", "fay"]);
    assert_eq!(by_accepted["items"][0]["accepted_answers"], 3);
    let by_reputation = app.get("/api/v1/users?limit=1").send().json();
    assert_eq!(usernames(&by_reputation, "user"), ["fay"]);
    let next = app
        .get(&format!("/api/v1/users?limit=1&cursor={}", by_reputation["next_cursor"].as_str().unwrap()))
        .send()
        .json();
    assert_eq!(usernames(&next, "user"), ["eve"]);
    let parking = app.get("/api/v1/users?category=parking").send().json();
    // Fay, then the asker who earned +2 there by accepting her answer.
    let names = usernames(&parking, "user");
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], "fay");
    assert_eq!(parking["items"][1]["reputation"], 2);
    assert_eq!(parking["items"][0]["reputation"], 65);
    assert_eq!(app.get("/api/v1/users?category=nowhere").send().json()["items"], json!([]));
    app.get("/api/v1/users?sort=karma").send().assert_problem(400, "invalid_query");
    app.get("/api/v1/users?cursor=forged").send().assert_problem(400, "invalid_cursor");
}

#[test]
fn ten_good_answers_and_verification_earn_badges() {
    let (app, admin) = setup();
    app.change_settings(&admin, |s| {
        s["privileges"]["vote_up"] = json!(1);
        s["new_accounts"]["answers_per_hour"] = json!(1000);
    });
    let writer = app.register("writer");
    let asker = app.register("asker");
    let q = app.ask(&asker, "waste", "Collect me some good answers please", &[])["id"].as_i64().unwrap();
    let voters: Vec<TestUser> = (0..5).map(|i| app.register(&format!("fan{i}"))).collect();
    for i in 0..10 {
        let a = app.answer(&writer, q, &format!("A good answer, number {i}."))["id"].as_i64().unwrap();
        for voter in &voters {
            app.call("PUT", &format!("/api/v1/answers/{a}/vote"))
                .json(&json!({"value": 1}))
                .bearer(&voter.access_token)
                .send()
                .assert_status(200);
        }
    }
    let staff = app.user_with_roles("staff_sam", &[agora::domain::Role::Staff]);
    let last = app.answer(&writer, q, "An answer for the council to verify.")["id"].as_i64().unwrap();
    app.call("POST", &format!("/api/v1/answers/{last}/verify")).bearer(&staff.access_token).send().assert_status(200);
    let profile = app.get(&format!("/api/v1/users/{}", writer.id)).send().json();
    let badges: Vec<&str> =
        profile["badges"].as_array().unwrap().iter().map(|b| b["badge"].as_str().unwrap()).collect();
    assert_eq!(badges, ["first_answer", "good_answers_10", "first_verified_answer"]);
}

fn badges(app: &TestApp, user: &TestUser) -> Vec<String> {
    let profile = app.get(&format!("/api/v1/users/{}", user.id)).send().assert_status(200).json();
    profile["badges"].as_array().unwrap().iter().map(|b| b["badge"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn ten_and_fifty_accepted_answers_earn_badges_that_stay() {
    let (app, admin) = setup();
    app.change_settings(&admin, |s| {
        s["new_accounts"]["questions_per_hour"] = json!(1000);
        s["new_accounts"]["answers_per_hour"] = json!(1000);
    });
    let writer = app.register("writer");
    let asker = app.register("asker");
    let mut accepted = Vec::new();
    let mut accept_one = |i: usize| {
        let q = app.ask(&asker, "waste", &format!("Question number {i} for the accepted badges"), &[])["id"]
            .as_i64()
            .unwrap();
        let a = app.answer(&writer, q, &format!("Accepted answer number {i} here."))["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/questions/{q}/accept"), &json!({"answer_id": a}))
            .bearer(&asker.access_token)
            .send()
            .assert_status(200);
        accepted.push(q);
    };
    for i in 0..9 {
        accept_one(i);
    }
    assert_eq!(badges(&app, &writer), ["first_answer", "first_accepted_answer"], "not before the 10th");
    accept_one(9);
    assert_eq!(badges(&app, &writer), ["first_answer", "first_accepted_answer", "accepted_answers_10"]);
    for i in 10..49 {
        accept_one(i);
    }
    assert!(!badges(&app, &writer).contains(&"accepted_answers_50".to_owned()), "not before the 50th");
    accept_one(49);
    let all = ["first_answer", "first_accepted_answer", "accepted_answers_10", "accepted_answers_50"];
    assert_eq!(badges(&app, &writer), all);
    // Badges are never taken away, even when the count drops below.
    app.call("DELETE", &format!("/api/v1/questions/{}/accept", accepted[0]))
        .bearer(&asker.access_token)
        .send()
        .assert_status(200);
    let profile = app.get(&format!("/api/v1/users/{}", writer.id)).send().json();
    assert_eq!(profile["counts"]["accepted_answers"], 49);
    assert_eq!(badges(&app, &writer), all);
}

#[test]
fn new_accounts_are_limited_until_trusted() {
    let (app, _) = setup();
    let newbie = app.register("newbie");
    let body = |links: usize| {
        let mut text = "Please see these pages about it.".to_owned();
        for i in 0..links {
            text.push_str(&format!(" https://example{i}.org/page"));
        }
        json!({"title": "A question from a new account", "body": text, "category": "waste"})
    };
    app.post("/api/v1/questions", &body(3))
        .bearer(&newbie.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    for _ in 0..3 {
        app.post("/api/v1/questions", &body(2)).bearer(&newbie.access_token).send().assert_status(201);
    }
    let limited = app.post("/api/v1/questions", &body(0)).bearer(&newbie.access_token).send();
    limited.assert_problem(429, "rate_limited");
    let retry: i64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry));

    // Answers: 10 an hour.
    let q = app.ask(
        &app.user_with_roles("staff_tim", &[agora::domain::Role::Staff]),
        "waste",
        "A question to answer many times",
        &[],
    )["id"]
        .as_i64()
        .unwrap();
    for i in 0..10 {
        app.answer(&newbie, q, &format!("Answer number {i} from a new account."));
    }
    app.post(&format!("/api/v1/questions/{q}/answers"), &json!({"body": "The eleventh answer this hour."}))
        .bearer(&newbie.access_token)
        .send()
        .assert_problem(429, "rate_limited");

    // Staff are exempt; an hour later the newcomer may post again.
    let staff = app.user_with_roles("staff_tom", &[agora::domain::Role::Staff]);
    for _ in 0..4 {
        app.post("/api/v1/questions", &body(5)).bearer(&staff.access_token).send().assert_status(201);
    }
    app.clock.advance(Duration::minutes(61));
    let newbie = TestUser::from_session(&app.login("newbie", super::helpers::PASSWORD).json());
    app.post("/api/v1/questions", &body(0)).bearer(&newbie.access_token).send().assert_status(201);
    // After 24 hours the account is no longer new.
    app.clock.advance(Duration::hours(24));
    let newbie = TestUser::from_session(&app.login("newbie", super::helpers::PASSWORD).json());
    app.post("/api/v1/questions", &body(5)).bearer(&newbie.access_token).send().assert_status(201);
}

/// A body with `links` links, for the links-per-post limit.
fn with_links(text: &str, links: usize) -> String {
    let mut text = text.to_owned();
    for i in 0..links {
        text.push_str(&format!(" https://example{i}.org/page"));
    }
    text
}

#[test]
fn new_accounts_cannot_add_links_by_editing_an_answer() {
    let (app, _) = setup();
    let asker = app.register("asker");
    let newbie = app.register("newbie");
    let q = app.ask(&asker, "waste", "Where can I find the bin calendar?", &[])["id"].as_i64().unwrap();
    let text = "The calendar is on these pages.";
    let answer = app.answer(&newbie, q, text)["id"].as_i64().unwrap();
    let edit = |links: usize| {
        app.patch(&format!("/api/v1/answers/{answer}"), &json!({"body": with_links(text, links)}))
            .bearer(&newbie.access_token)
            .send()
    };
    let problem = edit(3).assert_problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "body", "{problem}");
    let page = app.question(q);
    assert_eq!(page["answers"][0]["body"], text, "the refused edit changed nothing");
    let revisions = app.get(&format!("/api/v1/answers/{answer}/revisions")).send().assert_status(200).json();
    assert_eq!(revisions["items"].as_array().unwrap().len(), 1, "{revisions}");
    assert_eq!(edit(2).assert_status(200).json()["body"], with_links(text, 2));

    // Once the account is no longer new, so is the limit.
    app.clock.advance(Duration::hours(25));
    let newbie = TestUser::from_session(&app.login("newbie", super::helpers::PASSWORD).json());
    app.patch(&format!("/api/v1/answers/{answer}"), &json!({"body": with_links(text, 5)}))
        .bearer(&newbie.access_token)
        .send()
        .assert_status(200);
}

/// Needs `limits::check_links` in `service::questions::edit` as well.
#[test]
fn new_accounts_cannot_add_links_by_editing_a_question() {
    let (app, _) = setup();
    let newbie = app.register("newbie");
    let text = "Which of these pages has the bin calendar?";
    let q = app
        .post("/api/v1/questions", &json!({"title": "Where is the bin calendar?", "body": text, "category": "waste"}))
        .bearer(&newbie.access_token)
        .send()
        .assert_status(201)
        .json()["id"]
        .as_i64()
        .unwrap();
    let edit = |body: Value| app.patch(&format!("/api/v1/questions/{q}"), &body).bearer(&newbie.access_token).send();
    let problem = edit(json!({"body": with_links(text, 3)})).assert_problem(422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "body", "{problem}");
    assert_eq!(app.question(q)["body"], text, "the refused edit changed nothing");
    // Edits that leave the body alone are not checked against it.
    edit(json!({"title": "Where is the bin calendar online?"})).assert_status(200);
    edit(json!({"body": with_links(text, 2)})).assert_status(200);
    assert_eq!(app.question(q)["body"], with_links(text, 2));
}
