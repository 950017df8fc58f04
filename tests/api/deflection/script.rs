//! The scripted community whose report figures the tests worked out by
//! hand: its questions and people, its visitors' events, and the hold-out
//! intents.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser};
use agora::domain::Role;

pub(super) const BROWSER: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
pub(super) const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// The questions of the scenario: Q1 (waste, solved), Q2 (parking,
/// solved), Q3 (waste, unsolved), and the people.
pub(super) struct Community {
    pub(super) q1: i64,
    pub(super) q2: i64,
    pub(super) q3: i64,
    pub(super) asker: TestUser,
    pub(super) staff: TestUser,
    pub(super) analyst: TestUser,
    pub(super) admin: TestUser,
}

pub(super) fn community(app: &TestApp) -> Community {
    let admin = app.admin();
    app.create_category(&admin, "waste");
    app.create_category(&admin, "parking");
    let asker = app.register("asker");
    let helper = app.register("helper");
    let staff = app.user_with_roles("council_staff", &[Role::Staff]);
    let analyst = app.user_with_roles("analyst", &[Role::Analyst]);
    let ask = |category: &str, title: &str| app.ask(&asker, category, title, &[])["id"].as_i64().unwrap();
    let q1 = ask("waste", "When is my bin collection day");
    let q2 = ask("parking", "How do I renew a resident parking permit");
    let q3 = ask("waste", "Can I put pizza boxes in the recycling");
    for q in [q1, q2] {
        let answer = app.answer(&helper, q, "Here is the answer, from the council website.")["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/questions/{q}/accept"), &json!({"answer_id": answer}))
            .bearer(&asker.access_token)
            .send()
            .assert_status(200);
    }
    Community { q1, q2, q3, asker, staff, analyst, admin }
}

/// Midnight UTC 20 days ago: the scenario's day 0.
pub(super) fn day_zero(app: &TestApp) -> DateTime<Utc> {
    let today = app.clock.now_utc().date_naive();
    (today - Duration::days(20)).and_time(NaiveTime::MIN).and_utc()
}

pub(super) fn at(d0: DateTime<Utc>, day: i64, hour: i64, minute: i64) -> String {
    (d0 + Duration::days(day) + Duration::hours(hour) + Duration::minutes(minute)).to_rfc3339()
}

/// One event; `extra` adds the type's fields.
pub(super) fn event(kind: &str, when: &str, visitor: &str, extra: Value) -> Value {
    let mut e = json!({
        "event_id": uuid::Uuid::new_v4().to_string(),
        "type": kind,
        "occurred_at": when,
        "visitor_id": visitor,
    });
    if let (Some(e), Some(extra)) = (e.as_object_mut(), extra.as_object()) {
        e.extend(extra.clone());
    }
    e
}

/// A batch as a frontend sends it.
pub(super) struct Batch {
    pub(super) user_agent: &'static str,
    pub(super) token: Option<String>,
    pub(super) events: Vec<Value>,
}

/// Gives each contact event the token the server's `/questions/similar`
/// would have given its intent, signed with the server's key (the scripted
/// visitors did not type into a form; `signed_intents` tests the real
/// round trip and what happens without a token).
pub(super) fn signed(app: &TestApp, events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .cloned()
        .map(|mut e| {
            let contact = e["type"].as_str().is_some_and(|t| t.starts_with("contact_"));
            if contact && e.get("intent_token").is_none() {
                let (Some(intent), Some(at)) = (e["intent_id"].as_str(), e["occurred_at"].as_str()) else { return e };
                let at = DateTime::parse_from_rfc3339(at).expect("occurred_at").naive_utc();
                let token = agora::service::deflection::intents::issue(
                    &app.state.ctx.cursors,
                    intent,
                    "treatment",
                    at - Duration::minutes(1),
                );
                e["intent_token"] = json!(token);
            }
            e
        })
        .collect()
}

pub(super) fn send(app: &TestApp, batch: &Batch) -> Value {
    let events = signed(app, &batch.events);
    let mut call = app.post("/api/v1/events", &json!({"events": events})).header("user-agent", batch.user_agent);
    if let Some(token) = &batch.token {
        call = call.bearer(token);
    }
    call.send().assert_status(202).json()
}

pub(super) fn resident(events: Vec<Value>) -> Batch {
    Batch { user_agent: BROWSER, token: None, events }
}

