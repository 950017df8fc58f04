//! The personal-data rights: GET /me/export, DELETE /me and
//! POST /admin/users/{id}/erase.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{AuthUser, ClientIp, JsonBody, OptionalJsonBody, non_null};
use crate::domain::Role;
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::accounts::{self, personal_data};
use crate::service::moderation::erasure::{self, ErasedBy};

/// Everything held about the caller, as a download.
pub async fn export(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    user.require_session()?;
    let st = state.clone();
    let export = state.db(move |conn| personal_data::export(conn, &st.ctx, user.id)).await?;
    let filename = format!("agora-personal-data-{}.json", export.exported_at.format("%Y%m%d"));
    Ok(HttpResponse::Ok()
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{filename}\"")))
        .insert_header(("Cache-Control", "no-store"))
        .json(export))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseMeRequest {
    password: String,
    #[serde(default, deserialize_with = "non_null")]
    delete_content: Option<bool>,
}

/// Erases the caller's own account after checking their password (throttled
/// like a login).
pub async fn erase_me(
    state: web::Data<AppState>,
    user: AuthUser,
    ip: ClientIp,
    body: JsonBody<EraseMeRequest>,
) -> ApiResult<HttpResponse> {
    user.require_session()?;
    let EraseMeRequest { password, delete_content } = body.0;
    if password.chars().count() > crate::domain::Password::MAX_CHARS {
        return Err(ApiError::validation("password", "is too long"));
    }
    let st = state.clone();
    web::block(move || -> ApiResult<()> {
        accounts::confirm_password(&st.pool, &st.ctx, user.id, &ip.0, &password)?;
        let mut conn = st.pool.get()?;
        erasure::erase(&mut conn, &st.ctx, user.id, ErasedBy::Themselves, delete_content.unwrap_or(false))
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    #[serde(default, deserialize_with = "non_null")]
    delete_content: Option<bool>,
}

/// Erases another account on the council's behalf (admins), audited.
pub async fn erase_user(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: OptionalJsonBody<EraseRequest>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let (caller, st, id) = (user.caller(), state.clone(), path.into_inner());
    let delete_content = body.0.delete_content.unwrap_or(false);
    state.db(move |conn| erasure::erase(conn, &st.ctx, id, ErasedBy::Admin(&caller), delete_content)).await?;
    Ok(HttpResponse::NoContent().finish())
}
