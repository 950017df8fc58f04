//! /me/api-keys and /admin/api-keys: long-lived keys for BI tools and
//! scripts (`service::accounts::api_keys`).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::extract::{AuthUser, JsonBody, non_null};
use crate::domain::{Errors, Role, bounded_text};
use crate::error::ApiResult;
use crate::http::state::AppState;
use crate::service::accounts::api_keys::{self, NewKey, Scope};
use crate::service::pagination;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    name: String,
    scopes: Vec<String>,
    #[serde(default, deserialize_with = "non_null")]
    expires_at: Option<DateTime<Utc>>,
}

impl CreateKeyRequest {
    fn parse(self) -> ApiResult<NewKey> {
        let mut errors = Errors::default();
        let name = errors.check("name", bounded_text(&self.name, 1, 80, false));
        let mut scopes = Vec::new();
        if self.scopes.is_empty() || self.scopes.len() > Scope::ALL.len() {
            errors.add("scopes", format!("must name 1 to {} scopes", Scope::ALL.len()));
        }
        for (i, name) in self.scopes.iter().enumerate() {
            match Scope::parse(name) {
                Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
                Some(_) => errors.add(&format!("scopes[{i}]"), "is repeated"),
                None => errors
                    .add(&format!("scopes[{i}]"), "must be one of read, write, deflection:read, moderation, admin"),
            }
        }
        errors.into_result()?;
        scopes.sort();
        Ok(NewKey { name: name.unwrap_or_default(), scopes, expires_at: self.expires_at })
    }
}

/// A key is shown once, here; keys cannot create keys.
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody<CreateKeyRequest>,
) -> ApiResult<HttpResponse> {
    user.require_session()?;
    let new = body.0.parse()?;
    let (caller, st) = (user.caller(), state.clone());
    let created = state.db(move |conn| api_keys::create(conn, &st.ctx, &caller, new)).await?;
    Ok(HttpResponse::Created().insert_header(("Cache-Control", "no-store")).json(created))
}

pub async fn list_own(state: web::Data<AppState>, user: AuthUser) -> ApiResult<HttpResponse> {
    let items = state.db(move |conn| api_keys::list_own(conn, user.id)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

pub async fn revoke_own(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    user.require_session()?;
    let (caller, st, id) = (user.caller(), state.clone(), path.into_inner());
    state.db(move |conn| api_keys::revoke(conn, &st.ctx, &caller, id, false)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// Every key of every user, newest first (admins).
pub async fn list_all(
    state: web::Data<AppState>,
    user: AuthUser,
    params: web::Query<ListParams>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let params = params.into_inner();
    let limit = pagination::limit(params.limit)?;
    let st = state.clone();
    let page = state.db(move |conn| api_keys::list_all(conn, &st.ctx, params.cursor.as_deref(), limit)).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Revokes anyone's key (admins), audited.
pub async fn revoke_any(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let (caller, st, id) = (user.caller(), state.clone(), path.into_inner());
    state.db(move |conn| api_keys::revoke(conn, &st.ctx, &caller, id, true)).await?;
    Ok(HttpResponse::NoContent().finish())
}
