//! Open311 escalation: the category → service mapping (admins), escalating
//! a question (staff) and reading its case (`service::escalation`).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{AuthUser, JsonBody};
use crate::domain::Role;
use crate::error::ApiResult;
use crate::http::state::AppState;
use crate::service::escalation::{self, EscalationInput};

pub async fn show_services(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let (caller, st) = (user.caller(), state.clone());
    let view = state.db(move |conn| escalation::show_services(conn, &st.ctx, &caller)).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingRequest {
    mapping: BTreeMap<String, String>,
}

/// Replaces the whole mapping.
pub async fn set_mapping(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody<MappingRequest>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let mapping = body.0.mapping;
    let (caller, st) = (user.caller(), state.clone());
    let view = state.db(move |conn| escalation::set_mapping(conn, &st.ctx, &caller, mapping)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Checked against the database, then against the endpoint's service
/// definition (no connection held meanwhile), then written.
pub async fn escalate(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<EscalationInput>,
) -> ApiResult<HttpResponse> {
    let (caller, id, input) = (user.caller(), path.into_inner(), Arc::new(body.0));
    let (st, who, given) = (state.clone(), caller.clone(), input.clone());
    let checked = Arc::new(state.db(move |conn| escalation::check(conn, &st.ctx, &who, id, &given)).await?);
    let (st, given, case) = (state.clone(), input.clone(), checked.clone());
    web::block(move || escalation::check_attributes_online(&st.ctx, &case, &given)).await??;
    let st = state.clone();
    let view = state.db(move |conn| escalation::open(conn, &st.ctx, &caller, &checked, &input)).await?;
    state.escalations.wake();
    Ok(HttpResponse::Accepted().json(serde_json::json!({ "escalation": view })))
}

pub async fn show(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (caller, id) = (user.caller(), path.into_inner());
    let view = state.db(move |conn| escalation::show(conn, &caller, id)).await?;
    Ok(HttpResponse::Ok().json(view))
}
