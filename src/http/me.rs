//! GET/PATCH /me and POST /me/password.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{AuthUser, ClientIp, JsonBody, non_null, present};
use crate::domain::{DisplayName, Errors, bounded_text};
use crate::error::ApiResult;
use crate::http::state::AppState;
use crate::service::accounts;
use crate::service::accounts::ProfileUpdateForm;

pub async fn show(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let st = state.clone();
    let me = state.db(move |conn| accounts::me(conn, &st.ctx, user.id)).await?;
    Ok(HttpResponse::Ok().json(me))
}

/// Absent fields stay as they are; `area: null` clears the area.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    #[serde(default, deserialize_with = "non_null")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    bio: Option<String>,
    #[serde(default, deserialize_with = "present")]
    area: Option<Option<String>>,
    /// Hear about new questions in the categories one is an expert in.
    #[serde(default, deserialize_with = "non_null")]
    expert_notifications: Option<bool>,
}

impl UpdateMeRequest {
    fn parse(self) -> ApiResult<ProfileUpdateForm> {
        let mut errors = Errors::default();
        let display_name = self
            .display_name
            .and_then(|name| errors.check("display_name", DisplayName::parse(&name)))
            .map(DisplayName::into_inner);
        let bio = self.bio.and_then(|bio| errors.check("bio", bounded_text(&bio, 0, 1000, true)));
        let area = match self.area {
            Some(Some(area)) => errors.check("area", bounded_text(&area, 1, 80, false)).map(Some),
            Some(None) => Some(None),
            None => None,
        };
        errors.into_result()?;
        Ok(ProfileUpdateForm {
            display_name,
            bio,
            area,
            expert_notifications: self.expert_notifications,
            updated_at: None,
        })
    }
}

pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody<UpdateMeRequest>,
) -> ApiResult<HttpResponse> {
    let form = body.0.parse()?;
    let st = state.clone();
    let me = state.db(move |conn| accounts::update_me(conn, &st.ctx, user.id, form)).await?;
    Ok(HttpResponse::Ok().json(me))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    state: web::Data<AppState>,
    user: AuthUser,
    ip: ClientIp,
    body: JsonBody<ChangePasswordRequest>,
) -> ApiResult<HttpResponse> {
    user.require_session()?;
    let ChangePasswordRequest { current_password, new_password } = body.0;
    if current_password.chars().count() > crate::domain::Password::MAX_CHARS {
        return Err(crate::error::ApiError::validation("current_password", "is too long"));
    }
    let st = state.clone();
    web::block(move || {
        accounts::change_password(&st.pool, &st.ctx, user.id, &user.session_id, &ip.0, &current_password, &new_password)
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}
