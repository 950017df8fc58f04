//! Open311 escalation: questions the community cannot answer become
//! council cases (GeoReport v2), one per question, ever.
//!
//! - `client`: the GeoReport v2 client.
//! - `worker`: each node's thread that submits cases (looking the question
//!   up first after a failed attempt, so a timeout never makes a second
//!   case), resolves batch tokens, polls statuses and escalates questions
//!   left unanswered.
//!
//! This file is what staff and admins do: map categories to service codes,
//! escalate a question, read a case.

pub mod client;
pub mod worker;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::domain::Role;
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::service::audit::{self, Action};
use crate::service::settings::Open311Settings;
use crate::service::{Caller, Context, posts};
use crate::store::escalations::{self as store, AutoRequest, Escalation, EscalationInsertForm};
use crate::store::{self as db, DbConn, write_transaction};
use client::{Attribute, CallError, Client, Service};

/// Where a case is: an address, or a point.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Location {
    #[serde(default)]
    pub address_string: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub long: Option<f64>,
}

impl Location {
    /// A usable location, or the field that is wrong.
    pub fn check(&self, prefix: &str) -> Result<(), Vec<FieldError>> {
        let field = |name: &str| if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") };
        let mut errors = Vec::new();
        let address = self.address_string.as_deref().map(str::trim).filter(|a| !a.is_empty());
        if let Some(a) = address
            && a.chars().count() > 500
        {
            errors.push(FieldError::new(field("address_string"), "must be at most 500 characters"));
        }
        match (self.lat, self.long) {
            (Some(lat), _) if !(-90.0..=90.0).contains(&lat) || !lat.is_finite() => {
                errors.push(FieldError::new(field("lat"), "must be between -90 and 90"));
            }
            (_, Some(long)) if !(-180.0..=180.0).contains(&long) || !long.is_finite() => {
                errors.push(FieldError::new(field("long"), "must be between -180 and 180"));
            }
            (Some(_), None) => errors.push(FieldError::new(field("long"), "is needed with lat")),
            (None, Some(_)) => errors.push(FieldError::new(field("lat"), "is needed with long")),
            (None, None) if address.is_none() => {
                let name = if prefix.is_empty() { "location".to_owned() } else { prefix.to_owned() };
                errors.push(FieldError::new(&name, "needs an address_string or lat and long"));
            }
            _ => {}
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// What staff send with an escalation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationInput {
    #[serde(flatten)]
    pub location: Location,
    #[serde(default)]
    pub attributes: BTreeMap<String, AttributeInput>,
}

/// An attribute's value: one, or several for a multi-value list.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum AttributeInput {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Serialize)]
pub struct EscalationView {
    pub question_id: i64,
    pub status: String,
    pub service_code: String,
    pub service_request_id: Option<String>,
    pub token: Option<String>,
    pub status_notes: Option<String>,
    pub last_error: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub submitted_at: Option<NaiveDateTime>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
    #[serde(with = "rfc3339")]
    pub updated_at: NaiveDateTime,
}

/// What the question page shows to everyone who can see the question.
#[derive(Debug, Clone, Serialize)]
pub struct EscalationSummary {
    pub status: String,
    pub service_request_id: Option<String>,
    pub status_notes: Option<String>,
    #[serde(with = "rfc3339")]
    pub updated_at: NaiveDateTime,
}

pub fn view(e: Escalation) -> EscalationView {
    EscalationView {
        question_id: e.question_id,
        status: e.status,
        service_code: e.service_code,
        service_request_id: e.service_request_id,
        token: e.token,
        status_notes: e.status_notes,
        last_error: e.last_error,
        submitted_at: e.submitted_at,
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

pub fn summary(conn: &mut DbConn, question_id: i64) -> ApiResult<Option<EscalationSummary>> {
    Ok(store::of_question(conn, question_id)?.map(|e| EscalationSummary {
        status: e.status,
        service_request_id: e.service_request_id,
        status_notes: e.status_notes,
        updated_at: e.updated_at,
    }))
}

fn configured(settings: &Open311Settings) -> ApiResult<&str> {
    settings.endpoint.as_deref().filter(|e| !e.is_empty()).ok_or_else(|| {
        ApiError::conflicting(
            ErrorCode::Open311NotConfigured,
            "no Open311 endpoint is set: an admin sets open311.endpoint in the settings",
        )
    })
}

pub fn client(ctx: &Context, endpoint: &str) -> Client {
    Client::new(endpoint, Duration::from_millis(ctx.config.open311.timeout_ms))
}

fn unavailable(e: &CallError) -> ApiError {
    ApiError::Upstream { code: ErrorCode::Open311Unavailable, detail: format!("the Open311 endpoint: {}", e.message()) }
}

/// The endpoint's services, fetched now (and remembered), or the last
/// copy when the endpoint does not answer.
fn services(ctx: &Context, settings: &Open311Settings, fresh_only: bool) -> ApiResult<(Vec<Service>, NaiveDateTime)> {
    let endpoint = configured(settings)?;
    match client(ctx, endpoint).services(settings.jurisdiction_id.as_deref()) {
        Ok(list) => {
            let now = ctx.now();
            if let Ok(mut cache) = ctx.open311_services.lock() {
                *cache = Some((endpoint.to_owned(), now, serde_json::to_value(&list).unwrap_or_default()));
            }
            Ok((list, now))
        }
        Err(e) if fresh_only => Err(unavailable(&e)),
        Err(e) => {
            let cache = ctx.open311_services.lock().map_err(|_| unavailable(&e))?;
            match cache.as_ref() {
                Some((cached_for, at, list)) if cached_for == endpoint => {
                    Ok((serde_json::from_value(list.clone()).unwrap_or_default(), *at))
                }
                _ => Err(unavailable(&e)),
            }
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ServicesView {
    pub services: Vec<Service>,
    pub mapping: BTreeMap<String, String>,
    #[serde(with = "rfc3339")]
    pub fetched_at: NaiveDateTime,
}

pub fn show_services(conn: &mut DbConn, ctx: &Context, caller: &Caller) -> ApiResult<ServicesView> {
    caller.require_admin()?;
    let settings = ctx.rules(conn)?.open311.clone();
    let (services, fetched_at) = services(ctx, &settings, false)?;
    let mapping = store::mapping(conn)?.into_iter().collect();
    Ok(ServicesView { services, mapping, fetched_at })
}

/// Replaces the mapping; a code the endpoint does not list now is refused.
pub fn set_mapping(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    mapping: BTreeMap<String, String>,
) -> ApiResult<ServicesView> {
    caller.require_admin()?;
    let settings = ctx.rules(conn)?.open311.clone();
    let (services, fetched_at) = services(ctx, &settings, true)?;
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    for (slug, code) in &mapping {
        let field = format!("mapping.{slug}");
        let Some(category) = db::categories::find_by_slug(conn, slug)? else {
            errors.push(FieldError::new(&field, "no such category"));
            continue;
        };
        if !services.iter().any(|s| &s.service_code == code) {
            errors.push(FieldError::new(&field, format!("the endpoint lists no service {code}")));
            continue;
        }
        rows.push((category.id, code.clone()));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let now = ctx.now();
    write_transaction(conn, |conn| {
        store::replace_mapping(conn, &rows)?;
        audit::record(
            conn,
            Action {
                actor_id: Some(caller.id),
                action: "open311_mapping",
                target_type: "settings",
                target_id: None,
                reason: None,
                before: None,
                after: Some(json!(mapping)),
                at: now,
            },
        )
    })?;
    Ok(ServicesView { services, mapping, fetched_at })
}

/// The service's required attributes that `given` lacks or gets wrong.
fn check_attributes(attributes: &[Attribute], given: &BTreeMap<String, AttributeInput>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for attribute in attributes.iter().filter(|a| a.variable || a.required) {
        let field = format!("attributes.{}", attribute.code);
        let values: Vec<&str> = match given.get(&attribute.code) {
            Some(AttributeInput::One(v)) => vec![v.as_str()],
            Some(AttributeInput::Many(vs)) => vs.iter().map(String::as_str).collect(),
            None => Vec::new(),
        };
        let values: Vec<&str> = values.into_iter().filter(|v| !v.trim().is_empty()).collect();
        if values.is_empty() {
            if attribute.required {
                errors.push(FieldError::new(&field, "is required by the service"));
            }
            continue;
        }
        let listed = matches!(attribute.datatype.as_deref(), Some("singlevaluelist" | "multivaluelist"));
        if listed && let Some(bad) = values.iter().find(|v| !attribute.values.iter().any(|k| k.key == **v)) {
            errors.push(FieldError::new(&field, format!("{bad} is not one of the service's values")));
        }
    }
    for (code, value) in given {
        let too_long = match value {
            AttributeInput::One(v) => v.chars().count() > 1000,
            AttributeInput::Many(vs) => vs.len() > 50 || vs.iter().any(|v| v.chars().count() > 1000),
        };
        if too_long || code.len() > 100 {
            errors.push(FieldError::new(format!("attributes.{code}"), "is too long"));
        }
    }
    errors
}

/// A new case for the question, for the worker to submit.
struct NewCase<'a> {
    question_id: i64,
    requested_by: Option<i64>,
    service_code: &'a str,
    location: &'a Location,
    attributes: &'a BTreeMap<String, AttributeInput>,
    share_email: bool,
}

/// Writes the case (inside the caller's transaction): 409 when the
/// question has one already, whoever made it and whenever.
fn open_case(conn: &mut DbConn, case: &NewCase<'_>, now: NaiveDateTime) -> ApiResult<Escalation> {
    if store::of_question(conn, case.question_id)?.is_some() {
        return Err(already_escalated());
    }
    let attributes = serde_json::to_string(case.attributes).map_err(ApiError::internal)?;
    let address = case.location.address_string.as_deref().map(str::trim).filter(|a| !a.is_empty());
    let inserted = store::insert(
        conn,
        &EscalationInsertForm {
            question_id: case.question_id,
            requested_by: case.requested_by,
            service_code: case.service_code,
            address_string: address,
            latitude: case.location.lat,
            longitude: case.location.long,
            attributes: &attributes,
            share_email: case.share_email,
            status: "pending",
            next_attempt_at: now,
            created_at: now,
            updated_at: now,
        },
    );
    let escalation = match inserted {
        Err(e) if db::is_unique_violation(&e) => return Err(already_escalated()),
        other => other?,
    };
    audit::record(
        conn,
        Action {
            actor_id: case.requested_by,
            action: "escalate",
            target_type: "question",
            target_id: Some(case.question_id),
            reason: None,
            before: None,
            after: Some(json!({"service_code": case.service_code})),
            at: now,
        },
    )?;
    crate::service::deflection::record_escalation(conn, case.question_id, now)?;
    Ok(escalation)
}

fn already_escalated() -> ApiError {
    ApiError::conflicting(ErrorCode::AlreadyEscalated, "the question has been escalated already: one case per question")
}

/// The service code of the question's category, or 409 naming it.
fn service_code(conn: &mut DbConn, category_id: i64) -> ApiResult<String> {
    if let Some(code) = store::service_code_of(conn, category_id)? {
        return Ok(code);
    }
    let category = db::categories::find(conn, category_id)?;
    Err(ApiError::conflicting(
        ErrorCode::CategoryNotMapped,
        format!(
            "the category {} ({}) has no Open311 service code: an admin maps it in /admin/open311/services",
            category.name, category.slug
        ),
    ))
}

/// An escalation checked against the database, before the endpoint is
/// asked about the service's attributes.
pub struct Checked {
    question_id: i64,
    service_code: String,
    endpoint: String,
    jurisdiction_id: Option<String>,
}

/// Staff, moderators and admins hand a question to the council, in three
/// steps so that no database connection waits on the council's endpoint:
/// [`check`] (database), [`check_attributes_online`] (the endpoint), then
/// [`open`] (database).
pub fn check(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    question_id: i64,
    input: &EscalationInput,
) -> ApiResult<Checked> {
    if !(caller.has_role(Role::Staff) || caller.is_moderator()) {
        return Err(ApiError::forbidden("escalating needs council staff, a moderator or an admin"));
    }
    let question = posts::visible_question(conn, Some(caller), question_id)?;
    let settings = ctx.rules(conn)?.open311.clone();
    let endpoint = configured(&settings)?.to_owned();
    if store::of_question(conn, question_id)?.is_some() {
        return Err(already_escalated());
    }
    let service_code = service_code(conn, question.category_id)?;
    if let Err(errors) = input.location.check("") {
        return Err(ApiError::Validation(errors));
    }
    Ok(Checked { question_id, service_code, endpoint, jurisdiction_id: settings.jurisdiction_id })
}

/// The service's own rules, when the endpoint answers; when it does not,
/// the case waits and the endpoint judges it then.
pub fn check_attributes_online(ctx: &Context, checked: &Checked, input: &EscalationInput) -> ApiResult<()> {
    let client = client(ctx, &checked.endpoint);
    let jurisdiction = checked.jurisdiction_id.as_deref();
    let code = &checked.service_code;
    let service = client.services(jurisdiction).ok().and_then(|l| l.into_iter().find(|s| &s.service_code == code));
    if service.is_some_and(|s| s.metadata)
        && let Ok(attributes) = client.attributes(code, jurisdiction)
    {
        let errors = check_attributes(&attributes, &input.attributes);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
    }
    Ok(())
}

/// Writes the case for the worker to submit.
pub fn open(
    conn: &mut DbConn,
    ctx: &Context,
    caller: &Caller,
    checked: &Checked,
    input: &EscalationInput,
) -> ApiResult<EscalationView> {
    let question_id = checked.question_id;
    let consent = store::request_of(conn, question_id)?.is_some_and(|r| r.share_email);
    let now = ctx.now();
    let case = NewCase {
        question_id,
        requested_by: Some(caller.id),
        service_code: &checked.service_code,
        location: &input.location,
        attributes: &input.attributes,
        share_email: consent,
    };
    let escalation = write_transaction(conn, |conn| -> ApiResult<Escalation> {
        let escalation = open_case(conn, &case, now)?;
        store::take_request(conn, question_id)?;
        Ok(escalation)
    })?;
    Ok(view(escalation))
}

/// The asker, staff, moderators and admins read the case.
pub fn show(conn: &mut DbConn, caller: &Caller, question_id: i64) -> ApiResult<EscalationView> {
    let question = posts::visible_question(conn, Some(caller), question_id)?;
    let allowed = question.author_id == caller.id || caller.has_role(Role::Staff) || caller.is_moderator();
    if !allowed {
        return Err(ApiError::forbidden("only the asker and council staff see the case"));
    }
    store::of_question(conn, question_id)?.map(view).ok_or_else(|| ApiError::not_found("escalation"))
}

/// What a resident asks for when asking: escalate if still unanswered
/// after the council's hours, at this location, with or without their
/// email.
pub struct AutoEscalation {
    pub escalate_if_unanswered: bool,
    pub location: Location,
    pub share_email: bool,
}

/// Registers the automatic escalation of a new question (inside the ask's
/// transaction).
pub fn schedule(
    conn: &mut DbConn,
    ctx: &Context,
    question_id: i64,
    auto: &AutoEscalation,
    now: NaiveDateTime,
) -> ApiResult<()> {
    let hours = ctx.rules(conn)?.open311.auto_escalate_after_hours;
    let request = AutoRequest {
        question_id,
        address_string: auto.location.address_string.clone(),
        latitude: auto.location.lat,
        longitude: auto.location.long,
        share_email: auto.share_email,
        auto_escalate: auto.escalate_if_unanswered,
        due_at: now + chrono::Duration::hours(i64::from(hours)),
    };
    Ok(store::insert_request(conn, &request)?)
}

/// Escalates one question whose hour has come, if it is still unanswered
/// and visible; returns whether a case was opened.
fn escalate_unanswered(conn: &mut DbConn, request: &AutoRequest, now: NaiveDateTime) -> ApiResult<bool> {
    write_transaction(conn, |conn| {
        if !store::take_request(conn, request.question_id)? {
            return Ok(false);
        }
        let Some(question) = db::questions::find(conn, request.question_id)? else { return Ok(false) };
        let open = question.hidden_at.is_none() && question.deleted_at.is_none() && question.closed_at.is_none();
        if !open || question.answer_count > 0 || store::of_question(conn, question.id)?.is_some() {
            return Ok(false);
        }
        let Some(code) = store::service_code_of(conn, question.category_id)? else {
            tracing::warn!(question_id = question.id, "not escalated automatically: its category has no service code");
            return Ok(false);
        };
        let location =
            Location { address_string: request.address_string.clone(), lat: request.latitude, long: request.longitude };
        let case = NewCase {
            question_id: question.id,
            requested_by: None,
            service_code: &code,
            location: &location,
            attributes: &BTreeMap::new(),
            share_email: request.share_email,
        };
        open_case(conn, &case, now)?;
        Ok(true)
    })
}

/// The JSON attributes of a case as the standard's form fields.
fn attribute_fields(attributes: &str) -> Vec<(String, String)> {
    let parsed: BTreeMap<String, Value> = serde_json::from_str(attributes).unwrap_or_default();
    let mut fields = Vec::new();
    for (code, value) in parsed {
        match value {
            Value::Array(values) => {
                for v in values {
                    fields.push((format!("attribute[{code}][]"), v.as_str().unwrap_or_default().to_owned()));
                }
            }
            Value::String(v) => fields.push((format!("attribute[{code}]"), v)),
            other => fields.push((format!("attribute[{code}]"), other.to_string())),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_needs_an_address_or_a_point_in_range() {
        assert!(Location { address_string: Some("1 High St".into()), ..Location::default() }.check("").is_ok());
        assert!(Location { lat: Some(51.5), long: Some(-0.1), ..Location::default() }.check("").is_ok());
        let fields = |l: Location| l.check("").unwrap_err().into_iter().map(|e| e.field).collect::<Vec<_>>();
        assert_eq!(fields(Location::default()), ["location"]);
        assert_eq!(fields(Location { lat: Some(91.0), long: Some(0.0), ..Location::default() }), ["lat"]);
        assert_eq!(fields(Location { lat: Some(1.0), long: Some(181.0), ..Location::default() }), ["long"]);
        assert_eq!(fields(Location { lat: Some(1.0), ..Location::default() }), ["long"]);
    }

    #[test]
    fn attributes_become_form_fields() {
        let fields = attribute_fields(r#"{"bin":"green","days":["mon","tue"]}"#);
        assert_eq!(
            fields,
            [
                ("attribute[bin]".to_owned(), "green".to_owned()),
                ("attribute[days][]".to_owned(), "mon".to_owned()),
                ("attribute[days][]".to_owned(), "tue".to_owned()),
            ]
        );
    }
}
