//! Reputation: a table of steps played over HTTP across days, each followed
//! by every user's expected reputation and a ledger that sums to it.

use chrono::Duration;
use serde_json::{Value, json};

use super::helpers::{TestApp, TestUser, spawn_app};

/// The people of the scenarios.
struct Cast {
    app: TestApp,
    admin: TestUser,
    asker: TestUser,
    bea: TestUser,
    cai: TestUser,
    voter: TestUser,
    critic: TestUser,
    staff: TestUser,
    question: i64,
    /// Bea's, Cai's and the asker's own answer.
    answers: [i64; 3],
}

fn cast() -> Cast {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "waste");
    // Low thresholds so fresh accounts can vote; no hourly limits in the way.
    app.change_settings(&admin, |s| {
        s["privileges"]["vote_up"] = json!(1);
        s["privileges"]["vote_down"] = json!(1);
        s["new_accounts"]["answers_per_hour"] = json!(1000);
        s["new_accounts"]["questions_per_hour"] = json!(1000);
    });
    let asker = app.register("asker");
    let bea = app.register("bea");
    let cai = app.register("cai");
    let voter = app.register("voter");
    let critic = app.register("critic");
    let staff = app.user_with_roles("staff_sue", &[agora::domain::Role::Staff]);
    let question = app.ask(&asker, "waste", "When does the garden waste round restart?", &[])["id"].as_i64().unwrap();
    let answers = [
        app.answer(&bea, question, "It restarts in March, first week.")["id"].as_i64().unwrap(),
        app.answer(&cai, question, "The council site lists the restart date.")["id"].as_i64().unwrap(),
        app.answer(&asker, question, "Answering myself: it restarted on the 3rd.")["id"].as_i64().unwrap(),
    ];
    Cast { app, admin, asker, bea, cai, voter, critic, staff, question, answers }
}

#[derive(Debug, Clone, Copy)]
enum Post {
    Question,
    Answer(usize),
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Asker,
    Bea,
    Cai,
    Voter,
    Critic,
    Staff,
}

#[derive(Debug)]
enum Step {
    Vote(Who, Post, i64),
    Accept(usize),
    AcceptRefused(usize, &'static str),
    Unaccept,
    Verify(usize),
    Unverify(usize),
    RemoveAsSpam(Post),
    AdvanceHours(i64),
}

impl Cast {
    fn user(&self, who: Who) -> &TestUser {
        match who {
            Who::Asker => &self.asker,
            Who::Bea => &self.bea,
            Who::Cai => &self.cai,
            Who::Voter => &self.voter,
            Who::Critic => &self.critic,
            Who::Staff => &self.staff,
        }
    }

    fn post_path(&self, post: Post) -> String {
        match post {
            Post::Question => format!("/api/v1/questions/{}", self.question),
            Post::Answer(i) => format!("/api/v1/answers/{}", self.answers[i]),
        }
    }

    /// Logs everyone in again (after the clock jumps past token expiry).
    fn refresh_tokens(&mut self) {
        for user in [
            &mut self.admin,
            &mut self.asker,
            &mut self.bea,
            &mut self.cai,
            &mut self.voter,
            &mut self.critic,
            &mut self.staff,
        ] {
            let session = self.app.post("/api/v1/auth/refresh", &json!({"refresh_token": user.refresh_token})).send();
            *user = TestUser::from_session(&session.assert_status(200).json());
        }
    }

