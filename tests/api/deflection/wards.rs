//! A scripted community in two wards, Northfield and Riverside, and two
//! categories, waste and parking, whose report figures by area were worked
//! out by hand (tests in `areas.rs`; the working is in their comments).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::script::{Batch, at, event, resident, send};
use crate::helpers::{TestApp, TestUser};
use agora::domain::Role;

pub(super) const NORTHFIELD: &str = "Northfield";
pub(super) const RIVERSIDE: &str = "Riverside";

/// The solved questions: QA (waste, Northfield), QB (parking, Riverside),
/// QC (waste, Riverside) and QD (parking, no area).
pub(super) struct Wards {
    pub(super) qa: i64,
    pub(super) qb: i64,
    pub(super) qc: i64,
    pub(super) qd: i64,
    pub(super) analyst: TestUser,
    pub(super) admin: TestUser,
    /// The hold-out intents' ids by number (1, 2 hold-out; 4, 5 treatment).
    pub(super) exp: std::collections::BTreeMap<i64, String>,
}

fn ask(app: &TestApp, asker: &TestUser, category: &str, title: &str, area: Option<&str>) -> i64 {
    let mut body = json!({
        "title": title,
        "body": format!("{title} - some more detail so the body is long enough."),
        "category": category,
        "tags": [],
    });
    if let Some(area) = area {
        body["area"] = json!(area);
    }
    app.post("/api/v1/questions", &body).bearer(&asker.access_token).send().assert_status(201).json()["id"]
        .as_i64()
        .unwrap()
}

/// The community, and the hold-out arms of its intents (50 %: exp-1 and
/// exp-2 hash to the hold-out, exp-4 and exp-5 to treatment).
pub(super) fn wards(app: &TestApp) -> Wards {
    let admin = app.admin();
    app.create_category(&admin, "waste");
    app.create_category(&admin, "parking");
    let asker = app.register("asker");
    let helper = app.register("helper");
    let analyst = app.user_with_roles("analyst", &[Role::Analyst]);
    // Past the limit of three questions an hour for new accounts.
    app.set_reputation(asker.id, 20);
    let qa = ask(app, &asker, "waste", "When is the bin collection in Northfield", Some(NORTHFIELD));
    let qb = ask(app, &asker, "parking", "How do I renew my Riverside parking permit", Some(RIVERSIDE));
    let qc = ask(app, &asker, "waste", "Where is the recycling centre for Riverside", Some(RIVERSIDE));
    let qd = ask(app, &asker, "parking", "Can I park on the pavement outside my house", None);
    for q in [qa, qb, qc, qd] {
        let answer = app.answer(&helper, q, "Here is the answer, from the council website.")["id"].as_i64().unwrap();
        app.post(&format!("/api/v1/questions/{q}/accept"), &json!({"answer_id": answer}))
            .bearer(&asker.access_token)
            .send()
            .assert_status(200);
    }
    app.change_settings(&admin, |s| s["deflection"]["holdout_percent"] = json!(50));
    let exp: std::collections::BTreeMap<i64, String> =
        [1, 2, 4, 5].into_iter().map(|i| (i, super::script::exp_id(app, i))).collect();
    for (i, arm) in [(1, "holdout"), (2, "holdout"), (4, "treatment"), (5, "treatment")] {
        assert_eq!(super::similar(app, &exp[&i])["arm"], arm, "exp-{i}");
    }
    Wards { qa, qb, qc, qd, analyst, admin, exp }
}

/// `extra` with a session id.
fn in_session(session: &str, extra: Value) -> Value {
    let mut fields = extra;
    fields["session_id"] = json!(session);
    fields
}

