//! POST /questions/{id}/answers, PATCH/DELETE /answers/{id}.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{AuthUser, JsonBody, OptionalJsonBody, non_null};
use crate::domain::Body;
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::community::answers;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    body: String,
}

impl AnswerRequest {
    fn parse(self) -> ApiResult<Body> {
        Body::parse(&self.body).map_err(|m| ApiError::validation("body", &m))
    }
}

pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<AnswerRequest>,
) -> ApiResult<HttpResponse> {
    let (question_id, body, caller) = (path.into_inner(), body.0.parse()?, user.caller());
    let st = state.clone();
    let answer = state
        .db(move |conn| {
            let id = answers::create(conn, &st.ctx, &caller, question_id, body)?;
            answers::new_view(conn, id)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/questions/{question_id}#answer-{}", answer.id)))
        .json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditAnswerRequest {
    body: String,
    /// Moderators: hide earlier revisions' text (personal information).
    #[serde(default)]
    redact: bool,
}

pub async fn edit(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<EditAnswerRequest>,
) -> ApiResult<HttpResponse> {
    let EditAnswerRequest { body, redact } = body.0;
    let body = Body::parse(&body).map_err(|m| ApiError::validation("body", &m))?;
    let (id, caller) = (path.into_inner(), user.caller());
    let st = state.clone();
    let answer = state
        .db(move |conn| {
            answers::edit(conn, &st.ctx, &caller, id, body, redact)?;
            answers::load_view(conn, Some(&caller), id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

pub async fn delete(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (id, caller) = (path.into_inner(), user.caller());
    let st = state.clone();
    state.db(move |conn| answers::delete(conn, &st.ctx, &caller, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// YYYY-MM-DD
    #[serde(default, deserialize_with = "non_null")]
    review_by: Option<chrono::NaiveDate>,
}

/// POST /answers/{id}/verify (staff). The body is optional.
pub async fn verify(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: OptionalJsonBody<VerifyRequest>,
) -> ApiResult<HttpResponse> {
    let request = body.0;
    let (id, caller) = (path.into_inner(), user.caller());
    let st = state.clone();
    let answer = state
        .db(move |conn| {
            crate::service::reputation::verification::verify(conn, &st.ctx, &caller, id, request.review_by)?;
            answers::load_view(conn, Some(&caller), id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(answer))
}

pub async fn unverify(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (id, caller) = (path.into_inner(), user.caller());
    let st = state.clone();
    state.db(move |conn| crate::service::reputation::verification::unverify(conn, &st.ctx, &caller, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct StaleQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// GET /answers/stale (staff): verified answers past their review date.
pub async fn stale(
    state: web::Data<AppState>,
    user: AuthUser,
    query: web::Query<StaleQuery>,
) -> ApiResult<HttpResponse> {
    let StaleQuery { limit, cursor } = query.into_inner();
    let limit = crate::service::pagination::limit(limit)?;
    let (caller, now) = (user.caller(), state.ctx.clock.now());
    let st = state.clone();
    let page = state
        .db(move |conn| {
            crate::service::reputation::verification::stale(
                conn,
                &st.ctx.cursors,
                &caller,
                now,
                cursor.as_deref(),
                limit,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