    fn play(&mut self, step: &Step) {
        let app = &self.app;
        let accept = format!("/api/v1/questions/{}/accept", self.question);
        match *step {
            Step::Vote(who, post, value) => {
                let url = format!("{}/vote", self.post_path(post));
                app.call("PUT", &url)
                    .json(&json!({"value": value}))
                    .bearer(&self.user(who).access_token)
                    .send()
                    .assert_status(200);
            }
            Step::Accept(i) => {
                app.post(&accept, &json!({"answer_id": self.answers[i]}))
                    .bearer(&self.asker.access_token)
                    .send()
                    .assert_status(200);
            }
            Step::AcceptRefused(i, code) => {
                app.post(&accept, &json!({"answer_id": self.answers[i]}))
                    .bearer(&self.asker.access_token)
                    .send()
                    .assert_problem(403, code);
            }
            Step::Unaccept => {
                app.call("DELETE", &accept).bearer(&self.asker.access_token).send().assert_status(200);
            }
            Step::Verify(i) => {
                let url = format!("/api/v1/answers/{}/verify", self.answers[i]);
                app.call("POST", &url).bearer(&self.staff.access_token).send().assert_status(200);
            }
            Step::Unverify(i) => {
                let url = format!("/api/v1/answers/{}/verify", self.answers[i]);
                app.call("DELETE", &url).bearer(&self.staff.access_token).send().assert_status(204);
            }
            Step::RemoveAsSpam(post) => {
                let (post_type, id) = match post {
                    Post::Question => (agora::service::posts::PostType::Question, self.question),
                    Post::Answer(i) => (agora::service::posts::PostType::Answer, self.answers[i]),
                };
                let state = app.state.clone();
                app.with_conn(|conn| {
                    agora::service::reputation::penalise_removal(conn, &state.ctx, post_type, id).unwrap()
                });
            }
            Step::AdvanceHours(hours) => {
                app.clock.advance(Duration::hours(hours));
                self.refresh_tokens();
            }
        }
    }

