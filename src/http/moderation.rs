//! POST /flags and the moderator (/mod) and admin (/admin/users) routes.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::extract::{AuthUser, JsonBody, OptionalJsonBody, non_null};
use crate::domain::{Role, bounded_text};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::audit::{self, AuditFilter};
use crate::service::community::questions;
use crate::service::moderation::{self, QuestionAction, Resolution};
use crate::service::pagination;
use crate::service::posts::Target;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagRequest {
    target_type: TargetType,
    target_id: i64,
    reason: FlagReason,
    #[serde(default, deserialize_with = "non_null")]
    note: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Question,
    Answer,
    Comment,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum FlagReason {
    Spam,
    Abusive,
    OffTopic,
    Duplicate,
    PersonalInfo,
    Other,
}

impl FlagReason {
    fn as_str(self) -> &'static str {
        match self {
            FlagReason::Spam => "spam",
            FlagReason::Abusive => "abusive",
            FlagReason::OffTopic => "off_topic",
            FlagReason::Duplicate => "duplicate",
            FlagReason::PersonalInfo => "personal_info",
            FlagReason::Other => "other",
        }
    }
}

fn target(kind: TargetType, id: i64) -> Target {
    match kind {
        TargetType::Question => Target::Question(id),
        TargetType::Answer => Target::Answer(id),
        TargetType::Comment => Target::Comment(id),
    }
}

pub async fn flag(state: web::Data<AppState>, user: AuthUser, body: JsonBody<FlagRequest>) -> ApiResult<HttpResponse> {
    let FlagRequest { target_type, target_id, reason, note } = body.0;
    let note = match note {
        Some(note) => Some(bounded_text(&note, 1, 500, true).map_err(|m| ApiError::validation("note", &m))?),
        None => None,
    };
    let caller = user.caller();
    let st = state.clone();
    let flag = state
        .db(move |conn| {
            moderation::flag(conn, &st.ctx, &caller, target(target_type, target_id), reason.as_str(), note.as_deref())
        })
        .await?;
    Ok(HttpResponse::Created().json(flag))
}

#[derive(Deserialize, Clone, Copy, Default)]
#[serde(rename_all = "lowercase")]
pub enum FlagStatus {
    #[default]
    Pending,
    Resolved,
}

