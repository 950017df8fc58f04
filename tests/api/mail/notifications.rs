//! Notification mail: who gets it, what it says, preferences, one-click
//! unsubscribe, and posts hidden before their mail left.

use agora::domain::Role;
use serde_json::{Value, json};

use super::smtp::SmtpSink;
use super::{address, spawn_mail_app, subjects, verified_user, wait_until_idle};
use crate::helpers::{TestApp, TestUser};

struct Scene {
    sink: SmtpSink,
    app: TestApp,
    asker: TestUser,
    helper: TestUser,
    question_id: i64,
}

fn scene() -> Scene {
    let sink = SmtpSink::start();
    let app = spawn_mail_app(&sink);
    let admin = app.admin();
    app.create_category(&admin, "waste");
    let asker = verified_user(&app, &sink, "asker");
    let helper = verified_user(&app, &sink, "helper");
    let question_id = app.ask(&asker, "waste", "My bin was not collected on Tuesday", &[])["id"].as_i64().unwrap();
    Scene { sink, app, asker, helper, question_id }
}

fn settings(app: &TestApp, user: &TestUser) -> Value {
    app.get("/api/v1/me/notification-settings").bearer(&user.access_token).send().assert_status(200).json()
}

#[test]
fn an_answer_mails_the_asker_with_an_escaped_excerpt_and_one_click_unsubscribe() {
    let s = scene();
    s.app.answer(
        &s.helper,
        s.question_id,
        "Report it <script>alert(1)</script> on the **missed bin** form & wait <2 days.",
    );
    let mails = s.sink.wait_for(&address("asker"), 2);
    let mail = &mails[1];
    assert_eq!(
        mail.header("Subject").unwrap(),
        "helper answered your question \"My bin was not collected on Tuesday\""
    );
    assert!(mail.header("List-Unsubscribe").unwrap().starts_with("<http://127.0.0.1:8080/api/v1/unsubscribe?token="));
    assert_eq!(mail.header("List-Unsubscribe-Post").unwrap(), "List-Unsubscribe=One-Click");
    assert!(mail.text.contains("> Report it on the missed bin form & wait <2 days."), "{}", mail.text);
    assert!(mail.text.contains("<blockquote>Report it on the missed bin form &amp; wait &lt;2 days.</blockquote>"));
    assert!(!mail.text.contains("<script>") && !mail.text.contains("alert(1)"));
    assert!(mail.text.contains(&format!("http://127.0.0.1:8080/questions/{}", s.question_id)));
    // The helper hears nothing of their own answer.
    wait_until_idle(&s.app);
    assert_eq!(s.sink.mails_to(&address("helper")).len(), 1);
}

#[test]
fn unverified_addresses_get_no_notification_mail() {
    let s = scene();
    let stranger = s.app.register("stranger");
    let q = s.app.ask(&stranger, "waste", "Where do I take old paint tins?", &[])["id"].as_i64().unwrap();
    s.app.answer(&s.helper, q, "The recycling centre on Mill Road takes them.");
    wait_until_idle(&s.app);
    assert_eq!(subjects(&s.sink.mails_to(&address("stranger"))), vec!["Confirm your email address"]);
}

#[test]
fn preferences_are_kept_and_off_means_no_mail() {
    let s = scene();
    let defaults = settings(&s.app, &s.asker);
    assert_eq!(defaults["digest"], "weekly");
    assert_eq!(defaults["email"]["answer_on_my_question"], "instant");
    assert_eq!(defaults["email"]["followed_question_activity"], "digest");
    assert_eq!(defaults["email"].as_object().unwrap().len(), 8);

    let change = json!({"email": {"answer_on_my_question": "off"}, "digest": "daily"});
    let put = s.app.call("PUT", "/api/v1/me/notification-settings").json(&change).bearer(&s.asker.access_token).send();
    let now = put.assert_status(200).json();
    assert_eq!((now["email"]["answer_on_my_question"].as_str(), now["digest"].as_str()), (Some("off"), Some("daily")));
    assert_eq!(now["email"]["answer_accepted"], "instant", "kinds left out keep their mode");
    assert_eq!(settings(&s.app, &s.asker), now);

    s.app.answer(&s.helper, s.question_id, "Use the missed bin form on the website.");
    wait_until_idle(&s.app);
    assert_eq!(s.sink.mails_to(&address("asker")).len(), 1, "only the verification");

    for bad in [
        json!({"email": {"answer_on_my_question": "sometimes"}, "digest": "daily"}),
        json!({"email": {"no_such_kind": "off"}, "digest": "daily"}),
        json!({"email": {}, "digest": "hourly"}),
        json!({"email": {}}),
    ] {
        let status = s
            .app
            .call("PUT", "/api/v1/me/notification-settings")
            .json(&bad)
            .bearer(&s.asker.access_token)
            .send()
            .status;
        assert!(status == 400 || status == 422, "{bad}: {status}");
    }
}

