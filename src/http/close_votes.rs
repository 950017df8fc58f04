//! /questions/{id}/close-votes: where a question stands, and the caller's
//! own vote to close it (cast or changed with PUT, taken back with DELETE).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{AuthUser, JsonBody, MaybeUser, non_null};
use super::state::AppState;
use crate::error::ApiResult;
use crate::service::moderation::close_votes::{self, CloseReason, CloseVoteRequest};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseVoteBody {
    reason: ReasonParam,
    #[serde(default, deserialize_with = "non_null")]
    duplicate_of: Option<i64>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ReasonParam {
    Duplicate,
    OffTopic,
    Unclear,
    CaseSpecific,
}

impl From<ReasonParam> for CloseReason {
    fn from(reason: ReasonParam) -> CloseReason {
        match reason {
            ReasonParam::Duplicate => CloseReason::Duplicate,
            ReasonParam::OffTopic => CloseReason::OffTopic,
            ReasonParam::Unclear => CloseReason::Unclear,
            ReasonParam::CaseSpecific => CloseReason::CaseSpecific,
        }
    }
}

pub async fn show(state: web::Data<AppState>, user: MaybeUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (id, viewer) = (path.into_inner(), user.caller());
    let st = state.clone();
    let summary = state.db(move |conn| close_votes::summary(conn, &st.ctx, viewer.as_ref(), id)).await?;
    Ok(HttpResponse::Ok().json(summary))
}

pub async fn cast(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<CloseVoteBody>,
) -> ApiResult<HttpResponse> {
    let (id, caller) = (path.into_inner(), user.caller());
    let request = CloseVoteRequest { reason: body.0.reason.into(), duplicate_of: body.0.duplicate_of };
    let st = state.clone();
    let summary = state.db(move |conn| close_votes::cast(conn, &st.ctx, &caller, id, request)).await?;
    Ok(HttpResponse::Ok().json(summary))
}

pub async fn retract(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (id, caller) = (path.into_inner(), user.caller());
    let st = state.clone();
    let summary = state.db(move |conn| close_votes::retract(conn, &st.ctx, &caller, id)).await?;
    Ok(HttpResponse::Ok().json(summary))
}
