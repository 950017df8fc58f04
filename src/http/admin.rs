//! GET/PUT /admin/settings: the community's rules, for admins.

use std::sync::Arc;

use actix_web::{HttpResponse, web};

use super::extract::{AuthUser, JsonBody};
use crate::domain::Role;
use crate::error::ApiResult;
use crate::service::settings::{self, SiteSettings};
use crate::state::AppState;

pub async fn show_settings(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let current = state.db(settings::load).await?;
    Ok(HttpResponse::Ok().json(current))
}

/// Replaces the whole document (GET it, change it, PUT it back).
pub async fn update_settings(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody<SiteSettings>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let new = body.0;
    new.validate()?;
    let now = state.clock.now();
    let st = state.clone();
    let admin_id = user.id;
    let saved = state
        .db(move |conn| {
            settings::change(conn, admin_id, &new, now)?;
            st.site.set(Arc::new(new.clone()));
            Ok(new)
        })
        .await?;
    Ok(HttpResponse::Ok().json(saved))
}
