//! GET/POST /categories, PATCH /categories/{slug}, GET /tags.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::{AuthUser, JsonBody, MaybeUser, non_null};
use crate::domain::post::parse_slug;
use crate::domain::{Errors, Role, bounded_text};
use crate::error::ApiResult;
use crate::http::state::AppState;
use crate::service::community::categories::{self, CategoryUpdateForm, NewCategory};
use crate::service::pagination;

pub async fn list(state: web::Data<AppState>, _caller: MaybeUser) -> ApiResult<HttpResponse> {
    let page = state.read(categories::list).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCategoryRequest {
    slug: String,
    name: String,
    #[serde(default)]
    description: String,
}

impl CreateCategoryRequest {
    fn parse(self) -> ApiResult<NewCategory> {
        let mut errors = Errors::default();
        let slug = errors.check("slug", parse_slug(&self.slug));
        let name = errors.check("name", bounded_text(&self.name, 2, 80, false));
        let description = errors.check("description", bounded_text(&self.description, 0, 500, true));
        errors.into_result()?;
        Ok(NewCategory {
            slug: slug.unwrap_or_default(),
            name: name.unwrap_or_default(),
            description: description.unwrap_or_default(),
        })
    }
}

pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: JsonBody<CreateCategoryRequest>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let new = body.0.parse()?;
    let now = state.ctx.clock.now();
    let category = state.db(move |conn| categories::create(conn, user.id, new, now)).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/categories/{}", category.slug)))
        .json(category))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateCategoryRequest {
    #[serde(default, deserialize_with = "non_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "non_null")]
    description: Option<String>,
}

pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: JsonBody<UpdateCategoryRequest>,
) -> ApiResult<HttpResponse> {
    user.require_role(Role::Admin)?;
    let mut errors = Errors::default();
    let form = CategoryUpdateForm {
        name: body.0.name.and_then(|n| errors.check("name", bounded_text(&n, 2, 80, false))),
        description: body.0.description.and_then(|d| errors.check("description", bounded_text(&d, 0, 500, true))),
    };
    errors.into_result()?;
    let (slug, now) = (path.into_inner(), state.ctx.clock.now());
    let category = state.db(move |conn| categories::update(conn, user.id, &slug, form, now)).await?;
    Ok(HttpResponse::Ok().json(category))
}

#[derive(Deserialize)]
pub struct TagsQuery {
    prefix: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub async fn tags(
    state: web::Data<AppState>,
    _caller: MaybeUser,
    query: web::Query<TagsQuery>,
) -> ApiResult<HttpResponse> {
    let TagsQuery { prefix, limit, cursor } = query.into_inner();
    let limit = pagination::limit(limit)?;
    let st = state.clone();
    let page = state
        .read(move |conn| categories::list_tags(conn, &st.ctx.cursors, prefix.as_deref(), cursor.as_deref(), limit))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize)]
pub struct ExpertsQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

/// GET /categories/{slug}/experts.
pub async fn experts(
    state: web::Data<AppState>,
    _caller: MaybeUser,
    path: web::Path<String>,
    query: web::Query<ExpertsQuery>,
) -> ApiResult<HttpResponse> {
    let ExpertsQuery { limit, cursor } = query.into_inner();
    let limit = pagination::limit(limit)?;
    let slug = path.into_inner();
    let st = state.clone();
    let page = state
        .read(move |conn| {
            let rules = st.ctx.rules(conn)?;
            crate::service::reputation::experts::list(
                conn,
                &st.ctx.cursors,
                &rules.experts,
                &slug,
                cursor.as_deref(),
                limit,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
