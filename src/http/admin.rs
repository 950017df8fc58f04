//! GET/PUT /admin/settings: the community's rules, for admins.

use std::sync::Arc;

use actix_web::{HttpResponse, web};

use super::extract::{AuthUser, JsonBody, parse_json};
use crate::domain::Role;
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::settings::{self, SiteSettings};

pub async fn show_settings(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let current = state.db(settings::load).await?;
    Ok(HttpResponse::Ok().json(current))
}

/// Replaces the whole document (GET it, change it, PUT it back).
pub async fn update_settings(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody<serde_json::Value>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let new = whole_document(body.0)?;
    new.validate()?;
    let now = state.ctx.clock.now();
    let st = state.clone();
    let admin_id = user.id;
    let saved = state
        .db(move |conn| {
            settings::change(conn, admin_id, &new, now)?;
            st.ctx.site.set(Arc::new(new.clone()));
            Ok(new)
        })
        .await?;
    Ok(HttpResponse::Ok().json(saved))
}

/// The PUT body must be the whole document. Stored documents from before
/// `search` existed load without it, but a PUT that leaves it out would
/// silently drop the council's synonyms, so it is required here.
fn whole_document(body: serde_json::Value) -> ApiResult<SiteSettings> {
    if body.is_object() && body.get("search").is_none() {
        return Err(ApiError::validation("search", "missing field `search`"));
    }
    let bytes = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    parse_json(&bytes)
}
