//! Operations endpoints: liveness, readiness and the API description.

use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The spec, compiled in so the served document always matches the build.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers (and, once it exists, the index is usable).
pub async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let probe = state
        .db(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
        .await;
    if probe.is_err() {
        return Err(ApiError::Unavailable("the database is not reachable".to_owned()));
    }
    if !state.search.is_ready() {
        return Err(ApiError::Unavailable("the search index is being built".to_owned()));
    }
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "database": "ok", "index": "ok"})))
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/yaml; charset=utf-8").body(OPENAPI_YAML)
}
