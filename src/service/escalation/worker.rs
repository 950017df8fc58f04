//! Each node's escalation thread: escalates questions left unanswered,
//! submits cases, resolves batch tokens and polls statuses, all outside
//! any transaction, recording each outcome.
//!
//! One case per question, ever: after an attempt that may have reached
//! the endpoint (a timeout, a dropped connection), the next attempt first
//! looks the question up among the service's recent requests by its link,
//! and only POSTs when it is not there.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::client::{CallError, Case, Client, Submitted};
use super::{attribute_fields, client, escalate_unanswered};
use crate::error::ApiResult;
use crate::service::Context;
use crate::service::audit::{self, Action};
use crate::service::delivery::{self, Runner};
use crate::service::mail::compose::link;
use crate::service::markdown;
use crate::service::notifications::{self, Event, Kind};
use crate::service::settings::Open311Settings;
use crate::service::webhooks;
use crate::store::escalations::{self as store, Escalation, EscalationChanges};
use crate::store::{self as db, DbConn, DbPool, write_transaction};

const BATCH: i64 = 20;

/// A request's form fields, in order.
type Form = Vec<(String, String)>;
/// The longest description the standard's servers are asked to take.
pub const MAX_DESCRIPTION: usize = 4000;

/// The running escalation thread of this node.
pub struct EscalationWorker {
    runner: Runner,
}

impl EscalationWorker {
    pub fn start(pool: DbPool, ctx: Context) -> EscalationWorker {
        let poll = Duration::from_millis(ctx.config.open311.poll_ms.max(5));
        let worker = Worker { pool, ctx };
        let runner = Runner::start("escalations", poll, move |_signal| {
            worker.pass().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "escalation pass failed; retrying");
                false
            })
        });
        EscalationWorker { runner }
    }

    pub fn wake(&self) {
        self.runner.wake();
    }

    pub fn stop(&self) {
        self.runner.stop();
    }
}

struct Worker {
    pool: DbPool,
    ctx: Context,
}

impl Worker {
    /// One round; true when there may be more due at once.
    fn pass(&self) -> ApiResult<bool> {
        let now = self.ctx.now();
        let mut conn = self.pool.get()?;
        let due = store::due_requests(&mut conn, now, BATCH)?;
        for request in &due {
            if let Err(e) = escalate_unanswered(&mut conn, request, now) {
                tracing::warn!(question_id = request.question_id, error = %e, "automatic escalation failed");
            }
        }
        let claimed = write_transaction(&mut conn, |conn| store::claim_due(conn, now, now + delivery::LEASE, BATCH))?;
        if claimed.is_empty() {
            return Ok(due.len() as i64 >= BATCH);
        }
        // Read fresh, not through the cache: an admin's fix of the key or the
        // endpoint on any node counts from the next pass.
        let settings = crate::service::settings::load(&mut conn)?.open311;
        drop(conn);
        for escalation in &claimed {
            if let Err(e) = self.handle(&settings, escalation) {
                tracing::warn!(question_id = escalation.question_id, error = %e, "escalation step failed; its lease will lapse");
            }
        }
        Ok(due.len() as i64 >= BATCH || claimed.len() as i64 >= BATCH)
    }

    fn handle(&self, settings: &Open311Settings, e: &Escalation) -> ApiResult<()> {
        let Some(endpoint) = settings.endpoint.as_deref().filter(|e| !e.is_empty()) else {
            let changes = self.retry_later(e, "no Open311 endpoint is set", false);
            return self.save(e, &changes, None);
        };
        let client = client(&self.ctx, endpoint);
        match (e.status.as_str(), &e.service_request_id, &e.token) {
            ("pending", _, _) => self.submit(&client, settings, e),
            (_, None, Some(token)) => self.resolve(&client, settings, e, token),
            (_, Some(id), _) => self.poll(&client, settings, e, id),
            _ => self.save(e, &EscalationChanges { lease_until: Some(None), ..Default::default() }, None),
        }
    }

