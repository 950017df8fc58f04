//! GET /users/{id}.

use actix_web::{HttpResponse, web};

use super::extract::MaybeUser;
use crate::error::ApiResult;
use crate::http::state::AppState;
use crate::service::accounts;
use crate::service::reputation::experts;

/// Anyone may read a profile; a token, if sent, must still be valid.
pub async fn show(state: web::Data<AppState>, _caller: MaybeUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let user_id = path.into_inner();
    let st = state.clone();
    let profile = state.read(move |conn| accounts::public_profile(conn, &st.ctx, user_id)).await?;
    Ok(HttpResponse::Ok().json(profile))
}

#[derive(serde::Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum RankingParam {
    Reputation,
    Accepted,
}

#[derive(serde::Deserialize)]
pub struct LeaderboardParams {
    sort: Option<RankingParam>,
    category: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// GET /users: the leaderboard and expert directory.
pub async fn leaderboard(
    state: web::Data<AppState>,
    _caller: MaybeUser,
    params: web::Query<LeaderboardParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let limit = crate::service::pagination::limit(p.limit)?;
    let ranking = match p.sort.unwrap_or(RankingParam::Reputation) {
        RankingParam::Reputation => experts::Ranking::Reputation,
        RankingParam::Accepted => experts::Ranking::Accepted,
    };
    let st = state.clone();
    let page = state
        .read(move |conn| {
            experts::leaderboard(conn, &st.ctx.cursors, ranking, p.category.as_deref(), p.cursor.as_deref(), limit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
