//! /admin/webhooks: endpoints, secrets and the delivery log
//! (`service::webhooks`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{AuthUser, JsonBody, non_null};
use crate::domain::Role;
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::pagination;
use crate::service::webhooks::{self, EndpointEdit, NewEndpoint};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    url: String,
    events: Vec<String>,
    #[serde(default, deserialize_with = "non_null")]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    #[serde(default, deserialize_with = "non_null")]
    url: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "non_null")]
    description: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    enabled: Option<bool>,
}

/// The secret is in this response only: never cached on the way.
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody<CreateRequest>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let body = body.0;
    let new = NewEndpoint { url: body.url, events: body.events, description: body.description };
    let (caller, st) = (user.caller(), state.clone());
    let created = state.db(move |conn| webhooks::create(conn, &st.ctx, &caller, new)).await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(created))
}

pub async fn list(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let caller = user.caller();
    let page = state.db(move |conn| webhooks::list(conn, &caller)).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn show(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let (caller, id) = (user.caller(), path.into_inner());
    let endpoint = state.db(move |conn| webhooks::get(conn, &caller, id)).await?;
    Ok(HttpResponse::Ok().json(endpoint))
}

pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<UpdateRequest>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let body = body.0;
    if body.url.is_none() && body.events.is_none() && body.description.is_none() && body.enabled.is_none() {
        return Err(ApiError::validation("body", "must change at least one of url, events, description, enabled"));
    }
    let edit =
        EndpointEdit { url: body.url, events: body.events, description: body.description, enabled: body.enabled };
    let (caller, st, id) = (user.caller(), state.clone(), path.into_inner());
    let endpoint = state.db(move |conn| webhooks::update(conn, &st.ctx, &caller, id, edit)).await?;
    Ok(HttpResponse::Ok().json(endpoint))
}

pub async fn delete(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let (caller, st, id) = (user.caller(), state.clone(), path.into_inner());
    state.db(move |conn| webhooks::delete(conn, &st.ctx, &caller, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn rotate_secret(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let (caller, st, id) = (user.caller(), state.clone(), path.into_inner());
    let rotated = state.db(move |conn| webhooks::rotate_secret(conn, &st.ctx, &caller, id)).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(rotated))
}

pub async fn ping(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let (caller, st, id) = (user.caller(), state.clone(), path.into_inner());
    let delivery = state.db(move |conn| webhooks::ping(conn, &st.ctx, &caller, id)).await?;
    state.webhooks.wake();
    Ok(HttpResponse::Accepted().json(delivery))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    params: web::Query<DeliveryParams>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let params = params.into_inner();
    let limit = pagination::limit(params.limit)?;
    let (caller, st, id) = (user.caller(), state.clone(), path.into_inner());
    let page = state
        .db(move |conn| {
            webhooks::deliveries(conn, &st.ctx, &caller, id, params.status.as_deref(), params.cursor.as_deref(), limit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn delivery(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let (caller, (id, delivery_id)) = (user.caller(), path.into_inner());
    let detail = state.db(move |conn| webhooks::delivery(conn, &caller, id, delivery_id)).await?;
    Ok(HttpResponse::Ok().json(detail))
}

pub async fn redeliver(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<(i64, i64)>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let (caller, st, (id, delivery_id)) = (user.caller(), state.clone(), path.into_inner());
    let delivery = state.db(move |conn| webhooks::redeliver(conn, &st.ctx, &caller, id, delivery_id)).await?;
    state.webhooks.wake();
    Ok(HttpResponse::Accepted().json(delivery))
}
