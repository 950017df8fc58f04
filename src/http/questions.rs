//! /questions: list, ask, read, edit, delete, revisions, acceptance,
//! follows, and the shared vote and comment handlers of posts.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::cached::{self, Lookup};
use super::extract::{AuthUser, JsonBody, MaybeUser, VisitorId, non_null, present, user_agent};
use crate::domain::post::parse_area;
use crate::domain::{Body, CommentBody, Errors, TagName, Title};
use crate::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::community::answers;
use crate::service::community::comments;
use crate::service::community::questions::{self, ListQuery, NewQuestion, QuestionEdit, QuestionSort};
use crate::service::community::revisions;
use crate::service::community::views::PageView;
use crate::service::community::votes;
use crate::service::escalation::{AutoEscalation, Location};
use crate::service::pagination;
use crate::service::posts::PostType;

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum StatusParam {
    Unanswered,
    Answered,
    Solved,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum SortParam {
    Newest,
    Active,
    Votes,
}

#[derive(Deserialize)]
pub struct ListParams {
    category: Option<String>,
    tag: Option<String>,
    area: Option<String>,
    status: Option<StatusParam>,
    sort: Option<SortParam>,
    author: Option<i64>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The same for every caller, so served from the read cache.
pub async fn list(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    _caller: MaybeUser,
    params: web::Query<ListParams>,
) -> ApiResult<HttpResponse> {
    let slot = match cached::lookup(&state, &req, true) {
        Lookup::Hit(response) => return Ok(response),
        Lookup::Miss(slot) => slot,
    };
    let p = params.into_inner();
    let query = ListQuery {
        category: p.category,
        tag: p.tag.map(|t| t.trim().to_lowercase()),
        area: p.area.map(|a| a.trim().to_owned()),
        status: p.status.map(|s| {
            match s {
                StatusParam::Unanswered => "unanswered",
                StatusParam::Answered => "answered",
                StatusParam::Solved => "solved",
            }
            .to_owned()
        }),
        author: p.author,
        sort: p.sort.map(|s| match s {
            SortParam::Newest => QuestionSort::Newest,
            SortParam::Active => QuestionSort::Active,
            SortParam::Votes => QuestionSort::Votes,
        }),
        cursor: p.cursor,
        limit: pagination::limit(p.limit)?,
    };
    let st = state.clone();
    let page = state.read(move |conn| questions::list(conn, &st.ctx, query)).await?;
    slot.respond(&state, &page)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    title: String,
    body: String,
    category: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "non_null")]
    area: Option<String>,
    #[serde(default)]
    escalate_if_unanswered: bool,
    #[serde(default, deserialize_with = "non_null")]
    location: Option<Location>,
    #[serde(default)]
    share_email_with_council: bool,
}

impl AskRequest {
    fn parse(self) -> ApiResult<NewQuestion> {
        let mut errors = Errors::default();
        let title = errors.check("title", Title::parse(&self.title));
        let body = errors.check("body", Body::parse(&self.body));
        let tags = errors.check("tags", TagName::parse_list(&self.tags));
        let area = self.area.and_then(|a| errors.check("area", parse_area(&a)));
        if self.category.trim().is_empty() {
            errors.add("category", "is required");
        }
        let location = self.location.unwrap_or_default();
        if self.escalate_if_unanswered
            && let Err(problems) = location.check("location")
        {
            for problem in problems {
                errors.add(&problem.field, problem.message);
            }
        }
        let escalation = (self.escalate_if_unanswered || self.share_email_with_council).then_some(AutoEscalation {
            escalate_if_unanswered: self.escalate_if_unanswered,
            location,
            share_email: self.share_email_with_council,
        });
        errors.into_result()?;
        match (title, body, tags) {
            (Some(title), Some(body), Some(tags)) => {
                Ok(NewQuestion { title, body, category: self.category.trim().to_owned(), tags, area, escalation })
            }
            _ => Err(ApiError::internal("validation passed without values")),
        }
    }
}

