//! POST /events and the deflection reports.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::extract::{AuthUser, ClientIp, JsonBody, MaybeUser, user_agent};
use crate::error::ApiResult;
use crate::http::state::AppState;
use crate::service::deflection::reports::{self, Filters, Granularity};
use crate::service::deflection::{self, EventBatch, Sender};

pub async fn ingest(
    state: web::Data<AppState>,
    req: HttpRequest,
    user: MaybeUser,
    ip: ClientIp,
    body: JsonBody<EventBatch>,
) -> ApiResult<HttpResponse> {
    let caller = user.caller();
    let agent = user_agent(&req);
    let st = state.clone();
    let result = state
        .db(move |conn| {
            let sender = Sender { caller: caller.as_ref(), user_agent: agent.as_deref(), address: Some(&ip.0) };
            deflection::ingest(conn, &st.ctx, &sender, body.0)
        })
        .await?;
    state.metrics.record_events(result.accepted, result.duplicates);
    Ok(HttpResponse::Accepted().json(result))
}

/// ?from=&to=&category=&area= (every report).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodParams {
    from: Option<String>,
    to: Option<String>,
    category: Option<String>,
    area: Option<String>,
}

/// The period, and `granularity` (time series and export).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesParams {
    from: Option<String>,
    to: Option<String>,
    category: Option<String>,
    area: Option<String>,
    granularity: Option<Granularity>,
}

/// The period, and `limit` (top lists).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopParams {
    from: Option<String>,
    to: Option<String>,
    category: Option<String>,
    area: Option<String>,
    limit: Option<i64>,
}

macro_rules! filters {
    ($params:expr) => {
        Filters {
            from: $params.from.clone(),
            to: $params.to.clone(),
            category: $params.category.clone(),
            area: $params.area.clone(),
        }
    };
}

/// Checks the role and the filters, then runs a report on the pool.
async fn report<T, F>(state: web::Data<AppState>, user: AuthUser, filters: Filters, run: F) -> ApiResult<T>
where
    F: FnOnce(&mut crate::store::DbConn, reports::Context) -> ApiResult<T> + Send + 'static,
    T: Send + 'static,
{
    reports::require_analyst(&user.caller())?;
    let rules = crate::http::state::current_rules(&state).await?;
    let now = state.ctx.clock.now();
    state
        .db(move |conn| {
            let ctx = reports::context(conn, &filters, rules.deflection.clone(), now)?;
            run(conn, ctx)
        })
        .await
}

pub async fn summary(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<PeriodParams>,
) -> ApiResult<HttpResponse> {
    let body = report(state, user, filters!(params), reports::summary).await?;
    Ok(HttpResponse::Ok().json(body))
}

pub async fn timeseries(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<SeriesParams>,
) -> ApiResult<HttpResponse> {
    let granularity = params.granularity.unwrap_or_default();
    let body =
        report(state, user, filters!(params), move |conn, ctx| reports::timeseries(conn, ctx, granularity)).await?;
    Ok(HttpResponse::Ok().json(body))
}

pub async fn questions(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<TopParams>,
) -> ApiResult<HttpResponse> {
    let limit = crate::service::pagination::limit(params.limit)?;
    let body = report(state, user, filters!(params), move |conn, ctx| reports::questions(conn, ctx, limit)).await?;
    Ok(HttpResponse::Ok().json(body))
}

pub async fn gaps(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<TopParams>,
) -> ApiResult<HttpResponse> {
    let limit = crate::service::pagination::limit(params.limit)?;
    let body = report(state, user, filters!(params), move |conn, ctx| reports::gaps(conn, ctx, limit)).await?;
    Ok(HttpResponse::Ok().json(body))
}

pub async fn experiment(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<PeriodParams>,
) -> ApiResult<HttpResponse> {
    let body = report(state, user, filters!(params), reports::experiment).await?;
    Ok(HttpResponse::Ok().json(body))
}

pub async fn export_csv(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<SeriesParams>,
) -> ApiResult<HttpResponse> {
    let granularity = params.granularity.unwrap_or_default();
    let csv =
        report(state, user, filters!(params), move |conn, ctx| reports::export_csv(conn, ctx, granularity)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", "attachment; filename=\"deflection.csv\""))
        .body(csv))
}