/// The visitors (times are day, hour, minute after day 0). Sessions mix
/// wards and categories only where the tests mean them to.
pub(super) fn visits(w: &Wards, d0: DateTime<Utc>) -> Vec<Batch> {
    let t = |day, hour, minute| at(d0, day, hour, minute);
    let (qa, qb, qc, qd) = (w.qa, w.qb, w.qc, w.qd);
    let on = |q: i64| json!({"question_id": q});
    let answer = |q: i64, value: &str| json!({"question_id": q, "value": value});
    let intent = |id: &str, extra: Value| {
        let mut fields = extra;
        fields["intent_id"] = json!(id);
        fields
    };
    let riverside = json!({"area": RIVERSIDE});
    let waste_northfield = json!({"category": "waste", "area": NORTHFIELD});
    vec![
        // A1, day 1: confirms QA (waste, Northfield) in one session, views
        // QB (parking, Riverside) in another; on day 5 views QC (waste,
        // Riverside). Never contacts.
        resident(vec![
            event("question_viewed", &t(1, 10, 0), "a1", in_session("a1-s1", on(qa))),
            event("helpful_vote", &t(1, 10, 1), "a1", in_session("a1-s1", answer(qa, "yes"))),
            event("would_have_contacted", &t(1, 10, 2), "a1", in_session("a1-s1", answer(qa, "yes"))),
            event("question_viewed", &t(1, 11, 0), "a1", in_session("a1-s2", on(qb))),
            event("question_viewed", &t(5, 9, 0), "a1", in_session("a1-s3", on(qc))),
        ]),
        // A2, day 2, no session id (so one session for the day): views QC
        // (Riverside) first, then confirms QA (Northfield), then contacts
        // through the form, which gives waste and Northfield, 3 hours later.
        resident(vec![
            event("question_viewed", &t(2, 9, 0), "a2", on(qc)),
            event("question_viewed", &t(2, 9, 30), "a2", on(qa)),
            event("helpful_vote", &t(2, 9, 31), "a2", answer(qa, "yes")),
            event("would_have_contacted", &t(2, 9, 32), "a2", answer(qa, "yes")),
            event("contact_intent_started", &t(2, 12, 0), "a2", intent(&w.exp[&1], waste_northfield.clone())),
            event("contact_submitted", &t(2, 12, 5), "a2", intent(&w.exp[&1], waste_northfield)),
        ]),
        // A3, day 3: searches in Riverside, views QB, still needs help, opens
        // the form in Riverside, clicks QB and leaves.
        resident(vec![
            event(
                "search_performed",
                &t(3, 10, 0),
                "a3",
                json!({"query": "resident permit", "category": "parking", "area": RIVERSIDE, "result_ids": [qb]}),
            ),
            event("question_viewed", &t(3, 10, 1), "a3", on(qb)),
            event("still_need_help_clicked", &t(3, 10, 5), "a3", on(qb)),
            event("contact_intent_started", &t(3, 10, 10), "a3", intent(&w.exp[&4], riverside.clone())),
            event("contact_suggestions_shown", &t(3, 10, 11), "a3", intent(&w.exp[&4], json!({}))),
            event("contact_suggestion_clicked", &t(3, 10, 12), "a3", intent(&w.exp[&4], on(qb))),
        ]),
        // A4, day 4: views QA (Northfield) in one session, and QD (parking,
        // no area) in another, where they say it did not help, are unsure
        // whether they would have called, and still need help.
        resident(vec![
            event("question_viewed", &t(4, 8, 0), "a4", in_session("a4-s1", on(qa))),
            event("question_viewed", &t(4, 8, 30), "a4", in_session("a4-s2", on(qd))),
            event("helpful_vote", &t(4, 8, 31), "a4", in_session("a4-s2", answer(qd, "no"))),
            event("would_have_contacted", &t(4, 8, 32), "a4", in_session("a4-s2", answer(qd, "unsure"))),
            event("still_need_help_clicked", &t(4, 8, 33), "a4", in_session("a4-s2", on(qd))),
        ]),
        // A5, day 6: opens the form in Northfield about parking, clicks QB
        // (Riverside) and confirms it solved it: the intent is Northfield's,
        // the confirmed deflection QB's, so Riverside's.
        resident(vec![
            event(
                "contact_intent_started",
                &t(6, 14, 0),
                "a5",
                intent(&w.exp[&2], json!({"category": "parking", "area": NORTHFIELD})),
            ),
            event("contact_suggestions_shown", &t(6, 14, 1), "a5", intent(&w.exp[&2], json!({}))),
            event("contact_suggestion_clicked", &t(6, 14, 2), "a5", intent(&w.exp[&2], on(qb))),
            event("contact_intent_confirmed_resolved", &t(6, 14, 3), "a5", intent(&w.exp[&2], on(qb))),
        ]),
        // A6, day 7: searches in Northfield (no category); the first finds
        // nothing.
        resident(vec![
            event(
                "search_performed",
                &t(7, 10, 0),
                "a6",
                json!({"query": "Allotment  waiting list", "area": NORTHFIELD, "result_ids": []}),
            ),
            event(
                "search_performed",
                &t(7, 10, 5),
                "a6",
                json!({"query": "bulky bin", "area": NORTHFIELD, "result_ids": [qa]}),
            ),
        ]),
        // A7, day 8: contacts through the form, no category, no area.
        resident(vec![
            event("contact_intent_started", &t(8, 10, 0), "a7", intent(&w.exp[&5], json!({}))),
            event("contact_submitted", &t(8, 10, 5), "a7", intent(&w.exp[&5], json!({}))),
        ]),
    ]
}

/// Plays the visits on `app`, in order or each batch and every batch's
/// events reversed.
pub(super) fn play(app: &TestApp, w: &Wards, d0: DateTime<Utc>, reverse: bool) {
    let mut batches = visits(w, d0);
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
