//! GET /search and GET /questions/similar.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::MaybeUser;
use crate::error::{ApiError, ApiResult};
use crate::service::pagination;
use crate::service::search::{self, SearchQuery, SearchSort};
use crate::state::AppState;

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum StatusParam {
    Unanswered,
    Answered,
    Solved,
}

#[derive(Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    category: Option<String>,
    tag: Option<String>,
    area: Option<String>,
    status: Option<StatusParam>,
    #[serde(default)]
    sort: SearchSort,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub async fn search(
    state: web::Data<AppState>,
    _caller: MaybeUser,
    params: web::Query<SearchParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let query = SearchQuery {
        q: p.q,
        category: p.category,
        tag: p.tag.map(|t| t.trim().to_lowercase()),
        area: p.area,
        status: p.status.map(|s| {
            match s {
                StatusParam::Unanswered => "unanswered",
                StatusParam::Answered => "answered",
                StatusParam::Solved => "solved",
            }
            .to_owned()
        }),
        sort: p.sort,
        cursor: p.cursor,
        limit: pagination::limit(p.limit)? as usize,
    };
    let rules = crate::state::current_rules(&state).await?;
    let st = state.clone();
    let page = web::block(move || search::search(&st.search, &st.cursors, &rules, query)).await??;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize)]
pub struct SimilarParams {
    text: Option<String>,
    limit: Option<i64>,
}

pub async fn similar(
    state: web::Data<AppState>,
    _caller: MaybeUser,
    params: web::Query<SimilarParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let text = p.text.unwrap_or_default();
    if text.trim().is_empty() {
        return Err(ApiError::validation("text", "is required"));
    }
    if text.chars().count() > search::MAX_DRAFT_CHARS {
        return Err(ApiError::validation("text", &format!("must be at most {} characters", search::MAX_DRAFT_CHARS)));
    }
    let limit = match p.limit {
        None => 5,
        Some(n) if (1..=20).contains(&n) => n as usize,
        Some(_) => return Err(ApiError::validation("limit", "must be between 1 and 20")),
    };
    let st = state.clone();
    let page = web::block(move || search::similar(&st.search, &text, limit)).await??;
    Ok(HttpResponse::Ok().json(page))
}