/// The scripted visitors (times are day, hour, minute after day 0).
pub(super) fn scenario(c: &Community, d0: DateTime<Utc>) -> Vec<Batch> {
    let t = |day, hour, minute| at(d0, day, hour, minute);
    let (q1, q2, q3) = (c.q1, c.q2, c.q3);
    let view = |q: i64, when: String, v: &str| event("question_viewed", &when, v, json!({"question_id": q}));
    let vote = |kind: &str, q: i64, value: &str, when: String, v: &str| {
        event(kind, &when, v, json!({"question_id": q, "value": value}))
    };
    let intent = |kind: &str, id: &str, when: String, v: &str, extra: Value| {
        let mut fields = json!({"intent_id": id});
        if let (Some(f), Some(x)) = (fields.as_object_mut(), extra.as_object()) {
            f.extend(x.clone());
        }
        event(kind, &when, v, fields)
    };
    let none = json!({});
    let waste = json!({"category": "waste"});
    vec![
        // V1: views Q1, says it helped and that they would have called:
        // confirmed on day 1, never contacts.
        resident(vec![
            view(q1, t(1, 10, 0), "v1"),
            vote("helpful_vote", q1, "yes", t(1, 10, 5), "v1"),
            vote("would_have_contacted", q1, "yes", t(1, 10, 6), "v1"),
        ]),
        // V2: the same on day 2, then submits a contact exactly 8 days after
        // confirming: outside the 7-day window, so still confirmed.
        resident(vec![
            view(q1, t(2, 9, 0), "v2"),
            vote("helpful_vote", q1, "yes", t(2, 9, 5), "v2"),
            vote("would_have_contacted", q1, "yes", t(2, 9, 6), "v2"),
            intent("contact_intent_started", "i2", t(10, 9, 0), "v2", waste.clone()),
            intent("contact_submitted", "i2", t(10, 9, 6), "v2", waste.clone()),
        ]),
        // V3: the same, but submits 6 days later: inside the window, so not
        // confirmed (and their view is not a potential deflection either).
        resident(vec![
            view(q1, t(2, 10, 0), "v3"),
            vote("helpful_vote", q1, "yes", t(2, 10, 5), "v3"),
            vote("would_have_contacted", q1, "yes", t(2, 10, 6), "v3"),
            intent("contact_intent_started", "i3", t(8, 10, 0), "v3", waste.clone()),
            intent("contact_submitted", "i3", t(8, 10, 6), "v3", waste.clone()),
        ]),
        // V4: changes both answers; the latest counts: helpful no, would yes.
        // Not confirmed; a viewer of solved Q2 with no contact.
        resident(vec![
            view(q2, t(3, 11, 0), "v4"),
            vote("helpful_vote", q2, "yes", t(3, 11, 1), "v4"),
            vote("would_have_contacted", q2, "no", t(3, 11, 2), "v4"),
            vote("would_have_contacted", q2, "yes", t(3, 11, 3), "v4"),
            vote("helpful_vote", q2, "no", t(3, 11, 4), "v4"),
            event("still_need_help_clicked", &t(3, 11, 5), "v4", json!({"question_id": q2, "channel": "phone"})),
        ]),
        // V5: searches, views solved Q2, still needs help: a viewer.
        resident(vec![
            event("search_performed", &t(4, 11, 59), "v5", json!({"query": "parking permit renewal"})),
            view(q2, t(4, 12, 0), "v5"),
            event("still_need_help_clicked", &t(4, 12, 5), "v5", json!({"question_id": q2})),
        ]),
        // V6: views unsolved Q3 (not a solved view), unsure whether they would
        // have called, still needs help.
        resident(vec![
            view(q3, t(4, 13, 0), "v6"),
            vote("would_have_contacted", q3, "unsure", t(4, 13, 1), "v6"),
            event("still_need_help_clicked", &t(4, 13, 2), "v6", json!({"question_id": q3})),
        ]),
        // V8: searches, opens the contact form, sees suggestions, clicks Q1,
        // and leaves: probable.
        resident(vec![
            event("search_performed", &t(5, 14, 0), "v8", json!({"query": "bin collection day", "category": "waste"})),
            intent("contact_intent_started", "i8", t(5, 14, 10), "v8", none.clone()),
            intent("contact_suggestions_shown", "i8", t(5, 14, 11), "v8", none.clone()),
            intent("contact_suggestion_clicked", "i8", t(5, 14, 12), "v8", json!({"question_id": q1})),
        ]),
        // V9: suggestions shown, none clicked, abandoned: not probable.
        resident(vec![
            intent("contact_intent_started", "i9", t(5, 15, 0), "v9", none.clone()),
            intent("contact_suggestions_shown", "i9", t(5, 15, 1), "v9", none.clone()),
        ]),
        // V10: clicks Q2 but submits anyway: not probable.
        resident(vec![
            intent("contact_intent_started", "i10", t(6, 9, 0), "v10", none.clone()),
            intent("contact_suggestions_shown", "i10", t(6, 9, 1), "v10", none.clone()),
            intent("contact_suggestion_clicked", "i10", t(6, 9, 2), "v10", json!({"question_id": q2})),
            intent("contact_submitted", "i10", t(6, 9, 10), "v10", none.clone()),
        ]),
        // V11: confirms Q2 solved it: confirmed, counted on the pair (V11, Q2).
        resident(vec![
            intent("contact_intent_started", "i11", t(6, 10, 0), "v11", none.clone()),
            intent("contact_suggestions_shown", "i11", t(6, 10, 1), "v11", none.clone()),
            intent("contact_suggestion_clicked", "i11", t(6, 10, 2), "v11", json!({"question_id": q2})),
            intent("contact_intent_confirmed_resolved", "i11", t(6, 10, 3), "v11", json!({"question_id": q2})),
        ]),
        // V12: confirms resolved without naming a question: confirmed.
        resident(vec![
            intent("contact_intent_started", "i12", t(6, 11, 0), "v12", waste.clone()),
            intent("contact_intent_confirmed_resolved", "i12", t(6, 11, 3), "v12", waste.clone()),
        ]),
        // V13: abandons after clicking Q1, but contacts 3 days later through
        // another intent: inside the window, so not probable.
        resident(vec![
            intent("contact_intent_started", "i13", t(7, 9, 0), "v13", none.clone()),
            intent("contact_suggestions_shown", "i13", t(7, 9, 1), "v13", none.clone()),
            intent("contact_suggestion_clicked", "i13", t(7, 9, 2), "v13", json!({"question_id": q1})),
            intent("contact_intent_started", "i13b", t(10, 9, 0), "v13", json!({"category": "parking"})),
            intent("contact_submitted", "i13b", t(10, 9, 5), "v13", json!({"category": "parking"})),
        ]),
        // A crawler doing everything a confirmed resident does: excluded.
        Batch {
            user_agent: GOOGLEBOT,
            token: None,
            events: vec![
                view(q2, t(3, 8, 0), "bot1"),
                vote("helpful_vote", q2, "yes", t(3, 8, 1), "bot1"),
                vote("would_have_contacted", q2, "yes", t(3, 8, 2), "bot1"),
            ],
        },
        // Council staff trying it out: excluded.
        Batch {
            user_agent: BROWSER,
            token: Some(c.staff.access_token.clone()),
            events: vec![
                vote("helpful_vote", q1, "yes", t(4, 8, 1), "staff-browser"),
                vote("would_have_contacted", q1, "yes", t(4, 8, 2), "staff-browser"),
            ],
        },
        // The asker viewing their own question: excluded.
        Batch {
            user_agent: BROWSER,
            token: Some(c.asker.access_token.clone()),
            events: vec![view(q1, t(4, 9, 0), "asker-browser")],
        },
    ]
}

