//! Mail's routes: password reset, email verification and change, the
//! notification settings and one-click unsubscribe.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{AuthUser, ClientIp, JsonBody};
use crate::domain::{Email, Errors, Password};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::accounts::email as account_email;
use crate::service::mail::preferences::{self, NotificationSettings};

/// Tokens are 43 characters; far longer is not one.
fn token_field(field: &str, token: &str) -> ApiResult<()> {
    if token.is_empty() || token.len() > 512 {
        return Err(ApiError::validation(field, "is not a token from a mail"));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    email: String,
}

/// 202 whatever the address: whether it has an account is not told.
pub async fn request_reset(
    state: web::Data<AppState>,
    ip: ClientIp,
    body: JsonBody<ResetRequest>,
) -> ApiResult<HttpResponse> {
    let email = Email::parse(&body.0.email).map_err(|message| ApiError::validation("email", &message))?;
    let st = state.clone();
    state.db(move |conn| account_email::request_reset(conn, &st.ctx, &email, &ip.0)).await?;
    wake_sender(&state);
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmResetRequest {
    token: String,
    new_password: String,
}

pub async fn confirm_reset(state: web::Data<AppState>, body: JsonBody<ConfirmResetRequest>) -> ApiResult<HttpResponse> {
    let ConfirmResetRequest { token, new_password } = body.0;
    token_field("token", &token)?;
    if new_password.chars().count() > Password::MAX_CHARS {
        return Err(ApiError::validation("new_password", "is too long"));
    }
    let st = state.clone();
    web::block(move || account_email::confirm_reset(&st.pool, &st.ctx, &token, &new_password)).await??;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    token: String,
}

pub async fn verify_email(state: web::Data<AppState>, body: JsonBody<VerifyEmailRequest>) -> ApiResult<HttpResponse> {
    let token = body.0.token;
    token_field("token", &token)?;
    let st = state.clone();
    state.db(move |conn| account_email::verify_email(conn, &st.ctx, &token)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn resend_verification(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let st = state.clone();
    state.db(move |conn| account_email::resend_verification(conn, &st.ctx, user.id)).await?;
    wake_sender(&state);
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    email: String,
    password: String,
}

pub async fn change_email(
    state: web::Data<AppState>,
    user: AuthUser,
    ip: ClientIp,
    body: JsonBody<ChangeEmailRequest>,
) -> ApiResult<HttpResponse> {
    user.require_session()?;
    let ChangeEmailRequest { email, password } = body.0;
    let mut errors = Errors::default();
    let email = errors.check("email", Email::parse(&email));
    if password.is_empty() || password.chars().count() > Password::MAX_CHARS {
        errors.add("password", format!("must be 1 to {} characters", Password::MAX_CHARS));
    }
    errors.into_result()?;
    let email = email.ok_or_else(|| ApiError::internal("validation passed without a value"))?;
    let st = state.clone();
    let me =
        web::block(move || account_email::change_email(&st.pool, &st.ctx, user.id, &ip.0, &email, &password)).await??;
    wake_sender(&state);
    Ok(HttpResponse::Ok().json(me))
}

pub async fn show_settings(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let settings = state.db(move |conn| preferences::load(conn, user.id)).await?;
    Ok(HttpResponse::Ok().json(settings))
}

pub async fn update_settings(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody<NotificationSettings>,
) -> ApiResult<HttpResponse> {
    let change = body.0;
    let st = state.clone();
    let settings = state.db(move |conn| preferences::update(conn, user.id, &change, st.ctx.now())).await?;
    Ok(HttpResponse::Ok().json(settings))
}

#[derive(Deserialize)]
pub struct UnsubscribeQuery {
    token: String,
}

/// RFC 8058 one-click: a mail client POSTs `List-Unsubscribe=One-Click` to
/// the header's URL, with no login; the signed token says who and what.
/// The body carries nothing else, so it is not read.
pub async fn unsubscribe(state: web::Data<AppState>, query: web::Query<UnsubscribeQuery>) -> ApiResult<HttpResponse> {
    let token = query.into_inner().token;
    token_field("token", &token)?;
    let st = state.clone();
    state.db(move |conn| preferences::unsubscribe(conn, &st.ctx, &token)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"unsubscribed": true})))
}

/// A mail was just queued: the sender need not wait for its next poll.
fn wake_sender(state: &web::Data<AppState>) {
    state.mail.wake();
}
