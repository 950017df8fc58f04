//! Flags: auto-hide after three spam flags, the review queue's outcomes,
//! removal as spam, and the personal-information guard with redaction.

use serde_json::{Value, json};

use super::{audit, flag, scene, trusted};
use crate::helpers::TestUser;

#[test]
fn three_spam_flags_hide_a_post_until_reviewed() {
    let s = scene();
    let app = &s.app;
    let newcomer = app.register("newcomer");
    flag(app, &newcomer, "question", s.question, "spam").assert_problem(403, "insufficient_privilege");
    flag(app, &s.asker, "question", s.question, "spam").assert_problem(403, "insufficient_privilege");
    app.set_reputation(s.asker.id, 60);
    flag(app, &s.asker, "question", s.question, "spam").assert_problem(403, "own_post");
    let flaggers: Vec<TestUser> = (0..3).map(|i| trusted(app, &format!("flagger{i}"))).collect();
    let first = flag(app, &flaggers[0], "question", s.question, "spam").assert_status(201).json();
    assert_eq!(first["status"], "pending");
    flag(app, &flaggers[0], "question", s.question, "abusive").assert_problem(409, "already_flagged");
    flag(app, &flaggers[1], "question", s.question, "off_topic").assert_status(201);
    assert_eq!(
        app.get(&format!("/api/v1/questions/{}", s.question)).send().status,
        200,
        "an off-topic flag does not count"
    );
    flag(app, &flaggers[1], "question", s.question, "spam").assert_problem(409, "already_flagged");
    let third = trusted(app, "flagger3");
    flag(app, &flaggers[2], "question", s.question, "abusive").assert_status(201);
    assert_eq!(
        app.get(&format!("/api/v1/questions/{}", s.question)).send().status,
        200,
        "two serious flags are not enough"
    );
    flag(app, &third, "question", s.question, "spam").assert_status(201);

    // Hidden: gone for everyone but moderators and the author.
    app.get(&format!("/api/v1/questions/{}", s.question)).send().assert_problem(404, "not_found");
    let own = app.get(&format!("/api/v1/questions/{}", s.question)).bearer(&s.asker.access_token).send().json();
    assert_eq!(own["hidden"], true);
    assert!(app.get("/api/v1/questions").send().json()["items"].as_array().unwrap().is_empty());
    let categories = app.get("/api/v1/categories").send().json();
    assert_eq!(categories["items"][0]["question_count"], 0);
    let entries = audit(app, &s.moderator, "action=auto_hide");
    assert_eq!(entries.len(), 1);
    assert!(entries[0]["actor_id"].is_null());
    let inbox = app.get("/api/v1/me/notifications").bearer(&s.asker.access_token).send().json();
    assert!(inbox["items"].as_array().unwrap().iter().any(|n| n["kind"] == "moderator_action"));

    // The queue shows the flags with the post and its author's history.
    let queue = app.get("/api/v1/mod/flags").bearer(&s.moderator.access_token).send().assert_status(200).json();
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 4, "oldest first, one item per flag");
    assert_eq!(items[0]["flag"]["id"], first["id"]);
    assert_eq!(items[0]["post"]["hidden"], true);
    assert_eq!(items[0]["post"]["author"]["username"], "asker");
    assert_eq!(items[0]["flags"].as_array().unwrap().len(), 4);
    assert_eq!(items[0]["author_history"]["questions"], 0, "hidden posts are not counted");
    app.get("/api/v1/mod/flags").bearer(&third.access_token).send().assert_problem(403, "forbidden");

    // Dismissing brings the post back and resolves every flag on it.
    let resolved = app
        .post(&format!("/api/v1/mod/flags/{}/resolve", first["id"]), &json!({"action": "dismiss", "note": "not spam"}))
        .bearer(&s.moderator.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!((resolved["flags_resolved"].as_i64(), resolved["post_hidden"].as_bool()), (Some(4), Some(false)));
    app.get(&format!("/api/v1/questions/{}", s.question)).send().assert_status(200);
    assert!(
        app.get("/api/v1/mod/flags").bearer(&s.moderator.access_token).send().json()["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let resolved_queue = app.get("/api/v1/mod/flags?status=resolved").bearer(&s.moderator.access_token).send().json();
    assert_eq!(resolved_queue["items"].as_array().unwrap().len(), 4);
    app.post(&format!("/api/v1/mod/flags/{}/resolve", first["id"]), &json!({"action": "hide"}))
        .bearer(&s.moderator.access_token)
        .send()
        .assert_problem(409, "already_resolved");
}

#[test]
fn removing_as_spam_deletes_and_costs_reputation_once() {
    let s = scene();
    let app = &s.app;
    let spammer = app.register("spammer");
    let answer =
        app.answer(&spammer, s.question, "Buy cheap bins at my website, great prices!")["id"].as_i64().unwrap();
    app.set_reputation(spammer.id, 150);
    // Keep the ledger honest: the cached 150 is not in it, so compare deltas.
    let flagger = trusted(app, "flagger");
    let flag_id = flag(app, &flagger, "answer", answer, "spam").assert_status(201).json()["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/mod/flags/{flag_id}/resolve"), &json!({"action": "remove_as_spam"}))
        .bearer(&s.moderator.access_token)
        .send()
        .assert_status(200);
    assert_eq!(app.reputation(spammer.id), 50, "-100");
    let page = app.question(s.question);
    assert_eq!(page["answer_count"], 0);
    assert!(page["answers"].as_array().unwrap().is_empty());
    // A second flag on the (deleted) answer cannot happen; removing again through hiding costs nothing.
    flag(app, &trusted(app, "late"), "answer", answer, "spam").assert_problem(404, "not_found");
    let ledger = app.with_conn(|conn| agora::store::reputation::for_user(conn, spammer.id).unwrap());
    assert_eq!(ledger.iter().filter(|e| e.reason == "removed_as_spam").count(), 1);
    let entry = &audit(app, &s.moderator, "action=resolve_flag")[0];
    assert_eq!(entry["after"]["resolution"], "remove_as_spam");
    assert_eq!(entry["actor_id"], s.moderator.id);
}

#[test]
fn resolving_a_flag_with_hide_or_delete_takes_the_post_away() {
    let s = scene();
    let app = &s.app;
    let neighbour = app.register("neighbour");
    let other = app.ask(&neighbour, "waste", "When is the garden waste collected?", &[])["id"].as_i64().unwrap();
    let flagger = trusted(app, "flagger");
    let reader = app.register("reader");
    let flag_id = |kind: &str, id: i64, reason: &str| {
        flag(app, &flagger, kind, id, reason).assert_status(201).json()["id"].as_i64().unwrap()
    };
    let (hide_flag, delete_flag) =
        (flag_id("question", s.question, "off_topic"), flag_id("question", other, "abusive"));
    app.get(&format!("/api/v1/questions/{}", s.question)).send().assert_status(200);

    let resolve = |id: i64, body: Value| {
        app.post(&format!("/api/v1/mod/flags/{id}/resolve"), &body)
            .bearer(&s.moderator.access_token)
            .send()
            .assert_status(200)
            .json()
    };
    let hidden = resolve(hide_flag, json!({"action": "hide", "note": "not a council matter"}));
    assert_eq!((hidden["resolution"].as_str(), hidden["flags_resolved"].as_i64()), (Some("hide"), Some(1)));
    assert_eq!((hidden["post_hidden"].as_bool(), hidden["post_deleted"].as_bool()), (Some(true), Some(false)));
    let deleted = resolve(delete_flag, json!({"action": "delete"}));
    assert_eq!((deleted["post_hidden"].as_bool(), deleted["post_deleted"].as_bool()), (Some(false), Some(true)));

    // Hidden: gone for residents but its author. Deleted: gone for
    // everyone but moderators, its author included.
    for id in [s.question, other] {
        let path = format!("/api/v1/questions/{id}");
        app.get(&path).send().assert_problem(404, "not_found");
        app.get(&path).bearer(&reader.access_token).send().assert_problem(404, "not_found");
        app.get(&path).bearer(&s.moderator.access_token).send().assert_status(200);
    }
    let own = app.get(&format!("/api/v1/questions/{}", s.question)).bearer(&s.asker.access_token).send().json();
    assert_eq!(own["hidden"], true);
    app.get(&format!("/api/v1/questions/{other}"))
        .bearer(&neighbour.access_token)
        .send()
        .assert_problem(404, "not_found");
    for viewer in [None, Some(&reader), Some(&s.asker), Some(&neighbour)] {
        let mut call = app.get("/api/v1/questions");
        if let Some(user) = viewer {
            call = call.bearer(&user.access_token);
        }
        assert_eq!(call.send().json()["items"], json!([]), "listed for {:?}", viewer.map(|u| u.id));
    }
    assert_eq!(app.get("/api/v1/categories").send().json()["items"][0]["question_count"], 0);
    assert_eq!(app.get("/api/v1/mod/flags").bearer(&s.moderator.access_token).send().json()["items"], json!([]));

    let entries = audit(app, &s.moderator, "action=resolve_flag");
    assert_eq!(entries.len(), 2, "newest first");
    let (delete_entry, hide_entry) = (&entries[0], &entries[1]);
    for (entry, id) in [(hide_entry, s.question), (delete_entry, other)] {
        assert_eq!(
            (entry["actor_id"].as_i64(), entry["target_type"].as_str()),
            (Some(s.moderator.id), Some("question"))
        );
        assert_eq!(entry["target_id"], id);
        assert_eq!(entry["before"], json!({"hidden": false, "deleted": false}));
    }
    assert_eq!(hide_entry["reason"], "not a council matter");
    assert_eq!(hide_entry["after"], json!({"resolution": "hide", "hidden": true, "deleted": false}));
    assert_eq!(delete_entry["reason"], "delete", "without a note, the resolution");
    assert_eq!(delete_entry["after"], json!({"resolution": "delete", "hidden": false, "deleted": true}));
}

/// Three flags at once (PostgreSQL runs them side by side) still hide the
/// post, once.
#[test]
fn simultaneous_flags_still_hide_the_post() {
    let s = scene();
    let app = &s.app;
    let answerer = trusted(app, "answerer");
    let answers: Vec<i64> = (0..4)
        .map(|i| {
            app.answer(&answerer, s.question, &format!("Cheap bins from my shop, offer number {i} today!"))["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let flaggers: Vec<TestUser> = (0..3).map(|i| trusted(app, &format!("flagger{i}"))).collect();
    for &answer in &answers {
        let start = std::sync::Barrier::new(flaggers.len());
        std::thread::scope(|scope| {
            for flagger in &flaggers {
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    flag(app, flagger, "answer", answer, "spam").assert_status(201);
                });
            }
        });
    }
    let page = app.question(s.question);
    assert_eq!(page["answer_count"], 0, "every answer hidden: {page}");
    let seen = app.get(&format!("/api/v1/questions/{}", s.question)).bearer(&s.moderator.access_token).send().json();
    let hidden: Vec<bool> = seen["answers"].as_array().unwrap().iter().map(|a| a["hidden"] == true).collect();
    assert_eq!(hidden, vec![true; answers.len()]);
    assert_eq!(audit(app, &s.moderator, "action=auto_hide").len(), answers.len(), "hidden once each");
}

#[test]
fn personal_information_is_flagged_and_can_be_redacted() {
    let s = scene();
    let app = &s.app;
    let body = json!({"title": "Missed bin at my house on Mill Lane", "body": "Please call me on 07700 900123 about the bin at 12 Mill Lane.", "category": "waste"});
    let q = app.post("/api/v1/questions", &body).bearer(&s.asker.access_token).send().assert_status(201).json()["id"]
        .as_i64()
        .unwrap();
    let clean = json!({"title": "Which number do I call about bins?", "body": "Do I call 311 or the depot? It has been like this since 2024: they missed 3 weeks in a row and left 2 days on the street, case 12/03/2024.", "category": "waste"});
    app.post("/api/v1/questions", &clean).bearer(&s.asker.access_token).send().assert_status(201);
    let queue = app.get("/api/v1/mod/flags").bearer(&s.moderator.access_token).send().json();
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "only the post with personal details: {queue}");
    assert_eq!(items[0]["flag"]["reason"], "personal_info");
    assert!(items[0]["flag"]["reporter_id"].is_null());
    assert_eq!(items[0]["post"]["id"], q);
    let note = items[0]["flag"]["note"].as_str().unwrap();
    assert!(note.contains("phone number") && note.contains("street address"), "{note}");
    // The post is still published: a flag, not a block.
    app.question(q);

    let edit = json!({"body": "Please call me about the bin at [address removed].", "redact": true});
    app.patch(&format!("/api/v1/questions/{q}"), &edit)
        .bearer(&s.asker.access_token)
        .send()
        .assert_problem(403, "forbidden");
    app.patch(&format!("/api/v1/questions/{q}"), &edit).bearer(&s.moderator.access_token).send().assert_status(200);
    let seen_by_moderator =
        app.get(&format!("/api/v1/questions/{q}/revisions")).bearer(&s.moderator.access_token).send().json();
    let revisions = seen_by_moderator["items"].as_array().unwrap();
    assert_eq!(revisions[0]["redacted"], false);
    assert_eq!(revisions[1]["redacted"], true);
    assert_eq!(revisions[1]["body"], "[redacted by a moderator]");
    let anonymous = app.get(&format!("/api/v1/questions/{q}/revisions")).send().json();
    assert!(!anonymous.to_string().contains("07700"));
    let seen_by_admin =
        app.get(&format!("/api/v1/questions/{q}/revisions")).bearer(&s.admin.access_token).send().json();
    assert!(seen_by_admin["items"][1]["body"].as_str().unwrap().contains("07700 900123"));
    assert_eq!(audit(app, &s.moderator, "action=redact").len(), 1);

    // Answers and comments are guarded too.
    let helper = trusted(app, "helper");
    app.answer(&helper, q, "Email me at helper@example.org and I will explain.");
    app.post(&format!("/api/v1/questions/{q}/comments"), &json!({"body": "my ref is 12345678"}))
        .bearer(&helper.access_token)
        .send()
        .assert_status(201);
    let reasons: Vec<String> = app.get("/api/v1/mod/flags").bearer(&s.moderator.access_token).send().json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["flag"]["target_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, ["question", "answer", "comment"]);
}