pub async fn create(state: web::Data<AppState>, user: AuthUser, body: JsonBody<AskRequest>) -> ApiResult<HttpResponse> {
    let new = body.0.parse()?;
    let caller = user.caller();
    let st = state.clone();
    let detail = state
        .db(move |conn| {
            let id = questions::create(conn, &st.ctx, &caller, new)?;
            questions::detail(conn, Some(&caller), id)
        })
        .await?;
    Ok(HttpResponse::Created().insert_header(("Location", format!("/api/v1/questions/{}", detail.id))).json(detail))
}

/// Reading a question with `X-Visitor-Id` counts one view per visitor and
/// day.
pub async fn show(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    user: MaybeUser,
    visitor: VisitorId,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let viewer = user.caller();
    let counts_a_view = visitor.0.is_some();
    // What a signed-in caller sees depends on who they are (their votes,
    // moderators see hidden posts); a counted view must reach the counter.
    let slot = match cached::lookup(&state, &req, viewer.is_none() && !counts_a_view) {
        Lookup::Hit(response) => return Ok(response),
        Lookup::Miss(slot) => slot,
    };
    let Some(visitor) = visitor.0 else {
        let mut detail = state.read(move |conn| questions::detail(conn, viewer.as_ref(), id)).await?;
        detail.view_count += state.views.pending(id);
        return slot.respond(&state, &detail);
    };
    let now = state.ctx.clock.now();
    let agent = user_agent(&req);
    let (view, mut detail) = state
        .read(move |conn| {
            // The page first: a question this caller may not see is a 404
            // and no view.
            let detail = questions::detail(conn, viewer.as_ref(), id)?;
            let question = (id, &detail.facts());
            let view = PageView::read(conn, viewer.as_ref(), &visitor, agent.as_deref(), question, now)?;
            Ok((view, detail))
        })
        .await?;
    if state.views.add(view) {
        // The view count changed, which the cache's stamp does not see.
        cached::forget(&state, req.path());
    }
    detail.view_count += state.views.pending(id);
    slot.respond(&state, &detail)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditQuestionRequest {
    #[serde(default, deserialize_with = "non_null")]
    title: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    body: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    category: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    area: Option<Option<String>>,
    /// Moderators: hide earlier revisions' text (personal information).
    #[serde(default)]
    redact: bool,
}

impl EditQuestionRequest {
    fn parse(self) -> ApiResult<QuestionEdit> {
        let mut errors = Errors::default();
        let edit = QuestionEdit {
            title: self.title.and_then(|t| errors.check("title", Title::parse(&t))),
            body: self.body.and_then(|b| errors.check("body", Body::parse(&b))),
            category: self.category.map(|c| c.trim().to_owned()),
            tags: self.tags.and_then(|t| errors.check("tags", TagName::parse_list(&t))),
            area: match self.area {
                Some(Some(area)) => errors.check("area", parse_area(&area)).map(Some),
                Some(None) => Some(None),
                None => None,
            },
            redact: self.redact,
        };
        errors.into_result()?;
        Ok(edit)
    }
}

pub async fn edit(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<EditQuestionRequest>,
) -> ApiResult<HttpResponse> {
    let edit = body.0.parse()?;
    let id = path.into_inner();
    let caller = user.caller();
    let st = state.clone();
    let detail = state
        .db(move |conn| {
            questions::edit(conn, &st.ctx, &caller, id, edit)?;
            questions::detail(conn, Some(&caller), id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(detail))
}

pub async fn delete(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let caller = user.caller();
    let st = state.clone();
    state.db(move |conn| questions::delete(conn, &st.ctx, &caller, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct PageParams {
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list_revisions(
    state: web::Data<AppState>,
    user: MaybeUser,
    post_type: PostType,
    id: i64,
    params: PageParams,
) -> ApiResult<HttpResponse> {
    let limit = pagination::limit(params.limit)?;
    let viewer = user.caller();
    let st = state.clone();
    let page = state
        .db(move |conn| {
            revisions::list(conn, &st.ctx.cursors, viewer.as_ref(), post_type, id, params.cursor.as_deref(), limit)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn question_revisions(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<i64>,
    params: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    list_revisions(state, user, PostType::Question, path.into_inner(), params.into_inner()).await
}

pub async fn answer_revisions(
    state: web::Data<AppState>,
    user: MaybeUser,
    path: web::Path<i64>,
    params: web::Query<PageParams>,
) -> ApiResult<HttpResponse> {
    list_revisions(state, user, PostType::Answer, path.into_inner(), params.into_inner()).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    answer_id: i64,
}

pub async fn accept(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<AcceptRequest>,
) -> ApiResult<HttpResponse> {
    let (id, answer_id, caller) = (path.into_inner(), body.0.answer_id, user.caller());
    let st = state.clone();
    let acceptance = state.db(move |conn| answers::accept(conn, &st.ctx, &caller, id, answer_id)).await?;
    Ok(HttpResponse::Ok().json(acceptance))
}

pub async fn unaccept(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (id, caller) = (path.into_inner(), user.caller());
    let st = state.clone();
    let acceptance = state.db(move |conn| answers::unaccept(conn, &st.ctx, &caller, id)).await?;
    Ok(HttpResponse::Ok().json(acceptance))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteRequest {
    value: i32,
}

async fn vote(
    state: web::Data<AppState>,
    user: AuthUser,
    post_type: PostType,
    id: i64,
    value: i32,
) -> ApiResult<HttpResponse> {
    if !(-1..=1).contains(&value) {
        return Err(ApiError::validation("value", "must be 1, -1 or 0"));
    }
    let caller = user.caller();
    let st = state.clone();
    let result = state.db(move |conn| votes::cast(conn, &st.ctx, &caller, post_type, id, value)).await?;
    Ok(HttpResponse::Ok().json(result))
}

pub async fn vote_question(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<VoteRequest>,
) -> ApiResult<HttpResponse> {
    vote(state, user, PostType::Question, path.into_inner(), body.0.value).await
}

pub async fn vote_answer(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<VoteRequest>,
) -> ApiResult<HttpResponse> {
    vote(state, user, PostType::Answer, path.into_inner(), body.0.value).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    body: String,
}

async fn comment(
    state: web::Data<AppState>,
    user: AuthUser,
    post_type: PostType,
    id: i64,
    body: String,
) -> ApiResult<HttpResponse> {
    let body = CommentBody::parse(&body).map_err(|m| ApiError::validation("body", &m))?;
    let caller = user.caller();
    let st = state.clone();
    let created = state.db(move |conn| comments::create(conn, &st.ctx, &caller, post_type, id, body)).await?;
    Ok(HttpResponse::Created().json(created))
}

pub async fn comment_on_question(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<CommentRequest>,
) -> ApiResult<HttpResponse> {
    comment(state, user, PostType::Question, path.into_inner(), body.0.body).await
}

pub async fn comment_on_answer(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
    body: JsonBody<CommentRequest>,
) -> ApiResult<HttpResponse> {
    comment(state, user, PostType::Answer, path.into_inner(), body.0.body).await
}

pub async fn delete_comment(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let (id, caller) = (path.into_inner(), user.caller());
    let st = state.clone();
    state.db(move |conn| comments::delete(conn, &st.ctx, &caller, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn follow(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (id, caller, now) = (path.into_inner(), user.caller(), state.ctx.clock.now());
    state.db(move |conn| questions::follow(conn, &caller, id, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn unfollow(state: web::Data<AppState>, user: AuthUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let (id, caller) = (path.into_inner(), user.caller());
    state.db(move |conn| questions::unfollow(conn, &caller, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