#[test]
fn one_click_unsubscribe_works_without_login_and_stops_that_kind() {
    let s = scene();
    s.app.answer(&s.helper, s.question_id, "Use the missed bin form on the website.");
    let mail = s.sink.wait_for(&address("asker"), 2).remove(1);
    let header = mail.header("List-Unsubscribe").unwrap();
    let path = header.trim_matches(['<', '>']).trim_start_matches("http://127.0.0.1:8080").to_owned();

    let tampered = format!("{}x", &path[..path.len() - 1]);
    s.app
        .call("POST", &tampered)
        .raw("application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
        .send()
        .assert_problem(400, "invalid_token");
    s.app
        .call("POST", &path)
        .raw("application/x-www-form-urlencoded", "List-Unsubscribe=One-Click")
        .send()
        .assert_status(200);
    assert_eq!(settings(&s.app, &s.asker)["email"]["answer_on_my_question"], "off");
    assert_eq!(settings(&s.app, &s.asker)["email"]["answer_accepted"], "instant");

    let second_helper = verified_user(&s.app, &s.sink, "second");
    s.app.answer(&second_helper, s.question_id, "Or phone the council's waste line.");
    wait_until_idle(&s.app);
    assert_eq!(s.sink.mails_to(&address("asker")).len(), 2);
}

#[test]
fn a_post_hidden_before_its_mail_leaves_is_not_mailed() {
    let s = scene();
    let moderator = s.app.user_with_roles("moderator", &[Role::Moderator]);
    s.sink.set_failing(true);
    let answer = s.app.answer(&s.helper, s.question_id, "Buy cheap pills at spam.example")["id"].as_i64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    s.app
        .call("POST", &format!("/api/v1/mod/posts/answer/{answer}/hide"))
        .bearer(&moderator.access_token)
        .send()
        .assert_status(204);
    s.sink.set_failing(false);
    // The moderator's action on the helper's answer is told to the helper.
    let helper_mails = s.sink.wait_for(&address("helper"), 2);
    assert!(helper_mails[1].header("Subject").unwrap().starts_with("A moderator acted on your post"));
    assert!(!helper_mails[1].text.contains("spam.example"), "no excerpt of a hidden post");
    wait_until_idle(&s.app);
    let asker_mails = s.sink.mails_to(&address("asker"));
    assert_eq!(asker_mails.len(), 1, "the hidden answer was not mailed: {asker_mails:#?}");
}

#[test]
fn acceptance_and_comments_mail_the_answerer() {
    let s = scene();
    let answer = s.app.answer(&s.helper, s.question_id, "Use the missed bin form.")["id"].as_i64().unwrap();
    s.app
        .post(&format!("/api/v1/answers/{answer}/comments"), &json!({"body": "Thanks, that worked."}))
        .bearer(&s.asker.access_token)
        .send()
        .assert_status(201);
    s.app
        .post(&format!("/api/v1/questions/{}/accept", s.question_id), &json!({"answer_id": answer}))
        .bearer(&s.asker.access_token)
        .send()
        .assert_status(200);
    let mails = s.sink.wait_for(&address("helper"), 3);
    let mut got = subjects(&mails[1..]);
    got.sort();
    assert_eq!(
        got,
        vec![
            "Your answer to \"My bin was not collected on Tuesday\" was accepted".to_owned(),
            "asker commented on your post in \"My bin was not collected on Tuesday\"".to_owned(),
        ]
    );
}
