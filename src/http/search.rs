//! GET /search and GET /questions/similar.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::cached::{self, Lookup, Slot};
use super::extract::{MaybeUser, VisitorId, user_agent};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::deflection;
use crate::service::pagination;
use crate::service::search::{self, SearchQuery, SearchSort, Searcher};

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

/// The same for every caller, so served from the read cache (searches
/// that are content gaps excepted: each is logged, for who made it).
pub async fn search(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: MaybeUser,
    visitor: VisitorId,
    params: web::Query<SearchParams>,
) -> ApiResult<HttpResponse> {
    let slot = match cached::lookup(&state, &req, true) {
        Lookup::Hit(response) => return Ok(response),
        Lookup::Miss(slot) => slot,
    };
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
        searcher: Searcher { visitor_id: visitor.0, caller: caller.caller(), user_agent: user_agent(&req) },
    };
    let rules = crate::http::state::current_rules(&state).await?;
    let st = state.clone();
    let searched = web::block(move || search::search(&st.search, &st.ctx.cursors, &rules, query)).await??;
    // A search the gap report counts must reach the service every time.
    let slot = if searched.gap_noted { Slot::bypass() } else { slot };
    slot.respond(&state, &searched.page)
}

#[derive(Deserialize)]
pub struct SimilarParams {
    text: Option<String>,
    limit: Option<i64>,
    /// A contact form's intent: puts it in an arm of the hold-out test.
    intent_id: Option<String>,
}

/// Similar questions, and the hold-out arm when an intent was given.
#[derive(Serialize)]
struct SimilarResponse {
    #[serde(flatten)]
    page: pagination::Page<search::SimilarQuestion>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arm: Option<&'static str>,
    /// The server's signature on the intent and its arm, for the contact
    /// form's events (`deflection::intents`).
    #[serde(skip_serializing_if = "Option::is_none")]
    intent_token: Option<String>,
}

/// The same for every caller, so served from the read cache unless an
/// intent puts the caller in an arm of the hold-out test.
pub async fn similar(
    state: web::Data<AppState>,
    req: HttpRequest,
    _caller: MaybeUser,
    params: web::Query<SimilarParams>,
) -> ApiResult<HttpResponse> {
    let slot = match cached::lookup(&state, &req, params.intent_id.is_none()) {
        Lookup::Hit(response) => return Ok(response),
        Lookup::Miss(slot) => slot,
    };
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
    let rules = crate::http::state::current_rules(&state).await?;
    let (arm, intent_token) = match p.intent_id {
        None => (None, None),
        Some(intent) if deflection::valid_id(&intent) => {
            let percent = rules.deflection.holdout_percent;
            let now = state.ctx.clock.now();
            let bucket = deflection::arm_bucket(&state.ctx, &intent);
            let assigned = intent.clone();
            let arm = state.db(move |conn| deflection::arm_for(conn, &assigned, bucket, percent, now)).await?;
            (Some(arm), Some(deflection::intents::issue(&state.ctx.cursors, &intent, arm, now)))
        }
        Some(_) => return Err(ApiError::validation("intent_id", "must be 1-128 visible ASCII characters")),
    };
    // The hold-out sees no suggestions: that is the experiment.
    let page = if arm == Some("holdout") {
        pagination::Page { items: Vec::new(), next_cursor: None, has_more: false }
    } else {
        let st = state.clone();
        web::block(move || search::similar(&st.search, &rules, &text, limit)).await??
    };
    slot.respond(&state, &SimilarResponse { page, arm, intent_token })
}
