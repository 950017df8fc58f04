//! 10,000 random actions (votes, undos, accepts, moves, verifications,
//! new posts, removals as spam by a moderator) across days; afterwards
//! every cached reputation equals its ledger and none is below 1, and the
//! operators' `agora reputation check` agrees, finds drift and repairs it.

use agora::domain::{Body, Role, Title};
use agora::error::ApiError;
use agora::service::Caller;
use agora::service::community::answers;
use agora::service::community::questions::NewQuestion;
use agora::service::community::votes;
use agora::service::moderation::{self, Resolution};
use agora::service::posts::{PostType, Target};
use agora::service::reputation;
use agora::service::reputation::verification;
use chrono::Duration;
use serde_json::json;

use super::helpers::{TestApp, spawn_app};
use super::process::agora;

/// SplitMix64: a seeded, repeatable sequence.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

#[test]
fn ten_thousand_random_actions_leave_the_ledger_and_cache_in_agreement() {
    let app = spawn_app();
    let admin = app.admin();
    app.create_category(&admin, "waste");
    app.create_category(&admin, "parking");
    app.change_settings(&admin, |s| {
        s["privileges"]["vote_up"] = json!(1);
        s["privileges"]["vote_down"] = json!(1);
        s["new_accounts"]["answers_per_hour"] = json!(1000);
        s["new_accounts"]["questions_per_hour"] = json!(1000);
        s["reputation"]["daily_vote_cap"] = json!(60);
    });
    let people: Vec<_> = (0..12).map(|i| app.register(&format!("person{i}"))).collect();
    let staff = app.user_with_roles("staff_rand", &[Role::Staff]);
    let moderator = app.user_with_roles("mod_rand", &[Role::Moderator]);
    // (question, asker) and (answer, question, author).
    let mut questions: Vec<(i64, i64)> = Vec::new();
    let mut answer_ids: Vec<(i64, i64, i64)> = Vec::new();
    for i in 0..16 {
        let asker = &people[i % people.len()];
        let category = if i % 2 == 0 { "waste" } else { "parking" };
        let q = app.ask(asker, category, &format!("Random question number {i} here"), &[])["id"].as_i64().unwrap();
        questions.push((q, asker.id));
        for j in 0..3 {
            let answerer = &people[(i + j + 1) % people.len()];
            let a = app.answer(answerer, q, &format!("Random answer {j} to question {i}."))["id"].as_i64().unwrap();
            answer_ids.push((a, q, answerer.id));
        }
    }
    let caller = |id: i64, roles: Vec<Role>| Caller {
        id,
        roles,
        reputation: 1000,
        created_at: app.clock.now() - Duration::days(30),
    };
    let state = app.state.clone();
    let mut rng = Rng(7);
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for step in 0..10_000 {
        if step % 400 == 399 {
            app.clock.advance(Duration::hours(7));
        }
        let mut conn = app.conn();
        let roll = rng.below(100);
        let (name, result) = match roll {
            0..=64 => {
                let voter = people[rng.below(people.len())].id;
                let value = [1, 1, -1, 0][rng.below(4)];
                let result = if rng.below(3) == 0 {
                    let q = questions[rng.below(questions.len())].0;
                    votes::cast(
                        &mut conn,
                        &state.ctx,
                        &caller(voter, vec![Role::Resident]),
                        PostType::Question,
                        q,
                        value,
                    )
                } else {
                    let a = answer_ids[rng.below(answer_ids.len())].0;
                    votes::cast(&mut conn, &state.ctx, &caller(voter, vec![Role::Resident]), PostType::Answer, a, value)
                };
                ("vote", result.map(|_| ()))
            }
            65..=79 => {
                let (answer, question, _) = answer_ids[rng.below(answer_ids.len())];
                let asker = questions.iter().find(|(q, _)| *q == question).unwrap().1;
                let who = caller(asker, vec![Role::Resident]);
                let result = if rng.below(4) == 0 {
                    answers::unaccept(&mut conn, &state.ctx, &who, question).map(|_| ())
                } else {
                    answers::accept(&mut conn, &state.ctx, &who, question, answer).map(|_| ())
                };
                ("accept", result)
            }
            80..=91 => {
                let answer = answer_ids[rng.below(answer_ids.len())].0;
                let who = caller(staff.id, vec![Role::Resident, Role::Staff]);
                let result = if rng.below(2) == 0 {
                    verification::verify(&mut conn, &state.ctx, &who, answer, None)
                } else {
                    verification::unverify(&mut conn, &state.ctx, &who, answer)
                };
                ("verify", result)
            }
            // New posts keep the pool alive as removals delete from it.
            92..=97 => {
                let author = people[rng.below(people.len())].id;
                let who = caller(author, vec![Role::Resident]);
                let result = if rng.below(2) == 0 {
                    let new = NewQuestion {
                        title: Title::parse(&format!("Random question number {step} here")).unwrap(),
                        body: Body::parse(&format!("Random question {step}, with enough detail.")).unwrap(),
                        category: ["waste", "parking"][rng.below(2)].to_owned(),
                        tags: Vec::new(),
                        area: None,
                        escalation: None,
                    };
                    agora::service::community::questions::create(&mut conn, &state.ctx, &who, new)
                        .map(|id| questions.push((id, author)))
                } else {
                    let q = questions[rng.below(questions.len())].0;
                    let body = Body::parse(&format!("Random answer {step} to question {q}.")).unwrap();
                    answers::create(&mut conn, &state.ctx, &who, q, body).map(|id| answer_ids.push((id, q, author)))
                };
                ("post", result)
            }
            // Removal as spam the way moderators do it: a user's flag,
            // resolved with remove_as_spam (which deletes the post).
            _ => {
                let (target, author) = if rng.below(4) == 0 {
                    let (q, asker) = questions[rng.below(questions.len())];
                    (Target::Question(q), asker)
                } else {
                    let (a, _, author) = answer_ids[rng.below(answer_ids.len())];
                    (Target::Answer(a), author)
                };
                let mut flagger = rng.below(people.len());
                if people[flagger].id == author {
                    flagger = (flagger + 1) % people.len();
                }
                let who = caller(people[flagger].id, vec![Role::Resident]);
                let reviewer = caller(moderator.id, vec![Role::Resident, Role::Moderator]);
                let result = moderation::flag(&mut conn, &state.ctx, &who, target, "spam", None).and_then(|flag| {
                    moderation::resolve(&mut conn, &state.ctx, &reviewer, flag.id, Resolution::RemoveAsSpam, None)
                });
                ("remove", result.map(|_| ()))
            }
        };
        match result {
            Ok(()) => *outcomes.entry(name).or_default() += 1,
            // Refusals (a deleted post, a second flag) are part of the
            // game; failures are not.
            Err(e @ (ApiError::Internal(_) | ApiError::Unavailable(_))) => panic!("step {step}, {name}: {e}"),
            Err(_) => {}
        }
    }
    // Enough of every kind of action took effect to mean something.
    for kind in ["vote", "accept", "verify", "post", "remove"] {
        assert!(outcomes.get(kind).copied().unwrap_or(0) > 50, "{outcomes:?}");
    }
    let report = app.with_conn(|conn| reputation::check(conn, false).unwrap());
    assert!(report.is_clean(), "{report:?}");
    for person in &people {
        assert!(app.reputation(person.id) >= 1);
    }
    operators_check_finds_and_repairs_drift(&app, people[0].id);
}

