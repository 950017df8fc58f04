//! Webhooks: the council's other systems hear what happens, signed with
//! the Standard Webhooks scheme, retried, and redeliverable by hand
//! (docs/architecture.md, "Outbound deliveries").
//!
//! - `events`: the event types, what their causes enqueue (in their own
//!   transactions) and the bodies read at send time.
//! - `sender`: the thread that claims, signs, POSTs and records.
//! - `transport`: which URLs may be called, the guarded HTTP client and
//!   the signature.
//!
//! This file is the admins' side: endpoints, their secrets and the
//! delivery log.

pub mod events;
pub mod sender;
pub mod transport;

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::json;

use crate::clock::rfc3339;
use crate::domain::Errors;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::audit::{self, Action};
use crate::service::pagination::{self, Page};
use crate::service::{Caller, Context, tokens};
use crate::store::webhooks::{
    self as store, Attempt, Delivery, Endpoint, EndpointChanges, EndpointInsertForm, NewEvent,
};
use crate::store::{DbConn, write_transaction};
use events::{EVENT_TYPES, PING, Subject};

/// Endpoints a community may have.
pub const MAX_ENDPOINTS: i64 = 50;
const MAX_DESCRIPTION: usize = 500;
/// Attempts shown with a delivery (the schedule makes ten at most, but
/// redeliveries add more).
const MAX_ATTEMPTS_SHOWN: i64 = 100;

#[derive(Debug, Serialize)]
pub struct EndpointView {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub failing_since: Option<NaiveDateTime>,
    #[serde(with = "rfc3339::option")]
    pub previous_secret_expires_at: Option<NaiveDateTime>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// An endpoint with its secret: shown when made and when rotated, never
/// again.
#[derive(Debug, Serialize)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    pub secret: String,
}