/// The id of hold-out intent `i`: 1..3 land in the hold-out at 50 %, 4..7
/// in treatment. The server's bucket is a keyed hash of the id (a client
/// cannot choose its arm), so the test asks the server's own function for
/// ids that land where the scenario needs them.
pub(super) fn exp_id(app: &TestApp, i: i64) -> String {
    let holdout = i <= 3;
    (0..)
        .map(|k| format!("exp-{i}-{k}"))
        .find(|id| (agora::service::deflection::arm_bucket(&app.state.ctx, id) < 50) == holdout)
        .expect("an id in the arm")
}

/// The hold-out intents. Hold-out: 2 of 3 submit; treatment: 1 of 4.
pub(super) fn experiment_events(app: &TestApp, d0: DateTime<Utc>) -> Batch {
    let mut events = Vec::new();
    for (i, submits) in [(1, true), (2, true), (3, false), (4, true), (5, false), (6, false), (7, false)] {
        let id = exp_id(app, i);
        let visitor = format!("exp-visitor-{i}");
        events.push(event("contact_intent_started", &at(d0, 9, 12, i), &visitor, json!({"intent_id": id})));
        if submits {
            events.push(event("contact_submitted", &at(d0, 9, 13, i), &visitor, json!({"intent_id": id})));
        }
    }
    resident(events)
}

/// Plays the whole scenario on `app`: events (in the given batch order),
/// page views, hold-out assignments. Returns day 0.
pub(super) fn play(app: &TestApp, c: &Community, d0: DateTime<Utc>, reverse: bool) {
    let mut batches = scenario(c, d0);
    batches.push(experiment_events(app, d0));
    if reverse {
        batches.reverse();
        for b in &mut batches {
            b.events.reverse();
        }
    }
    for batch in &batches {
        send(app, batch);
    }
}
