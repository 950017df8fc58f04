//! POST /auth/register, /auth/login, /auth/refresh, /auth/logout.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{AuthUser, ClientIp, JsonBody, non_null};
use crate::domain::{DisplayName, Email, Errors, Password, Username};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::accounts;
use crate::service::accounts::passwords;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    username: String,
    email: String,
    password: String,
    #[serde(default, deserialize_with = "non_null")]
    display_name: Option<String>,
}

impl RegisterRequest {
    fn parse(self) -> ApiResult<accounts::Registration> {
        let mut errors = Errors::default();
        let username = errors.check("username", Username::parse(&self.username));
        let email = errors.check("email", Email::parse(&self.email));
        let password = errors.check("password", Password::parse(&self.password, Some(self.username.trim())));
        // Without a display name, the username as typed ("Alice", not "alice").
        let display_name = match self.display_name {
            Some(name) => errors.check("display_name", DisplayName::parse(&name)),
            None => DisplayName::parse(&self.username).ok(),
        };
        errors.into_result()?;
        match (username, email, password) {
            (Some(username), Some(email), Some(password)) => {
                Ok(accounts::Registration { username, email, password, display_name })
            }
            _ => Err(ApiError::internal("validation passed without values")),
        }
    }
}

pub async fn register(state: web::Data<AppState>, body: JsonBody<RegisterRequest>) -> ApiResult<HttpResponse> {
    let registration = body.0.parse()?;
    let password = registration.password.clone();
    let hash = web::block(move || passwords::hash(password.expose())).await??;
    let st = state.clone();
    let session = state.db(move |conn| accounts::register(conn, &st.ctx, registration, hash)).await?;
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/v1/users/{}", session.user.id))).json(session))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    login: String,
    password: String,
}

pub async fn login(state: web::Data<AppState>, ip: ClientIp, body: JsonBody<LoginRequest>) -> ApiResult<HttpResponse> {
    let LoginRequest { login, password } = body.0;
    let mut errors = Errors::default();
    if login.trim().is_empty() || login.len() > 254 {
        errors.add("login", "must be a username or email address");
    }
    if password.is_empty() || password.chars().count() > Password::MAX_CHARS {
        errors.add("password", format!("must be 1 to {} characters", Password::MAX_CHARS));
    }
    errors.into_result()?;
    let st = state.clone();
    let session = web::block(move || accounts::login(&st.pool, &st.ctx, &login, &password, &ip.0)).await??;
    Ok(HttpResponse::Ok().json(session))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenRequest {
    refresh_token: String,
}

impl RefreshTokenRequest {
    /// Real tokens are 43 characters; anything far off is not one.
    fn token(self) -> ApiResult<String> {
        if self.refresh_token.is_empty() || self.refresh_token.len() > 512 {
            return Err(ApiError::validation("refresh_token", "is not a refresh token"));
        }
        Ok(self.refresh_token)
    }
}

pub async fn refresh(state: web::Data<AppState>, body: JsonBody<RefreshTokenRequest>) -> ApiResult<HttpResponse> {
    let token = body.0.token()?;
    let st = state.clone();
    let session = state.db(move |conn| accounts::refresh(conn, &st.ctx, &token)).await?;
    Ok(HttpResponse::Ok().json(session))
}

pub async fn logout(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody<RefreshTokenRequest>,
) -> ApiResult<HttpResponse> {
    let token = body.0.token()?;
    let st = state.clone();
    state.db(move |conn| accounts::logout(conn, &st.ctx, user.id, &token)).await?;
    Ok(HttpResponse::NoContent().finish())
}