#[derive(Debug, Serialize)]
pub struct DeliveryView {
    pub id: i64,
    pub endpoint_id: i64,
    pub message_id: String,
    pub event_type: String,
    pub status: &'static str,
    pub attempts: i32,
    pub response_status: Option<i32>,
    pub duration_ms: Option<i32>,
    pub last_error: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub next_attempt_at: Option<NaiveDateTime>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    #[serde(with = "rfc3339")]
    pub attempted_at: NaiveDateTime,
    pub succeeded: bool,
    pub response_status: Option<i32>,
    pub duration_ms: i32,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DeliveryDetail {
    #[serde(flatten)]
    pub delivery: DeliveryView,
    pub attempts_log: Vec<AttemptView>,
}

/// A new endpoint as an admin asked for it.
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// An admin's change; `None` leaves a field as it is.
#[derive(Default)]
pub struct EndpointEdit {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

fn view(e: Endpoint) -> EndpointView {
    let events = serde_json::from_str(&e.events).unwrap_or_default();
    EndpointView {
        id: e.id,
        url: e.url,
        description: e.description,
        events,
        enabled: e.enabled,
        disabled_reason: e.disabled_reason,
        failing_since: e.failing_since,
        previous_secret_expires_at: e.previous_secret_expires_at,
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

fn delivery_view(d: Delivery) -> DeliveryView {
    // "sending" is a claim, not something an admin acts on: still pending.
    let status = match d.status.as_str() {
        "succeeded" => "succeeded",
        "failed" => "failed",
        "abandoned" => "abandoned",
        _ => "pending",
    };
    let next_attempt_at = matches!(status, "pending" | "failed").then_some(d.next_attempt_at);
    DeliveryView {
        id: d.id,
        endpoint_id: d.endpoint_id,
        message_id: d.message_id,
        event_type: d.event_type,
        status,
        attempts: d.attempts,
        response_status: d.response_status,
        duration_ms: d.duration_ms,
        last_error: d.last_error,
        next_attempt_at,
        created_at: d.created_at,
        updated_at: d.updated_at,
    }
}

fn attempt_view(a: Attempt) -> AttemptView {
    AttemptView {
        attempted_at: a.attempted_at,
        succeeded: a.succeeded,
        response_status: a.response_status,
        duration_ms: a.duration_ms,
        response_body: a.response_body,
        error: a.error,
    }
}

fn check_url(errors: &mut Errors, ctx: &Context, url: &str) {
    if let Err(message) = transport::check_url(url, &ctx.config.webhooks) {
        errors.add("url", message);
    }
}

/// The event list as stored (JSON), if every entry is a known type.
fn check_events(errors: &mut Errors, events: &[String]) -> String {
    if events.is_empty() || events.len() > EVENT_TYPES.len() {
        errors.add("events", format!("must name 1 to {} event types", EVENT_TYPES.len()));
    }
    for (i, event) in events.iter().enumerate() {
        if !EVENT_TYPES.contains(&event.as_str()) {
            errors.add(&format!("events[{i}]"), format!("must be one of {}", EVENT_TYPES.join(", ")));
        } else if events[..i].contains(event) {
            errors.add(&format!("events[{i}]"), "is repeated");
        }
    }
    serde_json::to_string(events).unwrap_or_else(|_| "[]".into())
}

fn check_description(errors: &mut Errors, description: &str) {
    if description.chars().count() > MAX_DESCRIPTION {
        errors.add("description", format!("must be at most {MAX_DESCRIPTION} characters"));
    }
}

fn new_secret() -> ApiResult<String> {
    Ok(transport::new_secret(tokens::random_bytes::<32>()?))
}

fn load(conn: &mut DbConn, id: i64) -> ApiResult<Endpoint> {
    store::find_endpoint(conn, id)?.ok_or_else(|| ApiError::not_found("webhook"))
}

fn audit(
    conn: &mut DbConn,
    caller: &Caller,
    action: &str,
    id: i64,
    after: serde_json::Value,
    at: NaiveDateTime,
) -> ApiResult<()> {
    audit::record(
        conn,
        Action {
            actor_id: Some(caller.id),
            action,
            target_type: "webhook",
            target_id: Some(id),
            reason: None,
            before: None,
            after: Some(after),
            at,
        },
    )
}

pub fn create(conn: &mut DbConn, ctx: &Context, caller: &Caller, new: NewEndpoint) -> ApiResult<EndpointWithSecret> {
    caller.require_admin()?;
    let mut errors = Errors::default();
    check_url(&mut errors, ctx, &new.url);
    let events = check_events(&mut errors, &new.events);
    let description = new.description.unwrap_or_default();
    check_description(&mut errors, &description);
    errors.into_result()?;
    let secret = new_secret()?;
    let now = ctx.now();
    write_transaction(conn, |conn| {
        if store::endpoint_count(conn)? >= MAX_ENDPOINTS {
            return Err(ApiError::conflict(format!("a community may have at most {MAX_ENDPOINTS} webhook endpoints")));
        }
        let endpoint = store::insert_endpoint(
            conn,
            &EndpointInsertForm {
                url: &new.url,
                description: &description,
                events: &events,
                secret: &secret,
                enabled: true,
                created_at: now,
                updated_at: now,
            },
        )?;
        audit(conn, caller, "webhook_create", endpoint.id, json!({"url": new.url, "events": new.events}), now)?;
        Ok(EndpointWithSecret { endpoint: view(endpoint), secret: secret.clone() })
    })
}

pub fn list(conn: &mut DbConn, caller: &Caller) -> ApiResult<Page<EndpointView>> {
    caller.require_admin()?;
    let items = store::endpoints(conn, MAX_ENDPOINTS)?.into_iter().map(view).collect();
    Ok(Page { items, next_cursor: None, has_more: false })
}

pub fn get(conn: &mut DbConn, caller: &Caller, id: i64) -> ApiResult<EndpointView> {
    caller.require_admin()?;
    Ok(view(load(conn, id)?))
}

pub fn update(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    id: i64,
    edit: EndpointEdit,
) -> ApiResult<EndpointView> {
    caller.require_admin()?;
    let mut errors = Errors::default();
    let mut changes = EndpointChanges { updated_at: Some(ctx.now()), ..EndpointChanges::default() };
    if let Some(url) = &edit.url {
        check_url(&mut errors, ctx, url);
        changes.url = Some(url.clone());
    }
    if let Some(events) = &edit.events {
        changes.events = Some(check_events(&mut errors, events));
    }
    if let Some(description) = &edit.description {
        check_description(&mut errors, description);
        changes.description = Some(description.clone());
    }
    if let Some(enabled) = edit.enabled {
        changes.enabled = Some(enabled);
        if enabled {
            // A fresh start: the run of failures that disabled it is over.
            changes.disabled_reason = Some(None);
            changes.failing_since = Some(None);
        } else {
            changes.disabled_reason = Some(Some("disabled by an admin".into()));
        }
    }
    errors.into_result()?;
    let now = ctx.now();
    write_transaction(conn, |conn| {
        load(conn, id)?;
        store::change_endpoint(conn, id, &changes)?;
        if edit.enabled == Some(false) {
            store::abandon_waiting(conn, id, "abandoned: the endpoint was disabled by an admin", now)?;
        }
        let after =
            json!({"url": edit.url, "events": edit.events, "description": edit.description, "enabled": edit.enabled});
        audit(conn, caller, "webhook_update", id, after, now)?;
        Ok(view(load(conn, id)?))
    })
}

pub fn delete(conn: &mut DbConn, ctx: &Context, caller: &Caller, id: i64) -> ApiResult<()> {
    caller.require_admin()?;
    let now = ctx.now();
    write_transaction(conn, |conn| {
        let endpoint = load(conn, id)?;
        store::delete_endpoint(conn, id)?;
        audit(conn, caller, "webhook_delete", id, json!({"url": endpoint.url}), now)
    })
}

/// A new secret; the old one keeps signing beside it for the overlap, so
/// receivers can switch without dropping a delivery.
pub fn rotate_secret(conn: &mut DbConn, ctx: &Context, caller: &Caller, id: i64) -> ApiResult<EndpointWithSecret> {
    caller.require_admin()?;
    let secret = new_secret()?;
    let now = ctx.now();
    let overlap = chrono::Duration::seconds(ctx.config.webhooks.rotation_overlap_secs as i64);
    write_transaction(conn, |conn| {
        let endpoint = load(conn, id)?;
        let changes = EndpointChanges {
            secret: Some(secret.clone()),
            previous_secret: Some(Some(endpoint.secret)),
            previous_secret_expires_at: Some(Some(now + overlap)),
            updated_at: Some(now),
            ..EndpointChanges::default()
        };
        store::change_endpoint(conn, id, &changes)?;
        audit(
            conn,
            caller,
            "webhook_rotate_secret",
            id,
            json!({"previous_secret_expires_at": rfc3339::format(&(now + overlap))}),
            now,
        )?;
        Ok(EndpointWithSecret { endpoint: view(load(conn, id)?), secret: secret.clone() })
    })
}

fn require_enabled(endpoint: &Endpoint) -> ApiResult<()> {
    if endpoint.enabled {
        return Ok(());
    }
    Err(ApiError::conflicting(
        ErrorCode::EndpointDisabled,
        "the endpoint is disabled; enable it (PATCH enabled: true) first",
    ))
}

/// Queues a `ping` for the endpoint, whatever it subscribes to.
pub fn ping(conn: &mut DbConn, ctx: &Context, caller: &Caller, id: i64) -> ApiResult<DeliveryView> {
    caller.require_admin()?;
    let now = ctx.now();
    write_transaction(conn, |conn| {
        let endpoint = load(conn, id)?;
        require_enabled(&endpoint)?;
        let subject = serde_json::to_string(&Subject { endpoint_id: Some(id), ..Subject::default() })
            .map_err(ApiError::internal)?;
        let message_id = events::message_id();
        let event = NewEvent { message_id: &message_id, event_type: PING, subject: &subject, at: now };
        Ok(delivery_view(store::enqueue_for(conn, id, &event)?))
    })
}

const DELIVERIES_SCOPE: &str = "webhook-deliveries";

pub fn deliveries(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    id: i64,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: i64,
) -> ApiResult<Page<DeliveryView>> {
    caller.require_admin()?;
    if let Some(status) = status
        && !["pending", "succeeded", "failed", "abandoned"].contains(&status)
    {
        return Err(ApiError::validation("status", "must be pending, succeeded, failed or abandoned"));
    }
    load(conn, id)?;
    let scope = format!("{DELIVERIES_SCOPE}:{id}:{}", status.unwrap_or(""));
    let before: Option<i64> = cursor.map(|c| ctx.cursors.decode(&scope, c)).transpose()?;
    let rows = store::deliveries(conn, id, status, before, limit + 1)?;
    Ok(pagination::page(rows, limit, |d| ctx.cursors.encode(&scope, &d.id), delivery_view))
}

pub fn delivery(conn: &mut DbConn, caller: &Caller, id: i64, delivery_id: i64) -> ApiResult<DeliveryDetail> {
    caller.require_admin()?;
    let d = store::find_delivery(conn, id, delivery_id)?.ok_or_else(|| ApiError::not_found("delivery"))?;
    let attempts = store::attempts(conn, d.id, MAX_ATTEMPTS_SHOWN)?.into_iter().map(attempt_view).collect();
    Ok(DeliveryDetail { delivery: delivery_view(d), attempts_log: attempts })
}

/// Sends a delivery again at once, under the same `webhook-id`, with the
/// retry schedule started afresh.
pub fn redeliver(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    id: i64,
    delivery_id: i64,
) -> ApiResult<DeliveryView> {
    caller.require_admin()?;
    let now = ctx.now();
    write_transaction(conn, |conn| {
        let endpoint = load(conn, id)?;
        store::find_delivery(conn, id, delivery_id)?.ok_or_else(|| ApiError::not_found("delivery"))?;
        require_enabled(&endpoint)?;
        store::redeliver(conn, delivery_id, now)?;
        audit(conn, caller, "webhook_redeliver", id, json!({"delivery_id": delivery_id}), now)?;
        let d = store::find_delivery(conn, id, delivery_id)?.ok_or_else(|| ApiError::not_found("delivery"))?;
        Ok(delivery_view(d))
    })
}

/// The queue as /metrics reports it: deliveries waiting (all nodes) and
/// the age of the oldest, in seconds.
pub fn queue(conn: &mut DbConn, now: NaiveDateTime) -> ApiResult<(i64, f64)> {
    let (waiting, oldest) = store::queue(conn)?;
    let age = oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
    Ok((waiting, age))
}
