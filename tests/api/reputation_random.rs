//! 10,000 random actions (votes, undos, accepts, moves, verifications,
//! removals) across days; afterwards every cached reputation equals its
//! ledger and none is below 1.

use agora::domain::Role;
use agora::service::posts::{Caller, PostType};
use agora::service::{answers, reputation, verification, votes};
use chrono::Duration;
use serde_json::json;

use super::helpers::spawn_app;

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
    let mut questions = Vec::new();
    let mut answer_ids: Vec<(i64, i64)> = Vec::new();
    for i in 0..16 {
        let asker = &people[i % people.len()];
        let category = if i % 2 == 0 { "waste" } else { "parking" };
        let q = app.ask(asker, category, &format!("Random question number {i} here"), &[])["id"].as_i64().unwrap();
        questions.push((q, asker.id));
        for j in 0..3 {
            let answerer = &people[(i + j + 1) % people.len()];
            answer_ids.push((
                app.answer(answerer, q, &format!("Random answer {j} to question {i}."))["id"].as_i64().unwrap(),
                q,
            ));
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
            0..=69 => {
                let voter = people[rng.below(people.len())].id;
                let value = [1, 1, -1, 0][rng.below(4)];
                let result = if rng.below(3) == 0 {
                    let q = questions[rng.below(questions.len())].0;
                    votes::cast(&mut conn, &state, &caller(voter, vec![Role::Resident]), PostType::Question, q, value)
                } else {
                    let a = answer_ids[rng.below(answer_ids.len())].0;
                    votes::cast(&mut conn, &state, &caller(voter, vec![Role::Resident]), PostType::Answer, a, value)
                };
                ("vote", result.map(|_| ()))
            }
            70..=84 => {
                let (answer, question) = answer_ids[rng.below(answer_ids.len())];
                let asker = questions.iter().find(|(q, _)| *q == question).unwrap().1;
                let who = caller(asker, vec![Role::Resident]);
                let result = if rng.below(4) == 0 {
                    answers::unaccept(&mut conn, &state, &who, question).map(|_| ())
                } else {
                    answers::accept(&mut conn, &state, &who, question, answer).map(|_| ())
                };
                ("accept", result)
            }
            85..=96 => {
                let answer = answer_ids[rng.below(answer_ids.len())].0;
                let who = caller(staff.id, vec![Role::Resident, Role::Staff]);
                let result = if rng.below(2) == 0 {
                    verification::verify(&mut conn, &state, &who, answer, None)
                } else {
                    verification::unverify(&mut conn, &state, &who, answer)
                };
                ("verify", result)
            }
            _ => {
                let (post_type, id) = if rng.below(2) == 0 {
                    (PostType::Question, questions[rng.below(questions.len())].0)
                } else {
                    (PostType::Answer, answer_ids[rng.below(answer_ids.len())].0)
                };
                ("remove", reputation::penalise_removal(&mut conn, &state, post_type, id))
            }
        };
        if result.is_ok() {
            *outcomes.entry(name).or_default() += 1;
        }
    }
    // Enough of every kind of action took effect to mean something.
    for kind in ["vote", "accept", "verify", "remove"] {
        assert!(outcomes.get(kind).copied().unwrap_or(0) > 50, "{outcomes:?}");
    }
    let report = app.with_conn(|conn| reputation::check(conn, false).unwrap());
    assert!(report.is_clean(), "{report:?}");
    for person in &people {
        assert!(app.reputation(person.id) >= 1);
    }
}
