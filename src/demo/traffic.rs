//! A month of resident traffic for the demo, so the deflection reports
//! have something to show: searches, views of real questions, survey
//! answers, contact-form visits with suggestions, a few crawlers. Stored
//! through the ingest path, so derived state and rollups are the real ones.

use chrono::{Duration, NaiveDateTime};

use super::Rng;
use crate::service::deflection;
use crate::store::DbConn;
use crate::store::deflection::{StoredEvent, assign_arm, question_catalogue};

const VISITORS: usize = 800;

/// The share of contact-form visits held out (shown no suggestions), so the
/// dashboard's hold-out test has two arms to compare.
pub const HOLDOUT_PERCENT: i32 = 10;

struct Journey<'a> {
    rng: &'a mut Rng,
    visitor: String,
    events: Vec<StoredEvent>,
    serial: &'a mut u64,
}

impl Journey<'_> {
    fn push(&mut self, kind: &str, at: NaiveDateTime, fill: impl FnOnce(&mut StoredEvent)) {
        *self.serial += 1;
        let event_id = format!("00000000-0000-4000-8000-{:012x}", *self.serial);
        let mut e = StoredEvent::new(event_id, kind, at, self.visitor.clone());
        fill(&mut e);
        self.events.push(e);
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.rng.below(100) < percent
    }
}

/// Seeds the traffic of the 30 days before `now`.
pub fn seed(conn: &mut DbConn, rng: &mut Rng, now: NaiveDateTime) -> crate::error::ApiResult<()> {
    let questions = question_catalogue(conn)?;
    if questions.is_empty() {
        return Ok(());
    }
    let mut serial = 0;
    for v in 0..VISITORS {
        let (question, facts) = questions[rng.below(questions.len())].clone();
        let (solved, category) = (facts.solved, facts.category);
        let start = now - Duration::minutes(rng.below(30 * 24 * 60) as i64 + 60);
        let mut j = Journey { rng, visitor: format!("demo-visitor-{v}"), events: Vec::new(), serial: &mut serial };
        let about = |e: &mut StoredEvent| {
            e.question_id = Some(question);
            e.category = Some(category.clone());
            e.area = facts.area.clone();
        };
        let kind = j.rng.below(100);
        if kind < 60 {
            j.push("search_performed", start, |e| e.query = Some(format!("{category} question")));
            j.push("question_viewed", start + Duration::seconds(30), |e| {
                about(e);
                e.question_solved = Some(solved);
            });
            if j.chance(45) {
                let yes = solved && j.chance(75);
                j.push("helpful_vote", start + Duration::seconds(90), |e| {
                    about(e);
                    e.value = Some(if yes { "yes" } else { "no" }.to_owned());
                });
                if j.chance(70) {
                    let answer = ["yes", "yes", "yes", "no", "unsure"][j.rng.below(5)];
                    j.push("would_have_contacted", start + Duration::seconds(100), |e| {
                        about(e);
                        e.value = Some(answer.to_owned());
                    });
                }
            }
            if !solved && j.chance(25) {
                j.push("still_need_help_clicked", start + Duration::seconds(120), about);
            }
        }
        if kind >= 60 || j.chance(8) {
            let intent = format!("demo-intent-{v}");
            let at = start + Duration::minutes(5);
            let on = |e: &mut StoredEvent| e.intent_id = Some(intent.clone());
            j.push("contact_intent_started", at, on);
            if j.chance(HOLDOUT_PERCENT as usize) {
                // Held out: no suggestions; more of these residents send.
                assign_arm(conn, &intent, "holdout", at)?;
                if j.chance(75) {
                    j.push("contact_submitted", at + Duration::seconds(240), |e| {
                        on(e);
                        e.channel = Some("online_form".to_owned());
                    });
                }
            } else {
                assign_arm(conn, &intent, "treatment", at)?;
                j.push("contact_suggestions_shown", at + Duration::seconds(5), on);
                let clicked = j.chance(55);
                if clicked {
                    j.push("contact_suggestion_clicked", at + Duration::seconds(20), |e| {
                        on(e);
                        about(e);
                    });
                }
                let ending = j.rng.below(100);
                if clicked && solved && ending < 30 {
                    j.push("contact_intent_confirmed_resolved", at + Duration::seconds(60), |e| {
                        on(e);
                        about(e);
                    });
                } else if ending < 55 {
                    j.push("contact_submitted", at + Duration::seconds(240), |e| {
                        on(e);
                        e.channel = Some("online_form".to_owned());
                    });
                }
            }
        }
        if kind < 3 {
            for e in &mut j.events {
                e.excluded = true;
                e.exclusion_reason = Some("bot".to_owned());
            }
        }
        let events = std::mem::take(&mut j.events);
        deflection::store_events(conn, events)?;
    }
    Ok(())
}