    #[track_caller]
    fn expect(&self, step: &Step, expected: &[(Who, i64)]) {
        for &(who, reputation) in expected {
            let user = self.user(who);
            assert_eq!(self.app.reputation(user.id), reputation, "{who:?} after {step:?}");
        }
        for who in [Who::Asker, Who::Bea, Who::Cai, Who::Voter, Who::Critic, Who::Staff] {
            let user = self.user(who);
            assert_eq!(
                self.app.ledger_reputation(user.id),
                self.app.reputation(user.id),
                "{who:?}'s ledger after {step:?}"
            );
        }
    }
}

use Post::{Answer, Question};
use Who::{Asker, Bea, Cai, Critic, Voter};

#[test]
fn votes_acceptance_verification_and_removals_move_reputation_exactly() {
    let mut cast = cast();
    let steps: Vec<(Step, Vec<(Who, i64)>)> = vec![
        (Step::Vote(Voter, Question, 1), vec![(Asker, 11)]),
        (Step::Vote(Voter, Question, 1), vec![(Asker, 11)]), // idempotent
        (Step::Vote(Voter, Answer(0), 1), vec![(Bea, 11)]),
        // A downvote costs the author 2 and the voter 1 (never below 1).
        (Step::Vote(Critic, Answer(0), -1), vec![(Bea, 9), (Critic, 1)]),
        (Step::Vote(Critic, Answer(0), 0), vec![(Bea, 11), (Critic, 1)]),
        (Step::Vote(Critic, Question, -1), vec![(Asker, 9), (Critic, 1)]), // no voter cost on questions
        (Step::Vote(Critic, Question, 1), vec![(Asker, 21)]),
        (Step::Accept(0), vec![(Bea, 26), (Asker, 23)]),
        (Step::Accept(1), vec![(Bea, 11), (Cai, 16), (Asker, 23)]), // the acceptance moves
        (Step::AcceptRefused(2, "self_accept_too_early"), vec![(Asker, 23), (Cai, 16)]),
        (Step::Unaccept, vec![(Cai, 1), (Asker, 21)]),
        (Step::AdvanceHours(49), vec![]),
        (Step::Accept(2), vec![(Asker, 21)]), // own answer: nothing for anyone
        (Step::Verify(1), vec![(Cai, 16)]),
        (Step::Verify(1), vec![(Cai, 16)]), // verifying twice gives once
        (Step::Unverify(1), vec![(Cai, 1)]),
        (Step::Vote(Voter, Answer(1), 1), vec![(Cai, 11)]),
        // The floor: a -100 removal takes Cai to 1, not below.
        (Step::RemoveAsSpam(Answer(1)), vec![(Cai, 1)]),
        (Step::RemoveAsSpam(Answer(1)), vec![(Cai, 1)]), // once per post
        (Step::Vote(Voter, Answer(1), 0), vec![(Cai, 1)]), // the floor also bounds reversals
        (Step::Vote(Voter, Answer(0), 0), vec![(Bea, 1)]),
        (Step::Vote(Voter, Answer(0), 1), vec![(Bea, 11)]),
    ];
    for (step, expected) in &steps {
        cast.play(step);
        cast.expect(step, expected);
    }
    let report = cast.app.with_conn(|conn| agora::service::reputation::check(conn, false).unwrap());
    assert!(report.is_clean(), "{report:?}");
}

/// Bea posts `n` more answers to the question; returns their ids.
fn more_answers(cast: &Cast, n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| {
            cast.app.answer(&cast.bea, cast.question, &format!("Another useful answer, number {i}."))["id"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

fn vote_on(cast: &Cast, voter: &TestUser, answer: i64, value: i64) {
    cast.app
        .call("PUT", &format!("/api/v1/answers/{answer}/vote"))
        .json(&json!({"value": value}))
        .bearer(&voter.access_token)
        .send()
        .assert_status(200);
}

#[test]
fn the_daily_cap_holds_when_capped_votes_are_undone() {
    let mut cast = cast();
    let extra = more_answers(&cast, 22);
    let step = Step::AdvanceHours(0);
    // 21 upvotes of 10 in one UTC day: the 21st is capped.
    let day_start = cast.app.clock.now().date();
    for &answer in &extra[..21] {
        vote_on(&cast, &cast.voter, answer, 1);
    }
    assert_eq!(cast.app.clock.now().date(), day_start, "the test must not cross midnight");
    cast.expect(&step, &[(Bea, 201)]);
    // Undoing the capped vote takes nothing back: it gave nothing.
    vote_on(&cast, &cast.voter, extra[20], 0);
    cast.expect(&step, &[(Bea, 201)]);
    // Undoing a counted one frees room for today…
    vote_on(&cast, &cast.voter, extra[0], 0);
    cast.expect(&step, &[(Bea, 191)]);
    vote_on(&cast, &cast.voter, extra[20], 1);
    cast.expect(&step, &[(Bea, 201)]);
    vote_on(&cast, &cast.critic, extra[21], 1);
    cast.expect(&step, &[(Bea, 201)]);
    // …acceptance is exempt from the cap…
    cast.play(&Step::Accept(0));
    cast.expect(&step, &[(Bea, 216)]);
    // …and tomorrow is a new day, whose room an undo of today's vote does
    // not change.
    cast.play(&Step::AdvanceHours(24));
    vote_on(&cast, &cast.critic, extra[0], 1);
    cast.expect(&step, &[(Bea, 226)]);
    vote_on(&cast, &cast.voter, extra[1], 0);
    cast.expect(&step, &[(Bea, 216)]);
    let report = cast.app.with_conn(|conn| agora::service::reputation::check(conn, false).unwrap());
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn reputation_check_finds_and_repairs_drift() {
    let cast = cast();
    cast.play_vote_up();
    assert!(cast.app.with_conn(|conn| agora::service::reputation::check(conn, false).unwrap()).is_clean());
    cast.app.set_reputation(cast.bea.id, 500);
    let report = cast.app.with_conn(|conn| agora::service::reputation::check(conn, false).unwrap());
    assert_eq!(report.users, vec![(cast.bea.id, 500, 11)]);
    cast.app.with_conn(|conn| agora::service::reputation::check(conn, true).unwrap());
    assert_eq!(cast.app.reputation(cast.bea.id), 11);
    assert!(cast.app.with_conn(|conn| agora::service::reputation::check(conn, false).unwrap()).is_clean());
}

impl Cast {
    fn play_vote_up(&self) {
        vote_on(self, &self.voter, self.answers[0], 1);
    }
}

fn settings(app: &TestApp, admin: &TestUser) -> Value {
    app.get("/api/v1/admin/settings").bearer(&admin.access_token).send().assert_status(200).json()
}

#[test]
fn settings_are_admin_only_and_validated() {
    let cast = cast();
    let app = &cast.app;
    let current = settings(app, &cast.admin);
    assert_eq!(current["reputation"]["answer_accepted"], 15);
    assert_eq!(current["privileges"]["vote_up"], 1, "changed by the cast");
    assert_eq!(current["deflection"]["cost_per_contact"], 3.39);
    app.get("/api/v1/admin/settings").bearer(&cast.staff.access_token).send().assert_problem(403, "forbidden");
    app.get("/api/v1/admin/settings").send().assert_problem(401, "unauthorized");

    let mut bad = current.clone();
    bad["reputation"]["post_downvoted"] = json!(3);
    bad["privileges"]["comment"] = json!(0);
    bad["deflection"]["holdout_percent"] = json!(90);
    let problem = app.call("PUT", "/api/v1/admin/settings").json(&bad).bearer(&cast.admin.access_token).send();
    let fields: Vec<String> = problem.assert_problem(422, "validation_failed")["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["reputation.post_downvoted", "privileges.comment", "deflection.holdout_percent"]);
    let mut partial = current.clone();
    partial.as_object_mut().unwrap().remove("experts");
    app.call("PUT", "/api/v1/admin/settings")
        .json(&partial)
        .bearer(&cast.admin.access_token)
        .send()
        .assert_problem(422, "validation_failed");
    assert_eq!(settings(app, &cast.admin), current, "refused changes leave the settings alone");

    // Sections added after the first release may be left out by older
    // clients: they take their defaults rather than failing the PUT.
    app.change_settings(&cast.admin, |s| s["moderation"]["close_votes"] = json!(5));
    let mut older_client = settings(app, &cast.admin);
    older_client.as_object_mut().unwrap().remove("moderation");
    let saved = app
        .call("PUT", "/api/v1/admin/settings")
        .json(&older_client)
        .bearer(&cast.admin.access_token)
        .send()
        .assert_status(200)
        .json();
    assert_eq!(saved["moderation"]["close_votes"], 3, "an omitted section takes its defaults");
    app.change_settings(&cast.admin, |s| s["moderation"] = current["moderation"].clone());

    // A changed point value applies to the next event.
    app.change_settings(&cast.admin, |s| s["reputation"]["answer_upvoted"] = json!(7));
    vote_on(&cast, &cast.voter, cast.answers[0], 1);
    assert_eq!(app.reputation(cast.bea.id), 8);
}

/// How a request one point below a threshold is refused.
#[derive(Clone, Copy)]
enum Refusal {
    /// 403 `insufficient_privilege`, naming the privilege and the reputation it needs.
    Insufficient,
    /// 403 `forbidden`: editing someone else's post names `edit_others`
    /// among who may (the author, a moderator) rather than a threshold.
    NotEditor,
    /// 422 on the `tags` field: unknown tags are created on first use by
    /// users with `create_tag`, else refused as invalid input.
    UnknownTag,
}

#[track_caller]
fn assert_refused(response: &super::helpers::TestResponse, refusal: Refusal, privilege: &str, threshold: i32) {
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("application/problem+json"), "{privilege}: {content_type}");
    match refusal {
        Refusal::Insufficient => {
            let problem = response.assert_problem(403, "insufficient_privilege");
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.starts_with(&format!("{privilege} needs {threshold} reputation")), "{problem}");
        }
        Refusal::NotEditor => {
            let problem = response.assert_problem(403, "forbidden");
            assert!(problem["detail"].as_str().unwrap().contains(privilege), "{problem}");
        }
        Refusal::UnknownTag => {
            let problem = response.assert_problem(422, "validation_failed");
            let errors = problem["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{problem}");
            assert_eq!(errors[0]["field"], "tags", "{problem}");
            let message = errors[0]["message"].as_str().unwrap();
            assert!(message.contains(&format!("({privilege}) needs {threshold} reputation")), "{problem}");
        }
    }
}

#[test]
fn each_privilege_needs_its_threshold() {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "waste");
    app.change_settings(&admin, |s| {
        s["privileges"] = json!({"ask": 5, "answer": 6, "vote_up": 15, "flag": 15, "comment": 50, "vote_down": 125,
                                 "create_tag": 150, "close_vote": 500, "edit_others": 1000});
    });
    let owner = app.register("owner");
    app.set_reputation(owner.id, 1000);
    let question = app.ask(&owner, "waste", "A question to exercise privileges", &["bins-tag"])["id"].as_i64().unwrap();
    let answer = app.answer(&owner, question, "An answer to exercise privileges.")["id"].as_i64().unwrap();
    let user = app.register("climber");
    let ask_body = |tags: &[&str]| json!({"title": "A question from the climber", "body": "Some body text that is long enough.", "category": "waste", "tags": tags});
    type Attempt<'a> = Box<dyn Fn(&TestUser) -> super::helpers::TestResponse + 'a>;
    /// A privilege, its threshold, and how to use it with how it is refused.
    type Case<'a> = (&'static str, i32, Option<(Refusal, Attempt<'a>)>);
    // Every privilege, in the order of `Privilege::ALL`; `None` where no endpoint
    // uses the privilege yet, so only GET /me's list can be checked.
    let cases: Vec<Case> = vec![
        (
            "ask",
            5,
            Some((
                Refusal::Insufficient,
                Box::new(|u| app.post("/api/v1/questions", &ask_body(&[])).bearer(&u.access_token).send()),
            )),
        ),
        (
            "answer",
            6,
            Some((
                Refusal::Insufficient,
                Box::new(|u| {
                    app.post(
                        &format!("/api/v1/questions/{question}/answers"),
                        &json!({"body": "An answer from the climber."}),
                    )
                    .bearer(&u.access_token)
                    .send()
                }),
            )),
        ),
        (
            "vote_up",
            15,
            Some((
                Refusal::Insufficient,
                Box::new(|u| {
                    app.call("PUT", &format!("/api/v1/answers/{answer}/vote"))
                        .json(&json!({"value": 1}))
                        .bearer(&u.access_token)
                        .send()
                }),
            )),
        ),
        (
            "flag",
            15,
            Some((
                Refusal::Insufficient,
                Box::new(|u| {
                    app.post(
                        "/api/v1/flags",
                        &json!({"target_type": "answer", "target_id": answer, "reason": "off_topic"}),
                    )
                    .bearer(&u.access_token)
                    .send()
                }),
            )),
        ),
        (
            "comment",
            50,
            Some((
                Refusal::Insufficient,
                Box::new(|u| {
                    app.post(&format!("/api/v1/answers/{answer}/comments"), &json!({"body": "a comment"}))
                        .bearer(&u.access_token)
                        .send()
                }),
            )),
        ),
        (
            "vote_down",
            125,
            Some((
                Refusal::Insufficient,
                Box::new(|u| {
                    app.call("PUT", &format!("/api/v1/questions/{question}/vote"))
                        .json(&json!({"value": -1}))
                        .bearer(&u.access_token)
                        .send()
                }),
            )),
        ),
        (
            "create_tag",
            150,
            Some((
                Refusal::UnknownTag,
                Box::new(|u| {
                    app.post("/api/v1/questions", &ask_body(&["brand-new-tag"])).bearer(&u.access_token).send()
                }),
            )),
        ),
        // No endpoint asks for close_vote: only moderators close questions
        // (POST /mod/questions/{id}/close). Users see it in GET /me.
        ("close_vote", 500, None),
        (
            "edit_others",
            1000,
            Some((
                Refusal::NotEditor,
                Box::new(|u| {
                    app.patch(&format!("/api/v1/questions/{question}"), &json!({"title": "An edit by someone trusted"}))
                        .bearer(&u.access_token)
                        .send()
                }),
            )),
        ),
    ];
    let names: Vec<&str> = cases.iter().map(|(privilege, _, _)| *privilege).collect();
    let all: Vec<&str> = agora::service::privileges::Privilege::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(names, all, "every privilege has a case");
    let listed = |privilege: &str| {
        let me = app.get("/api/v1/me").bearer(&user.access_token).send().assert_status(200).json();
        me["privileges"].as_array().unwrap().iter().any(|p| p == privilege)
    };
    for (privilege, threshold, attempt) in &cases {
        app.set_reputation(user.id, threshold - 1);
        if let Some((refusal, attempt)) = attempt {
            assert_refused(&attempt(&user), *refusal, privilege, *threshold);
        }
        assert!(!listed(privilege), "{privilege} listed too early");
        app.set_reputation(user.id, *threshold);
        if let Some((_, attempt)) = attempt {
            let at = attempt(&user);
            assert!(at.status < 300, "{privilege} at the threshold: {}", at.text);
        }
        assert!(listed(privilege), "{privilege} not listed");
    }
}
