//! GET /users/{id}.

use actix_web::{HttpResponse, web};

use super::extract::MaybeUser;
use crate::error::ApiResult;
use crate::service::accounts;
use crate::state::AppState;

/// Anyone may read a profile; a token, if sent, must still be valid.
pub async fn show(state: web::Data<AppState>, _caller: MaybeUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let user_id = path.into_inner();
    let profile = state.db(move |conn| accounts::public_profile(conn, user_id)).await?;
    Ok(HttpResponse::Ok().json(profile))
}