/// `agora reputation check` as operators run it, on the same database:
/// clean after the run, then a corrupted cache is reported (exit status 1)
/// until `--repair` makes it agree again.
fn operators_check_finds_and_repairs_drift(app: &TestApp, user_id: i64) {
    let data_dir = app.db.scratch_dir().join("cli");
    let out = agora(&app.db, &data_dir, &["reputation", "check"], "");
    assert!(out.contains("(0 differences)"), "{out}");

    let ledger = app.ledger_reputation(user_id);
    app.set_reputation(user_id, 99_999);
    let (success, out) = run_failing_check(app, &data_dir);
    assert!(!success, "a drifted cache must fail the check: {out}");
    assert!(out.contains(&format!("user {user_id}: cached reputation 99999, ledger says {ledger}")), "{out}");
    assert!(out.contains("1 differences"), "{out}");

    let out = agora(&app.db, &data_dir, &["reputation", "check", "--repair"], "");
    assert!(out.contains("Repaired 1 differences."), "{out}");
    let out = agora(&app.db, &data_dir, &["reputation", "check"], "");
    assert!(out.contains("(0 differences)"), "{out}");
}

/// `agora reputation check` where it should fail (`process::agora` asserts
/// success): whether it exited 0, and its output.
fn run_failing_check(app: &TestApp, data_dir: &std::path::Path) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(["reputation", "check"])
        .env("AGORA_DATA_DIR", data_dir)
        .env("AGORA_DATABASE_URL", app.db.url())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run agora");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}
