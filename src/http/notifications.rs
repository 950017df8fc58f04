//! GET /me/notifications and POST /me/notifications/read.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::extract::{AuthUser, JsonBody, non_null};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::notifications;
use crate::service::pagination;

#[derive(Deserialize)]
pub struct InboxParams {
    #[serde(default)]
    unread: bool,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<InboxParams>,
) -> ApiResult<HttpResponse> {
    let InboxParams { unread, limit, cursor } = params.into_inner();
    let limit = pagination::limit(limit)?;
    let st = state.clone();
    let page = state
        .db(move |conn| notifications::inbox(conn, &st.ctx.cursors, user.id, unread, cursor.as_deref(), limit))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Either `{"ids": [...]}` (at most 100) or `{"all": true}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkReadRequest {
    #[serde(default, deserialize_with = "non_null")]
    ids: Option<Vec<i64>>,
    #[serde(default, deserialize_with = "non_null")]
    all: Option<bool>,
}

pub async fn mark_read(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody<MarkReadRequest>,
) -> ApiResult<HttpResponse> {
    let ids = match (body.0.ids, body.0.all) {
        (Some(ids), None) if !ids.is_empty() && ids.len() <= 100 => Some(ids),
        (Some(_), None) => return Err(ApiError::validation("ids", "must list 1 to 100 notification ids")),
        (None, Some(true)) => None,
        _ => return Err(ApiError::validation("body", "send either ids or all: true")),
    };
    let now = state.ctx.clock.now();
    let updated = state.db(move |conn| notifications::mark_read(conn, user.id, ids.as_deref(), now)).await?;
    Ok(HttpResponse::Ok().json(json!({ "updated": updated })))
}
