//! Answers, acceptance, votes, comments, follows, notifications, views,
//! sanitized HTML and the fixed query count of a question page.

use chrono::Duration;
use serde_json::{Value, json};

use super::helpers::{TestApp, TestUser, spawn_app};

struct Scene {
    app: TestApp,
    admin: TestUser,
    asker: TestUser,
    helper: TestUser,
    question_id: i64,
}

fn scene() -> Scene {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "waste");
    let asker = app.register("asker");
    let helper = app.register("helper");
    let question_id = app.ask(&asker, "waste", "My bin was not collected on Tuesday", &[])["id"].as_i64().unwrap();
    Scene { app, admin, asker, helper, question_id }
}

fn vote(app: &TestApp, user: &TestUser, path: &str, value: i64) -> super::helpers::TestResponse {
    app.call("PUT", path).json(&json!({"value": value})).bearer(&user.access_token).send()
}

#[test]
fn answers_change_status_and_follow_the_rules() {
    let s = scene();
    let app = &s.app;
    let answer = app.answer(&s.helper, s.question_id, "Report it online and they come back within 2 days.");
    assert_eq!(answer["author"]["username"], "helper");
    assert_eq!(answer["accepted"], false);
    assert!(answer["verified"].is_null());
    assert_eq!(answer["my_vote"], 0);
    // The 201 body is built from fewer reads than the page: it must be the
    // answer exactly as its author then reads it there, and as the asker
    // does, but for their own vote.
    let read_by = |user: &TestUser| {
        let page = app.get(&format!("/api/v1/questions/{}", s.question_id)).bearer(&user.access_token).send().json();
        page["answers"][0].clone()
    };
    assert_eq!(read_by(&s.helper), answer);
    let as_asker = read_by(&s.asker);
    assert_eq!(as_asker["my_vote"], 0, "a signed-in reader who has not voted");
    assert!(app.question(s.question_id)["answers"][0]["my_vote"].is_null(), "an anonymous reader");
    let page = app.question(s.question_id);
    assert_eq!((page["status"].as_str(), page["answer_count"].as_i64()), (Some("answered"), Some(1)));

    let url = format!("/api/v1/questions/{}/answers", s.question_id);
    app.post(&url, &json!({"body": "too short"}))
        .bearer(&s.helper.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.post(&url, &json!({"body": "An answer without logging in first."})).send().assert_problem(401, "unauthorized");
    app.post("/api/v1/questions/31337/answers", &json!({"body": "An answer to a question that is not there."}))
        .bearer(&s.helper.access_token)
        .send()
        .assert_problem(404, "not_found");

    let answer_url = format!("/api/v1/answers/{}", answer["id"]);
    app.patch(&answer_url, &json!({"body": "Someone else rewriting this answer."}))
        .bearer(&s.asker.access_token)
        .send()
        .assert_problem(403, "forbidden");
    let edited = app
        .patch(&answer_url, &json!({"body": "Report it online; a crew returns within two working days."}))
        .bearer(&s.helper.access_token)
        .send()
        .assert_status(200)
        .json();
    assert!(edited["body"].as_str().unwrap().contains("two working days"));
    let revisions = app.get(&format!("{answer_url}/revisions")).send().assert_status(200).json();
    assert_eq!(revisions["items"].as_array().unwrap().len(), 2);
    assert!(revisions["items"][0]["title"].is_null());

    app.call("DELETE", &answer_url).bearer(&s.asker.access_token).send().assert_problem(403, "forbidden");
    app.call("DELETE", &answer_url).bearer(&s.helper.access_token).send().assert_status(204);
    let page = app.question(s.question_id);
    assert_eq!((page["status"].as_str(), page["answer_count"].as_i64()), (Some("unanswered"), Some(0)));
    app.get(&format!("{answer_url}/revisions")).send().assert_problem(404, "not_found");
}

#[test]
fn closed_and_locked_questions_take_no_answers() {
    let s = scene();
    let app = &s.app;
    let url = format!("/api/v1/questions/{}/answers", s.question_id);
    let body = json!({"body": "An answer that arrives after the question closed."});
    app.with_conn(|conn| {
        agora::store::questions::set_closed(conn, s.question_id, Some(app.clock.now()), Some("duplicate"), None)
            .unwrap()
    });
    app.post(&url, &body).bearer(&s.helper.access_token).send().assert_problem(409, "question_closed");
    let page = app.question(s.question_id);
    assert_eq!(page["closed"]["reason"], "duplicate");
    app.with_conn(|conn| {
        agora::store::questions::set_closed(conn, s.question_id, None, None, None).unwrap();
        agora::store::questions::set_locked(conn, s.question_id, Some(app.clock.now())).unwrap()
    });
    app.post(&url, &body).bearer(&s.helper.access_token).send().assert_problem(409, "question_locked");
}

#[test]
fn acceptance_by_the_asker_moves_and_is_removed() {
    let s = scene();
    let app = &s.app;
    let first = app.answer(&s.helper, s.question_id, "First answer: ring the waste team.")["id"].as_i64().unwrap();
    let other = app.register("other");
    let second =
        app.answer(&other, s.question_id, "Second answer: report a missed bin online.")["id"].as_i64().unwrap();
    let accept_url = format!("/api/v1/questions/{}/accept", s.question_id);

    app.post(&accept_url, &json!({"answer_id": first}))
        .bearer(&s.helper.access_token)
        .send()
        .assert_problem(403, "forbidden");
    let accepted = app
        .post(&accept_url, &json!({"answer_id": first}))
        .bearer(&s.asker.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!(accepted, json!({"question_id": s.question_id, "accepted_answer_id": first, "status": "solved"}));
    // Accepting again is harmless; accepting another moves it.
    app.post(&accept_url, &json!({"answer_id": first})).bearer(&s.asker.access_token).send().assert_status(200);
    let moved = app.post(&accept_url, &json!({"answer_id": second})).bearer(&s.asker.access_token).send().json();
    assert_eq!(moved["accepted_answer_id"], second);
    let page = app.question(s.question_id);
    assert_eq!(page["answers"][0]["id"], second, "the accepted answer comes first");
    assert_eq!(page["answers"][0]["accepted"], true);
    assert_eq!(page["answers"][1]["accepted"], false);

    let foreign_question = app.ask(&s.asker, "waste", "A different question entirely", &[])["id"].as_i64().unwrap();
    let foreign = app.answer(&s.helper, foreign_question, "An answer to the other question.")["id"].as_i64().unwrap();
    app.post(&accept_url, &json!({"answer_id": foreign}))
        .bearer(&s.asker.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.post(&accept_url, &json!({"answer_id": "x"}))
        .bearer(&s.asker.access_token)
        .send()
        .assert_problem(422, "validation_failed");

    let profile = app.get(&format!("/api/v1/users/{}", other.id)).send().json();
    assert_eq!(profile["counts"], json!({"questions": 0, "answers": 1, "accepted_answers": 1}));
    let profile = app.get(&format!("/api/v1/users/{}", s.asker.id)).send().json();
    assert_eq!(profile["counts"], json!({"questions": 2, "answers": 0, "accepted_answers": 0}));

    let removed = app.call("DELETE", &accept_url).bearer(&s.asker.access_token).send().assert_status(200).json();
    assert_eq!(removed, json!({"question_id": s.question_id, "accepted_answer_id": null, "status": "answered"}));
    // A moderator may accept on the asker's behalf.
    app.post(&accept_url, &json!({"answer_id": first})).bearer(&s.admin.access_token).send().assert_status(200);
    // Deleting the accepted answer removes the acceptance.
    app.call("DELETE", &format!("/api/v1/answers/{first}")).bearer(&s.helper.access_token).send().assert_status(204);
    let page = app.question(s.question_id);
    assert!(page["accepted_answer_id"].is_null());
    assert_eq!(page["status"], "answered");
}

/// The answer ids of a question page in the order it gives them.
fn reading_order(app: &TestApp, question_id: i64, viewer: Option<&TestUser>) -> Vec<i64> {
    let mut call = app.get(&format!("/api/v1/questions/{question_id}"));
    if let Some(viewer) = viewer {
        call = call.bearer(&viewer.access_token);
    }
    let page = call.send().assert_status(200).json();
    page["answers"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect()
}

#[test]
fn answers_read_accepted_then_verified_then_by_score_then_oldest() {
    let s = scene();
    let app = &s.app;
    let staff = app.user_with_roles("staff_sue", &[agora::domain::Role::Staff]);
    let (bea, cai) = (app.register("bea"), app.register("cai"));
    let writers = [&s.helper, &bea, &cai];
    let a: Vec<i64> = (0..8)
        .map(|i| {
            let body = format!("Answer number {i}, with enough text to post.");
            let id = app.answer(writers[i % 3], s.question_id, &body)["id"].as_i64().unwrap();
            // Each answer a second older than the next.
            app.clock.advance(Duration::seconds(1));
            id
        })
        .collect();
    let up_one = app.register("up_one");
    let up_two = app.register("up_two");
    let down = app.register("down");
    app.set_reputation(up_one.id, 15);
    app.set_reputation(up_two.id, 15);
    app.set_reputation(down.id, 200);
    let votes = [
        (&up_one, a[1], 1),
        (&up_two, a[1], 1),
        (&down, a[3], -1),
        (&up_one, a[4], 1),
        (&up_two, a[4], 1),
        (&up_one, a[6], 1),
        (&down, a[7], -1),
    ];
    for (voter, answer, value) in votes {
        vote(app, voter, &format!("/api/v1/answers/{answer}/vote"), value).assert_status(200);
    }
    for verified in [a[5], a[6]] {
        app.call("POST", &format!("/api/v1/answers/{verified}/verify"))
            .bearer(&staff.access_token)
            .send()
            .assert_status(200);
    }
    let accept_url = format!("/api/v1/questions/{}/accept", s.question_id);
    app.post(&accept_url, &json!({"answer_id": a[7]})).bearer(&s.asker.access_token).send().assert_status(200);

    // a5 and a6 are verified, a7 accepted; equal scores pair a1 with a4,
    // a0 with a2 (and a5), a3 with a7.
    let page = app.question(s.question_id);
    let score = |id: i64| {
        let answers = page["answers"].as_array().unwrap();
        answers.iter().find(|x| x["id"] == id).unwrap()["score"].as_i64().unwrap()
    };
    assert_eq!(a.iter().map(|&id| score(id)).collect::<Vec<_>>(), vec![0, 2, 0, -1, 2, 0, 1, -1]);
    let expected = vec![a[7], a[6], a[5], a[1], a[4], a[0], a[2], a[3]];
    assert_eq!(reading_order(app, s.question_id, None), expected);
    assert_eq!(reading_order(app, s.question_id, Some(&up_one)), expected, "the same for a logged-in voter");
    assert_eq!(page["answers"][0]["accepted"], true);
    assert!(page["answers"][1]["verified"].is_object() && page["answers"][2]["verified"].is_object());
    assert!(page["answers"][3]["verified"].is_null());

    // Without its acceptance, the downvoted answer goes last: -1 like a3,
    // but newer.
    app.call("DELETE", &accept_url).bearer(&s.asker.access_token).send().assert_status(200);
    let expected = vec![a[6], a[5], a[1], a[4], a[0], a[2], a[3], a[7]];
    assert_eq!(reading_order(app, s.question_id, None), expected);
    // Without its verification, a6 takes its place by score (+1).
    app.call("DELETE", &format!("/api/v1/answers/{}/verify", a[6]))
        .bearer(&staff.access_token)
        .send()
        .assert_status(204);
    let expected = vec![a[5], a[1], a[4], a[6], a[0], a[2], a[3], a[7]];
    assert_eq!(reading_order(app, s.question_id, Some(&s.asker)), expected);
}

#[test]
fn the_asker_accepts_their_own_answer_only_after_48_hours() {
    let s = scene();
    let app = &s.app;
    let own = app.answer(&s.asker, s.question_id, "Answering myself: it was a bank holiday.")["id"].as_i64().unwrap();
    let accept_url = format!("/api/v1/questions/{}/accept", s.question_id);
    app.post(&accept_url, &json!({"answer_id": own}))
        .bearer(&s.asker.access_token)
        .send()
        .assert_problem(403, "self_accept_too_early");
    app.clock.advance(Duration::hours(48) + Duration::seconds(1));
    let asker = super::helpers::TestUser::from_session(&app.login("asker", super::helpers::PASSWORD).json());
    app.post(&accept_url, &json!({"answer_id": own})).bearer(&asker.access_token).send().assert_status(200);
}

#[test]
fn votes_are_idempotent_privileged_and_limited() {
    let s = scene();
    let app = &s.app;
    let answer = app.answer(&s.helper, s.question_id, "An answer worth voting on, surely.")["id"].as_i64().unwrap();
    let voter = app.register("voter");
    let q_url = format!("/api/v1/questions/{}/vote", s.question_id);
    let a_url = format!("/api/v1/answers/{answer}/vote");

    vote(app, &voter, &q_url, 1).assert_problem(403, "insufficient_privilege");
    app.set_reputation(voter.id, 15);
    let up = vote(app, &voter, &q_url, 1).assert_status(200).json();
    assert_eq!(up, json!({"post_type": "question", "post_id": s.question_id, "score": 1, "my_vote": 1}));
    assert_eq!(vote(app, &voter, &q_url, 1).json()["score"], 1, "voting twice changes nothing");
    vote(app, &voter, &q_url, -1).assert_problem(403, "insufficient_privilege");
    app.set_reputation(voter.id, 125);
    assert_eq!(vote(app, &voter, &q_url, -1).json()["score"], -1);
    assert_eq!(
        vote(app, &voter, &q_url, 0).json(),
        json!({"post_type": "question", "post_id": s.question_id, "score": 0, "my_vote": 0})
    );
    assert_eq!(vote(app, &voter, &a_url, 1).json()["score"], 1);
    let page = app.get(&format!("/api/v1/questions/{}", s.question_id)).bearer(&voter.access_token).send().json();
    assert_eq!((page["my_vote"].as_i64(), page["answers"][0]["my_vote"].as_i64()), (Some(0), Some(1)));

    app.set_reputation(s.asker.id, 200);
    vote(app, &s.asker, &q_url, 1).assert_problem(403, "self_vote");
    vote(app, &voter, &q_url, 2).assert_problem(422, "validation_failed");
    vote(app, &voter, "/api/v1/answers/987654/vote", 1).assert_problem(404, "not_found");
    app.call("PUT", &q_url).json(&json!({"value": 1})).send().assert_problem(401, "unauthorized");

    // 40 new votes a UTC day; the 41st waits for tomorrow.
    let mut targets = Vec::new();
    for i in 0..40 {
        targets
            .push(app.ask(&s.asker, "waste", &format!("Question to vote on number {i}"), &[])["id"].as_i64().unwrap());
    }
    for (i, id) in targets.iter().enumerate() {
        let response = vote(app, &voter, &format!("/api/v1/questions/{id}/vote"), 1);
        if i < 38 {
            response.assert_status(200);
        } else {
            // Two votes were already cast today (question and answer).
            let limited = response.assert_problem(429, "rate_limited");
            assert!(limited["detail"].as_str().unwrap().contains("40"));
        }
    }
    // Removing a vote is always possible.
    vote(app, &voter, &format!("/api/v1/questions/{}/vote", targets[0]), 0).assert_status(200);
    let limited = vote(app, &voter, &format!("/api/v1/questions/{}/vote", targets[39]), 1);
    let retry_after: i64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry_after));
    app.clock.advance(Duration::days(1));
    let voter = super::helpers::TestUser::from_session(&app.login("voter", super::helpers::PASSWORD).json());
    vote(app, &voter, &format!("/api/v1/questions/{}/vote", targets[39]), 1).assert_status(200);
}

#[test]
fn comments_need_the_privilege_unless_involved() {
    let s = scene();
    let app = &s.app;
    let answer = app.answer(&s.helper, s.question_id, "An answer that will get comments.")["id"].as_i64().unwrap();
    let q_url = format!("/api/v1/questions/{}/comments", s.question_id);
    let a_url = format!("/api/v1/answers/{answer}/comments");
    // The asker and the answerer comment without reputation.
    let from_asker =
        app.post(&a_url, &json!({"body": "Which day did they come back?"})).bearer(&s.asker.access_token).send();
    let from_asker = from_asker.assert_status(201).json();
    assert_eq!(from_asker["answer_id"], answer);
    app.post(&a_url, &json!({"body": "Thursday for me."})).bearer(&s.helper.access_token).send().assert_status(201);

    let stranger = app.register("stranger");
    app.post(&q_url, &json!({"body": "Me too!"}))
        .bearer(&stranger.access_token)
        .send()
        .assert_problem(403, "insufficient_privilege");
    app.set_reputation(stranger.id, 50);
    let mine = app.post(&q_url, &json!({"body": "Same on our street."})).bearer(&stranger.access_token).send().json();
    app.post(&q_url, &json!({"body": "x".repeat(601)}))
        .bearer(&stranger.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.post(&q_url, &json!({"body": "  "}))
        .bearer(&stranger.access_token)
        .send()
        .assert_problem(422, "validation_failed");

    let page = app.question(s.question_id);
    assert_eq!(page["comments"].as_array().unwrap().len(), 1);
    assert_eq!(page["answers"][0]["comments"].as_array().unwrap().len(), 2);

    let comment_url = format!("/api/v1/comments/{}", mine["id"]);
    app.call("DELETE", &comment_url).bearer(&s.asker.access_token).send().assert_problem(403, "forbidden");
    app.call("DELETE", &comment_url).bearer(&stranger.access_token).send().assert_status(204);
    app.call("DELETE", &comment_url).bearer(&stranger.access_token).send().assert_problem(404, "not_found");
    app.call("DELETE", &format!("/api/v1/comments/{}", from_asker["id"]))
        .bearer(&s.admin.access_token)
        .send()
        .assert_status(204);
    assert_eq!(app.question(s.question_id)["comments"], json!([]));
}

fn inbox(app: &TestApp, user: &TestUser, query: &str) -> Value {
    app.get(&format!("/api/v1/me/notifications{query}")).bearer(&user.access_token).send().assert_status(200).json()
}

fn kinds(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn followers_are_notified_and_inboxes_can_be_read() {
    let s = scene();
    let app = &s.app;
    let follower = app.register("follower");
    app.post(&format!("/api/v1/questions/{}/follow", s.question_id), &json!({}))
        .bearer(&follower.access_token)
        .send()
        .assert_status(204);
    let answer =
        app.answer(&s.helper, s.question_id, "Try the missed bin form on the website.")["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/answers/{answer}/comments"), &json!({"body": "Thanks, trying it now."}))
        .bearer(&s.asker.access_token)
        .send()
        .assert_status(201);
    app.post(&format!("/api/v1/questions/{}/accept", s.question_id), &json!({"answer_id": answer}))
        .bearer(&s.asker.access_token)
        .send()
        .assert_status(200);

    let asker_inbox = inbox(app, &s.asker, "");
    assert_eq!(kinds(&asker_inbox), vec!["answer_posted"]);
    assert_eq!(asker_inbox["items"][0]["question_title"], "My bin was not collected on Tuesday");
    assert_eq!(asker_inbox["items"][0]["actor_name"], "helper");
    assert_eq!(kinds(&inbox(app, &follower, "")), vec!["answer_posted"]);
    // Newest first; the helper is not told about their own answer.
    assert_eq!(kinds(&inbox(app, &s.helper, "")), vec!["answer_accepted", "comment_posted"]);

    let unread = inbox(app, &s.helper, "?unread=true&limit=1");
    assert_eq!(unread["has_more"], true);
    let first_id = unread["items"][0]["id"].as_i64().unwrap();
    let marked =
        app.post("/api/v1/me/notifications/read", &json!({"ids": [first_id]})).bearer(&s.helper.access_token).send();
    assert_eq!(marked.assert_status(200).json()["updated"], 1);
    assert_eq!(kinds(&inbox(app, &s.helper, "?unread=true")), vec!["comment_posted"]);
    let all =
        app.post("/api/v1/me/notifications/read", &json!({"all": true})).bearer(&s.helper.access_token).send().json();
    assert_eq!(all["updated"], 1);
    assert!(kinds(&inbox(app, &s.helper, "?unread=true")).is_empty());
    // Someone else's ids change nothing.
    let theirs = inbox(app, &s.asker, "")["items"][0]["id"].as_i64().unwrap();
    let none = app
        .post("/api/v1/me/notifications/read", &json!({"ids": [theirs]}))
        .bearer(&s.helper.access_token)
        .send()
        .json();
    assert_eq!(none["updated"], 0);
    app.post("/api/v1/me/notifications/read", &json!({}))
        .bearer(&s.helper.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    app.get("/api/v1/me/notifications").send().assert_problem(401, "unauthorized");

    // Unfollowing stops the notifications.
    app.call("DELETE", &format!("/api/v1/questions/{}/follow", s.question_id))
        .bearer(&follower.access_token)
        .send()
        .assert_status(204);
    app.answer(&s.helper, s.question_id, "A second answer after the unfollow.");
    assert_eq!(kinds(&inbox(app, &follower, "")).len(), 1);
    app.post("/api/v1/questions/55555/follow", &json!({}))
        .bearer(&follower.access_token)
        .send()
        .assert_problem(404, "not_found");
}

#[test]
fn views_count_once_per_visitor_and_day() {
    let s = scene();
    let app = &s.app;
    let url = format!("/api/v1/questions/{}", s.question_id);
    let views = |visitor: Option<&str>| {
        let mut call = app.get(&url);
        if let Some(v) = visitor {
            call = call.header("X-Visitor-Id", v);
        }
        call.send().assert_status(200).json()["view_count"].as_i64().unwrap()
    };
    assert_eq!(views(None), 0);
    assert_eq!(views(Some("visitor-a")), 1);
    assert_eq!(views(Some("visitor-a")), 1);
    assert_eq!(views(Some("visitor-b")), 2);
    app.clock.advance(Duration::days(1));
    assert_eq!(views(Some("visitor-a")), 3);
    app.get(&url).header("X-Visitor-Id", &"v".repeat(129)).send().assert_problem(400, "invalid_header");
    app.get("/api/v1/questions/8888").header("X-Visitor-Id", "visitor-a").send().assert_problem(404, "not_found");
}

const XSS_VECTORS: &[&str] = &[
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<svg onload=alert(1)><circle/></svg>",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<scr<script>ipt>alert(1)</script>",
    "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
    "<body onload=alert(1)>",
    "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
    "<object data=\"javascript:alert(1)\"></object>",
    "<form action=\"javascript:alert(1)\"><input type=submit></form>",
    "<img src=\"x\" onerror\n=alert(1)>",
    "<<img src=x onerror=alert(1)//<",
    "![x](javascript:alert(1))",
    "<a href=\"https://ok.example\" onclick=\"alert(1)\">ok</a>",
];

#[test]
fn rendered_html_never_carries_scripts() {
    let s = scene();
    let app = &s.app;
    let body = format!("Some text.\n\n{}\n\nEnd of the hostile body.", XSS_VECTORS.join("\n\n"));
    let q = app
        .post(
            "/api/v1/questions",
            &json!({"title": "A question full of hostile markup", "body": body, "category": "waste"}),
        )
        .bearer(&s.asker.access_token)
        .send()
        .assert_status(201)
        .json();
    let answer = app.answer(&s.helper, q["id"].as_i64().unwrap(), &body);
    let comment = app
        .post(&format!("/api/v1/questions/{}/comments", q["id"]), &json!({"body": XSS_VECTORS[..6].join(" ")}))
        .bearer(&s.asker.access_token)
        .send()
        .json();
    for html in [&q["body_html"], &answer["body_html"], &comment["body_html"]] {
        let html = html.as_str().unwrap().to_lowercase();
        // Escaped text ("&lt;script&gt;") is harmless; look inside real tags.
        for tag in html.split('<').skip(1).map(|rest| rest.split('>').next().unwrap_or(rest)) {
            let name = tag.trim_start_matches('/').split(|c: char| c.is_whitespace()).next().unwrap_or("");
            assert!(
                ["p", "a", "img", "em", "strong", "code", "pre", "ul", "ol", "li", "br", "div", "mi"].contains(&name)
                    || name.is_empty(),
                "tag <{tag}> survived"
            );
            for banned in ["javascript:", "data:", "onerror", "onload", "onclick", "style=", "xlink"] {
                assert!(!tag.contains(banned), "{banned} survived in <{tag}>");
            }
        }
    }
    let html = answer["body_html"].as_str().unwrap();
    assert!(html.contains(r#"href="https://ok.example" rel="noopener noreferrer nofollow""#), "{html}");
    // The source is kept as written.
    assert!(answer["body"].as_str().unwrap().contains("<script>alert(1)</script>"));
}

#[test]
fn a_question_page_costs_a_fixed_number_of_queries() {
    let s = scene();
    let app = &s.app;
    let small = app.ask(&s.asker, "waste", "A small question with one answer", &[])["id"].as_i64().unwrap();
    let small_answer = app.answer(&s.helper, small, "The one and only answer here.")["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/answers/{small_answer}/comments"), &json!({"body": "one comment"}))
        .bearer(&s.asker.access_token)
        .send()
        .assert_status(201);

    // Past the new-account limit of 10 answers an hour.
    app.set_reputation(s.helper.id, 15);
    let mut answer_ids = Vec::new();
    for i in 0..50 {
        let author = if i % 2 == 0 { &s.helper } else { &s.admin };
        answer_ids.push(
            app.answer(author, s.question_id, &format!("Answer number {i} with enough text."))["id"].as_i64().unwrap(),
        );
    }
    for i in 0..200 {
        let url = match i % 5 {
            0 => format!("/api/v1/questions/{}/comments", s.question_id),
            n => format!("/api/v1/answers/{}/comments", answer_ids[(i + n) % 50]),
        };
        app.post(&url, &json!({"body": format!("comment {i}")}))
            .bearer(&s.asker.access_token)
            .send()
            .assert_status(201);
    }

    // The counter is the whole app's, and background workers (the outbox
    // follower, mail, webhooks) still busy with the comments above add to it
    // now and then; they can only add, so the fewest over a few reads is the
    // page's own cost.
    let queries_for = |id: i64, user: Option<&TestUser>| {
        let mut fewest = u64::MAX;
        let mut page = Value::Null;
        for _ in 0..3 {
            // An anonymous page is served again from the read cache; the
            // cost measured is the database's.
            app.state.reads.note_write();
            let before = app.state.queries.get();
            let mut call = app.get(&format!("/api/v1/questions/{id}"));
            if let Some(user) = user {
                call = call.bearer(&user.access_token);
            }
            page = call.send().assert_status(200).json();
            fewest = fewest.min(app.state.queries.get() - before);
        }
        (fewest, page)
    };
    let (small_cost, _) = queries_for(small, None);
    let (big_cost, page) = queries_for(s.question_id, None);
    assert_eq!(page["answers"].as_array().unwrap().len(), 50);
    let comments: usize = page["comments"].as_array().unwrap().len()
        + page["answers"].as_array().unwrap().iter().map(|a| a["comments"].as_array().unwrap().len()).sum::<usize>();
    assert_eq!(comments, 200);
    // The count is of every pool the node reads with (a page is read on
    // SQLite's readers' pool): zero would mean a pool it does not see.
    assert!(small_cost > 0, "the node's statement counter did not see the page's statements");
    assert_eq!(small_cost, big_cost, "query count must not grow with answers and comments");
    assert!(big_cost <= 8, "{big_cost} queries for an anonymous question page");
    let (small_logged_in, _) = queries_for(small, Some(&s.asker));
    let (big_logged_in, _) = queries_for(s.question_id, Some(&s.asker));
    assert_eq!(small_logged_in, big_logged_in);
    assert!(big_logged_in <= 12, "{big_logged_in} queries for a logged-in question page");
}
