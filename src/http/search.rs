//! GET /search and GET /questions/similar.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::cached::{self, Lookup, Slot};
use super::extract::{MaybeUser, VisitorId, user_agent};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::deflection;
use crate::service::pagination;
use crate::service::search::{self, SearchQuery, SearchSort, Searcher};
use crate::service::settings::SiteSettings;

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

/// Similar questions are the same for every caller, so served from the read
/// cache. A contact form's request also carries its intent, which puts the
/// caller in an arm of the hold-out test: that part is made afresh, and
/// the suggestions beside it come from the cache all the same (keyed by
/// draft and limit), since they do not depend on the intent.
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
    let mut params = params.into_inner();
    let intent = params.intent_id.take();
    let (text, limit) = draft_and_limit(params)?;
    let Some(intent) = intent else {
        let rules = crate::http::state::current_rules(&state).await?;
        return slot.respond(&state, &suggestions(&state, rules, text, limit).await?);
    };
    if !deflection::valid_id(&intent) {
        return Err(ApiError::validation("intent_id", "must be 1-128 visible ASCII characters"));
    }
    // Looked up (and so stamped) before the settings are read, as `lookup`
    // is: the suggestions are made with their synonyms.
    let cached_page = cached::part(&state, format!("similar\0{limit}\0{text}"));
    let rules = crate::http::state::current_rules(&state).await?;
    let percent = rules.deflection.holdout_percent;
    let now = state.ctx.clock.now();
    let bucket = deflection::arm_bucket(&state.ctx, &intent);
    let assigned = intent.clone();
    let arm = state.db(move |conn| deflection::arm_for(conn, &assigned, bucket, percent, now)).await?;
    let intent_token = deflection::intents::issue(&state.ctx.cursors, &intent, arm, now);
    let assignment = serde_json::to_vec(&Assignment { arm, intent_token }).map_err(ApiError::internal)?;
    // The hold-out sees no suggestions: that is the experiment.
    if arm == "holdout" {
        let page: pagination::Page<search::SimilarQuestion> =
            pagination::Page { items: Vec::new(), next_cursor: None, has_more: false };
        let page = serde_json::to_vec(&page).map_err(ApiError::internal)?;
        return Ok(cached::json(joined_objects(&page, &assignment)));
    }
    let page = match cached_page {
        Ok(page) => page,
        Err(slot) => {
            let page = suggestions(&state, rules, text, limit).await?;
            slot.keep(&state, &page)?
        }
    };
    Ok(cached::json(joined_objects(&page, &assignment)))
}

/// The draft and how many suggestions, checked.
fn draft_and_limit(p: SimilarParams) -> ApiResult<(String, usize)> {
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
    Ok((text, limit))
}

/// The questions most like the draft (the search runs on a blocking
/// thread).
async fn suggestions(
    state: &web::Data<AppState>,
    rules: Arc<SiteSettings>,
    text: String,
    limit: usize,
) -> ApiResult<pagination::Page<search::SimilarQuestion>> {
    let st = state.clone();
    web::block(move || search::similar(&st.search, &rules, &text, limit)).await?
}

/// A contact form's arm and the server's signature on it, added to the
/// suggestions' page.
#[derive(Serialize)]
struct Assignment {
    arm: &'static str,
    intent_token: String,
}

/// `{a…}` and `{b…}` as one object `{a…, b…}`: both are serde_json's
/// objects, so each starts with `{` and ends with `}`.
fn joined_objects(a: &[u8], b: &[u8]) -> Vec<u8> {
    debug_assert!(a.starts_with(b"{") && a.ends_with(b"}") && b.starts_with(b"{") && b.ends_with(b"}"));
    let mut out = Vec::with_capacity(a.len() + b.len());
    out.extend_from_slice(&a[..a.len() - 1]);
    if a.len() > 2 && b.len() > 2 {
        out.push(b',');
    }
    out.extend_from_slice(&b[1..]);
    out
}