    /// How long until the next status poll.
    fn poll_interval(&self, settings: &Open311Settings) -> chrono::Duration {
        match self.ctx.config.open311.status_poll_ms {
            Some(ms) => chrono::Duration::milliseconds(ms as i64),
            None => chrono::Duration::minutes(i64::from(settings.poll_minutes)),
        }
    }

    fn submit(&self, client: &Client, settings: &Open311Settings, e: &Escalation) -> ApiResult<()> {
        let (form, link) = {
            let mut conn = self.pool.get()?;
            match self.form(&mut conn, settings, e)? {
                Some(prepared) => prepared,
                None => {
                    let changes = self.failed(e, "the question is gone");
                    drop(conn);
                    return self.save(e, &changes, Some("escalation_failed"));
                }
            }
        };
        let jurisdiction = settings.jurisdiction_id.as_deref();
        // An earlier attempt may have made the case before its answer was
        // lost: look before sending again.
        if e.attempts > 0 {
            match self.find_earlier(client, e, &link, jurisdiction) {
                Ok(Some(id)) => return self.submitted(e, Submitted::Id(id)),
                Ok(None) => {}
                Err(error) => return self.save(e, &self.retry_later(e, &error.message(), false), None),
            }
        }
        match client.submit(&form) {
            Ok(submitted) => self.submitted(e, submitted),
            Err(error) if error.is_duplicate() => match self.find_earlier(client, e, &link, jurisdiction) {
                Ok(Some(id)) => self.submitted(e, Submitted::Id(id)),
                Ok(None) => self.save(e, &self.failed(e, &error.message()), Some("escalation_failed")),
                Err(lookup) => self.save(e, &self.retry_later(e, &lookup.message(), true), None),
            },
            Err(error) if error.is_permanent() => {
                self.save(e, &self.failed(e, &error.message()), Some("escalation_failed"))
            }
            Err(error) => self.save(e, &self.retry_later(e, &error.message(), true), None),
        }
    }

    /// The case this node (or another) made for the question before.
    fn find_earlier(
        &self,
        client: &Client,
        e: &Escalation,
        link: &str,
        jurisdiction: Option<&str>,
    ) -> Result<Option<String>, CallError> {
        let since = (e.created_at - chrono::Duration::hours(1)).and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let cases: Vec<Case> = client.cases_since(&e.service_code, &since, jurisdiction)?;
        Ok(cases
            .into_iter()
            .find(|c| c.description.as_deref().is_some_and(|d| names(d, link)))
            .map(|c| c.service_request_id))
    }

    /// The standard's form fields for the case, and the question's link
    /// (its mark in the description); `None` when the question is gone.
    fn form(&self, conn: &mut DbConn, settings: &Open311Settings, e: &Escalation) -> ApiResult<Option<(Form, String)>> {
        let Some(question) = db::questions::find(conn, e.question_id)? else { return Ok(None) };
        if question.deleted_at.is_some() {
            return Ok(None);
        }
        let links = self.ctx.rules(conn)?.links.clone();
        let url = link(&self.ctx, &links.question, "{id}", &question.id.to_string());
        let mut form = vec![
            ("service_code".to_owned(), e.service_code.clone()),
            ("description".to_owned(), description(&question.title, &markdown::plain_text(&question.body), &url)),
        ];
        if let Some(key) = settings.api_key.as_deref().filter(|k| !k.is_empty()) {
            form.push(("api_key".to_owned(), key.to_owned()));
        }
        if let Some(j) = settings.jurisdiction_id.as_deref().filter(|j| !j.is_empty()) {
            form.push(("jurisdiction_id".to_owned(), j.to_owned()));
        }
        if let (Some(lat), Some(long)) = (e.latitude, e.longitude) {
            form.push(("lat".to_owned(), lat.to_string()));
            form.push(("long".to_owned(), long.to_string()));
        }
        if let Some(address) = &e.address_string {
            form.push(("address_string".to_owned(), address.clone()));
        }
        form.extend(attribute_fields(&e.attributes));
        // The asker's address goes only when the council asks for it and
        // the asker agreed, and only once they proved it is theirs.
        if settings.share_email && e.share_email {
            let asker = db::mail::recipient(conn, question.author_id)?;
            if let Some(asker) = asker.filter(|a| a.email_verified_at.is_some()) {
                form.push(("email".to_owned(), asker.email));
            }
        }
        Ok(Some((form, url)))
    }