#[derive(Deserialize)]
pub struct QueueParams {
    #[serde(default)]
    status: FlagStatus,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub async fn queue(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<QueueParams>,
) -> ApiResult<HttpResponse> {
    let QueueParams { status, limit, cursor } = params.into_inner();
    let limit = pagination::limit(limit)?;
    let status = match status {
        FlagStatus::Pending => "pending",
        FlagStatus::Resolved => "resolved",
    };
    let caller = user.caller();
    let st = state.clone();
    let page = state
        .db(move |conn| moderation::queue(conn, &st.ctx.cursors, &caller, status, cursor.as_deref(), limit))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ResolveAction {
    Dismiss,
    Hide,
    Delete,
    RemoveAsSpam,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    action: ResolveAction,
    #[serde(default, deserialize_with = "non_null")]
    note: Option<String>,
}

pub async fn resolve(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<ResolveRequest>,
) -> ApiResult<HttpResponse> {
    let ResolveRequest { action, note } = body.0;
    let note = optional_reason(note, "note")?;
    let resolution = match action {
        ResolveAction::Dismiss => Resolution::Dismiss,
        ResolveAction::Hide => Resolution::Hide,
        ResolveAction::Delete => Resolution::Delete,
        ResolveAction::RemoveAsSpam => Resolution::RemoveAsSpam,
    };
    let (id, caller) = (path.into_inner(), user.caller());
    let st = state.clone();
    let resolved =
        state.db(move |conn| moderation::resolve(conn, &st.ctx, &caller, id, resolution, note.as_deref())).await?;
    Ok(HttpResponse::Ok().json(resolved))
}

fn optional_reason(value: Option<String>, field: &str) -> ApiResult<Option<String>> {
    value.map(|v| bounded_text(&v, 1, 500, true).map_err(|m| ApiError::validation(field, &m))).transpose()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    reason: String,
    #[serde(default, deserialize_with = "non_null")]
    duplicate_of: Option<i64>,
}

async fn question_action(
    state: web::Data<AppState>,
    user: AuthUser,
    id: i64,
    action: QuestionAction,
) -> ApiResult<HttpResponse> {
    let caller = user.caller();
    let st = state.clone();
    let detail = state
        .db(move |conn| {
            moderation::act_on_question(conn, &st.ctx, &caller, id, action)?;
            questions::detail(conn, Some(&caller), id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail))
}

pub async fn close(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<CloseRequest>,
) -> ApiResult<HttpResponse> {
    let CloseRequest { reason, duplicate_of } = body.0;
    let reason = bounded_text(&reason, 3, 200, false).map_err(|m| ApiError::validation("reason", &m))?;
    question_action(state, user, path.into_inner(), QuestionAction::Close { reason, duplicate_of }).await
}

pub async fn reopen(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    question_action(state, user, path.into_inner(), QuestionAction::Reopen).await
}

pub async fn lock(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    question_action(state, user, path.into_inner(), QuestionAction::Lock).await
}

pub async fn unlock(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    question_action(state, user, path.into_inner(), QuestionAction::Unlock).await
}

async fn set_hidden(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
    hidden: bool,
) -> ApiResult<HttpResponse> {
    let (kind, id) = path.into_inner();
    let target = Target::parse(&kind, id).ok_or_else(|| ApiError::NotFound("no such post type".to_owned()))?;
    let caller = user.caller();
    let st = state.clone();
    state.db(move |conn| moderation::hide(conn, &st.ctx, &caller, target, hidden)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn hide(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> ApiResult<HttpResponse> {
    set_hidden(state, user, path, true).await
}

pub async fn unhide(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(String, i64)>,
) -> ApiResult<HttpResponse> {
    set_hidden(state, user, path, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    into: i64,
}

pub async fn merge(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<MergeRequest>,
) -> ApiResult<HttpResponse> {
    let (id, into, caller) = (path.into_inner(), body.0.into, user.caller());
    let st = state.clone();
    let merged = state.db(move |conn| moderation::merge(conn, &st.ctx, &caller, id, into)).await?;
    Ok(HttpResponse::Ok().json(merged))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    until: DateTime<Utc>,
    reason: String,
}

pub async fn suspend(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<SuspendRequest>,
) -> ApiResult<HttpResponse> {
    let SuspendRequest { until, reason } = body.0;
    let reason = bounded_text(&reason, 3, 500, true).map_err(|m| ApiError::validation("reason", &m))?;
    let (id, caller) = (path.into_inner(), user.caller());
    let st = state.clone();
    state.db(move |conn| moderation::suspend(conn, &st.ctx, &caller, id, until.naive_utc(), &reason)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The body is optional (and ignored when empty).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UnsuspendRequest {}

pub async fn unsuspend(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    _body: OptionalJsonBody<UnsuspendRequest>,
) -> ApiResult<HttpResponse> {
    let (id, caller) = (path.into_inner(), user.caller());
    let st = state.clone();
    state.db(move |conn| moderation::unsuspend(conn, &st.ctx, &caller, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesRequest {
    roles: Vec<Role>,
}

pub async fn set_roles(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<RolesRequest>,
) -> ApiResult<HttpResponse> {
    if body.0.roles.len() > Role::ALL.len() {
        return Err(ApiError::validation("roles", "lists a role more than once"));
    }
    let (id, roles, caller) = (path.into_inner(), body.0.roles, user.caller());
    let st = state.clone();
    let roles = state.db(move |conn| moderation::set_roles(conn, &st.ctx, &caller, id, &roles)).await?;
    Ok(HttpResponse::Ok().json(json!({"user_id": id, "roles": roles})))
}

#[derive(Deserialize)]
pub struct AuditParams {
    actor: Option<i64>,
    action: Option<String>,
    since: Option<DateTime<Utc>>,
    limit: Option<i64>,
    cursor: Option<String>,
}

fn audit_filter(params: &AuditParams) -> AuditFilter {
    AuditFilter { actor_id: params.actor, action: params.action.clone(), since: params.since.map(|t| t.naive_utc()) }
}

pub async fn audit_log(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<AuditParams>,
) -> ApiResult<HttpResponse> {
    user.caller().require_moderator()?;
    let params = params.into_inner();
    let limit = pagination::limit(params.limit)?;
    let filter = audit_filter(&params);
    let st = state.clone();
    let page =
        state.db(move |conn| audit::list(conn, &st.ctx.cursors, &filter, params.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn audit_log_csv(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<AuditParams>,
) -> ApiResult<HttpResponse> {
    user.caller().require_moderator()?;
    let filter = audit_filter(&params.into_inner());
    let csv = state.db(move |conn| audit::csv(conn, &filter)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"audit-log.csv\""))
        .body(csv))
}