    fn submitted(&self, e: &Escalation, submitted: Submitted) -> ApiResult<()> {
        let now = self.ctx.now();
        let (id, token) = match submitted {
            Submitted::Id(id) => (Some(id), None),
            Submitted::Token(token) => (None, Some(token)),
        };
        let changes = EscalationChanges {
            status: Some("submitted".into()),
            service_request_id: Some(id),
            token: Some(token),
            last_error: Some(None),
            attempts: Some(e.attempts + 1),
            next_attempt_at: Some(now),
            lease_until: Some(None),
            submitted_at: Some(Some(now)),
            updated_at: Some(now),
            ..Default::default()
        };
        let mut conn = self.pool.get()?;
        write_transaction(&mut conn, |conn| -> ApiResult<()> {
            store::change(conn, e.id, &changes)?;
            webhooks::events::question_escalated(conn, e.question_id, now)?;
            tell(conn, e.question_id, now)
        })
    }

    fn resolve(&self, client: &Client, settings: &Open311Settings, e: &Escalation, token: &str) -> ApiResult<()> {
        let now = self.ctx.now();
        let next = now + self.poll_interval(settings);
        let changes = match client.resolve_token(token, settings.jurisdiction_id.as_deref()) {
            Ok(Some(id)) => EscalationChanges {
                service_request_id: Some(Some(id)),
                last_error: Some(None),
                next_attempt_at: Some(now),
                lease_until: Some(None),
                updated_at: Some(now),
                ..Default::default()
            },
            Ok(None) => {
                EscalationChanges { next_attempt_at: Some(next), lease_until: Some(None), ..Default::default() }
            }
            Err(error) => EscalationChanges {
                last_error: Some(Some(error.message())),
                next_attempt_at: Some(next),
                lease_until: Some(None),
                ..Default::default()
            },
        };
        self.save(e, &changes, None)
    }

    fn poll(&self, client: &Client, settings: &Open311Settings, e: &Escalation, id: &str) -> ApiResult<()> {
        let now = self.ctx.now();
        let next = now + self.poll_interval(settings);
        let case = match client.case(id, settings.jurisdiction_id.as_deref()) {
            Ok(case) => case,
            Err(error) => {
                let changes = EscalationChanges {
                    last_error: Some(Some(error.message())),
                    next_attempt_at: Some(next),
                    lease_until: Some(None),
                    ..Default::default()
                };
                return self.save(e, &changes, None);
            }
        };
        let status =
            if case.status.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("closed")) { "closed" } else { "open" };
        let notes = case.status_notes.filter(|n| !n.trim().is_empty());
        let changed = status != e.status || notes != e.status_notes;
        let mut changes = EscalationChanges {
            last_error: Some(None),
            next_attempt_at: Some(next),
            lease_until: Some(None),
            ..Default::default()
        };
        if changed {
            changes.status = Some(status.into());
            changes.status_notes = Some(notes);
            changes.updated_at = Some(now);
        }
        let mut conn = self.pool.get()?;
        write_transaction(&mut conn, |conn| -> ApiResult<()> {
            store::change(conn, e.id, &changes)?;
            // The first poll only confirms the submission: residents hear
            // of a change the council made.
            if changed && !(e.status == "submitted" && status == "open" && changes.status_notes == Some(None)) {
                webhooks::events::escalation_updated(conn, e.question_id, now)?;
                tell(conn, e.question_id, now)?;
            }
            Ok(())
        })
    }

    fn retry_later(&self, e: &Escalation, error: &str, attempted: bool) -> EscalationChanges {
        let now = self.ctx.now();
        let attempts = e.attempts + i32::from(attempted);
        let base = chrono::Duration::milliseconds(self.ctx.config.open311.retry_ms as i64);
        EscalationChanges {
            last_error: Some(Some(error.to_owned())),
            attempts: Some(attempts),
            next_attempt_at: Some(delivery::next_attempt(now, attempts.max(1), base)),
            lease_until: Some(None),
            updated_at: Some(now),
            ..Default::default()
        }
    }

    fn failed(&self, e: &Escalation, error: &str) -> EscalationChanges {
        let now = self.ctx.now();
        EscalationChanges {
            status: Some("failed".into()),
            last_error: Some(Some(error.to_owned())),
            attempts: Some(e.attempts + 1),
            lease_until: Some(None),
            updated_at: Some(now),
            ..Default::default()
        }
    }

    /// Records the changes; `audit` names an audit action to log with them.
    fn save(&self, e: &Escalation, changes: &EscalationChanges, audit_action: Option<&str>) -> ApiResult<()> {
        let now = self.ctx.now();
        let mut conn = self.pool.get()?;
        write_transaction(&mut conn, |conn| -> ApiResult<()> {
            store::change(conn, e.id, changes)?;
            if let Some(action) = audit_action {
                audit::record(
                    conn,
                    Action {
                        actor_id: None,
                        action,
                        target_type: "question",
                        target_id: Some(e.question_id),
                        reason: changes.last_error.clone().flatten().as_deref(),
                        before: None,
                        after: None,
                        at: now,
                    },
                )?;
            }
            Ok(())
        })
    }
}

/// Tells the asker and the question's followers that the case moved.
fn tell(conn: &mut DbConn, question_id: i64, now: NaiveDateTime) -> ApiResult<()> {
    let event = Event {
        kind: Kind::EscalationUpdated,
        question_id,
        answer_id: None,
        comment_id: None,
        actor_id: None,
        at: now,
    };
    let mut recipients = db::follows::followers(conn, question_id)?;
    if let Some(question) = db::questions::find(conn, question_id)? {
        recipients.push(question.author_id);
    }
    notifications::notify(conn, &recipients, event)
}

/// Whether a case's description carries this question's link, and not a
/// longer one that starts with it (`/questions/1` is not `/questions/10`).
fn names(description: &str, link: &str) -> bool {
    description.match_indices(link).any(|(at, _)| {
        description[at + link.len()..].chars().next().is_none_or(|c| !c.is_ascii_alphanumeric() && c != '/')
    })
}

/// The case's description: the title, the body as plain text and the link
/// back, at most 4,000 characters (the body is cut, never the link).
pub fn description(title: &str, body: &str, link: &str) -> String {
    let footer = format!("\n\nAgora question: {link}");
    let head = format!("{}\n\n", title.trim());
    let room = MAX_DESCRIPTION.saturating_sub(head.chars().count() + footer.chars().count());
    let body = body.trim();
    let body = if body.chars().count() > room {
        let cut: String = body.chars().take(room.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        body.to_owned()
    };
    format!("{head}{body}{footer}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_found_only_whole() {
        assert!(names("Bins\n\nAgora question: https://a.example/questions/1", "https://a.example/questions/1"));
        assert!(names("see https://a.example/questions/1.", "https://a.example/questions/1"));
        assert!(!names("Agora question: https://a.example/questions/10", "https://a.example/questions/1"));
        assert!(!names("nothing here", "https://a.example/questions/1"));
    }

    #[test]
    fn descriptions_keep_the_link_within_4000_characters() {
        let long = "x".repeat(10_000);
        let text = description("Bins", &long, "https://agora.example/questions/7");
        assert_eq!(text.chars().count(), MAX_DESCRIPTION);
        assert!(text.starts_with("Bins\n\n"));
        assert!(text.ends_with("Agora question: https://agora.example/questions/7"));
        assert!(text.contains('…'));
        let short = description("Bins", "Missed.", "/q/1");
        assert_eq!(short, "Bins\n\nMissed.\n\nAgora question: /q/1");
    }
}
