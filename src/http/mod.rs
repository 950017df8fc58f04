//! HTTP: thin handlers that extract, authorise, call a service and map the
//! result. Every route is listed once in `route_table`, which both
//! registers it and lets the spec test compare it with `openapi.yaml`.

pub mod admin;
pub mod answers;
pub mod api_keys;
pub mod auth;
pub mod cached;
pub mod categories;
pub mod close_votes;
pub mod deflection;
pub mod escalation;
pub mod extract;
pub mod mail;
pub mod me;
pub mod middleware;
pub mod moderation;
pub mod notifications;
pub mod ops;
pub mod pages;
pub mod personal_data;
pub mod problem;
pub mod questions;
pub mod ratelimit;
pub mod read_cache;
pub mod search;
pub mod state;
pub mod users;
pub mod webhooks;

use std::collections::BTreeMap;

use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, Route, web};

use crate::error::{ApiError, ErrorCode};
use problem::Problem;

/// One served route: its method, its path template (OpenAPI syntax) and
/// the actix route that handles it.
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    route: Route,
}

fn route<F, Args>(method: Method, path: &'static str, handler: F) -> ApiRoute
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    ApiRoute { method: method.clone(), path, route: web::method(method).to(handler) }
}

fn get<F, Args>(path: &'static str, handler: F) -> ApiRoute
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    route(Method::GET, path, handler)
}

fn post<F, Args>(path: &'static str, handler: F) -> ApiRoute
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    route(Method::POST, path, handler)
}

fn put<F, Args>(path: &'static str, handler: F) -> ApiRoute
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    route(Method::PUT, path, handler)
}

fn delete<F, Args>(path: &'static str, handler: F) -> ApiRoute
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    route(Method::DELETE, path, handler)
}

fn patch<F, Args>(path: &'static str, handler: F) -> ApiRoute
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    route(Method::PATCH, path, handler)
}

/// Every route the server serves.
pub fn route_table() -> Vec<ApiRoute> {
    vec![
        get("/healthz", ops::healthz),
        get("/readyz", ops::readyz),
        get("/metrics", ops::metrics),
        get("/openapi.yaml", ops::openapi),
        get("/", pages::landing),
        get("/docs", pages::docs),
        get("/dashboard", pages::dashboard),
        get("/account/{page}", pages::account),
        get("/widget.js", pages::widget_js),
        get("/widget.css", pages::widget_css),
        get("/widget/demo", pages::widget_demo),
        get("/questions/{id}", pages::question),
        get("/assets/{name}", pages::asset),
        post("/api/v1/auth/register", auth::register),
        post("/api/v1/auth/login", auth::login),
        post("/api/v1/auth/refresh", auth::refresh),
        post("/api/v1/auth/logout", auth::logout),
        post("/api/v1/auth/password-reset", mail::request_reset),
        post("/api/v1/auth/password-reset/confirm", mail::confirm_reset),
        post("/api/v1/auth/verify-email", mail::verify_email),
        post("/api/v1/unsubscribe", mail::unsubscribe),
        get("/api/v1/me", me::show),
        patch("/api/v1/me", me::update),
        post("/api/v1/me/password", me::change_password),
        delete("/api/v1/me", personal_data::erase_me),
        get("/api/v1/me/export", personal_data::export),
        post("/api/v1/me/api-keys", api_keys::create),
        get("/api/v1/me/api-keys", api_keys::list_own),
        delete("/api/v1/me/api-keys/{id}", api_keys::revoke_own),
        get("/api/v1/admin/api-keys", api_keys::list_all),
        delete("/api/v1/admin/api-keys/{id}", api_keys::revoke_any),
        post("/api/v1/admin/users/{id}/erase", personal_data::erase_user),
        get("/api/v1/admin/open311/services", escalation::show_services),
        put("/api/v1/admin/open311/services", escalation::set_mapping),
        post("/api/v1/questions/{id}/escalate", escalation::escalate),
        get("/api/v1/questions/{id}/escalation", escalation::show),
        post("/api/v1/admin/webhooks", webhooks::create),
        get("/api/v1/admin/webhooks", webhooks::list),
        get("/api/v1/admin/webhooks/{id}", webhooks::show),
        patch("/api/v1/admin/webhooks/{id}", webhooks::update),
        delete("/api/v1/admin/webhooks/{id}", webhooks::delete),
        post("/api/v1/admin/webhooks/{id}/rotate-secret", webhooks::rotate_secret),
        post("/api/v1/admin/webhooks/{id}/test", webhooks::ping),
        get("/api/v1/admin/webhooks/{id}/deliveries", webhooks::deliveries),
        get("/api/v1/admin/webhooks/{id}/deliveries/{delivery_id}", webhooks::delivery),
        post("/api/v1/admin/webhooks/{id}/deliveries/{delivery_id}/redeliver", webhooks::redeliver),
        put("/api/v1/me/email", mail::change_email),
        post("/api/v1/me/verify-email/resend", mail::resend_verification),
        get("/api/v1/me/notification-settings", mail::show_settings),
        put("/api/v1/me/notification-settings", mail::update_settings),
        get("/api/v1/users", users::leaderboard),
        get("/api/v1/users/{id}", users::show),
        get("/api/v1/admin/settings", admin::show_settings),
        put("/api/v1/admin/settings", admin::update_settings),
        get("/api/v1/categories/{slug}/experts", categories::experts),
        post("/api/v1/answers/{id}/verify", answers::verify),
        delete("/api/v1/answers/{id}/verify", answers::unverify),
        get("/api/v1/answers/stale", answers::stale),
        get("/api/v1/me/notifications", notifications::list),
        post("/api/v1/me/notifications/read", notifications::mark_read),
        get("/api/v1/categories", categories::list),
        post("/api/v1/categories", categories::create),
        patch("/api/v1/categories/{slug}", categories::update),
        get("/api/v1/tags", categories::tags),
        post("/api/v1/flags", moderation::flag),
        get("/api/v1/mod/flags", moderation::queue),
        post("/api/v1/mod/flags/{id}/resolve", moderation::resolve),
        post("/api/v1/mod/questions/{id}/close", moderation::close),
        post("/api/v1/mod/questions/{id}/reopen", moderation::reopen),
        post("/api/v1/mod/questions/{id}/lock", moderation::lock),
        post("/api/v1/mod/questions/{id}/unlock", moderation::unlock),
        post("/api/v1/mod/questions/{id}/merge", moderation::merge),
        post("/api/v1/mod/posts/{type}/{id}/hide", moderation::hide),
        post("/api/v1/mod/posts/{type}/{id}/unhide", moderation::unhide),
        post("/api/v1/mod/users/{id}/suspend", moderation::suspend),
        post("/api/v1/mod/users/{id}/unsuspend", moderation::unsuspend),
        put("/api/v1/admin/users/{id}/roles", moderation::set_roles),
        get("/api/v1/mod/audit-log", moderation::audit_log),
        get("/api/v1/mod/audit-log.csv", moderation::audit_log_csv),
        post("/api/v1/events", deflection::ingest),
        get("/api/v1/deflection/summary", deflection::summary),
        get("/api/v1/deflection/timeseries", deflection::timeseries),
        get("/api/v1/deflection/questions", deflection::questions),
        get("/api/v1/deflection/gaps", deflection::gaps),
        get("/api/v1/deflection/experiment", deflection::experiment),
        get("/api/v1/deflection/export.csv", deflection::export_csv),
        get("/api/v1/search", search::search),
        get("/api/v1/questions/similar", search::similar),
        get("/api/v1/questions", questions::list),
        post("/api/v1/questions", questions::create),
        get("/api/v1/questions/{id}", questions::show),
        patch("/api/v1/questions/{id}", questions::edit),
        delete("/api/v1/questions/{id}", questions::delete),
        get("/api/v1/questions/{id}/revisions", questions::question_revisions),
        post("/api/v1/questions/{id}/answers", answers::create),
        post("/api/v1/questions/{id}/accept", questions::accept),
        delete("/api/v1/questions/{id}/accept", questions::unaccept),
        put("/api/v1/questions/{id}/vote", questions::vote_question),
        get("/api/v1/questions/{id}/close-votes", close_votes::show),
        put("/api/v1/questions/{id}/close-votes", close_votes::cast),
        delete("/api/v1/questions/{id}/close-votes", close_votes::retract),
        post("/api/v1/questions/{id}/comments", questions::comment_on_question),
        post("/api/v1/questions/{id}/follow", questions::follow),
        delete("/api/v1/questions/{id}/follow", questions::unfollow),
        patch("/api/v1/answers/{id}", answers::edit),
        delete("/api/v1/answers/{id}", answers::delete),
        get("/api/v1/answers/{id}/revisions", questions::answer_revisions),
        put("/api/v1/answers/{id}/vote", questions::vote_answer),
        post("/api/v1/answers/{id}/comments", questions::comment_on_answer),
        delete("/api/v1/comments/{id}", questions::delete_comment),
    ]
}

/// (method, path) of every route, for the spec test.
pub fn served_routes() -> Vec<(String, String)> {
    route_table().into_iter().map(|r| (r.method.to_string(), r.path.to_owned())).collect()
}

/// Registers every route, grouped by path so that a wrong method on a known
/// path is a 405 problem listing the allowed ones.
///
/// The API's paths are also grouped into one scope per resource
/// (`/api/v1/questions`, `/api/v1/mod`, …): actix tries a scope's
/// resources one after another, matching each path template with a regex,
/// and with every route in one list a request for a question ran some
/// twenty regexes before it found its own.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut scopes: BTreeMap<&'static str, BTreeMap<&'static str, Vec<ApiRoute>>> = BTreeMap::new();
    for api_route in route_table() {
        let (scope, path) = split_scope(api_route.path);
        scopes.entry(scope).or_default().entry(path).or_default().push(api_route);
    }
    for (prefix, paths) in scopes {
        if prefix.is_empty() {
            for (path, routes) in paths {
                cfg.service(resource(path, routes));
            }
        } else {
            let mut scope = web::scope(prefix);
            for (path, routes) in paths {
                scope = scope.service(resource(path, routes));
            }
            cfg.service(scope);
        }
    }
}

/// ("/api/v1/questions", "/{id}/answers") for "/api/v1/questions/{id}/answers";
/// ("", path) for the paths outside the API (/healthz and friends).
fn split_scope(path: &'static str) -> (&'static str, &'static str) {
    const API: &str = "/api/v1/";
    let Some(rest) = path.strip_prefix(API) else {
        return ("", path);
    };
    let end = API.len() + rest.find('/').unwrap_or(rest.len());
    (&path[..end], &path[end..])
}

/// One path's routes, with a 405 for the methods it does not serve.
fn resource(path: &'static str, routes: Vec<ApiRoute>) -> actix_web::Resource {
    let allow = routes.iter().map(|r| r.method.to_string()).collect::<Vec<_>>().join(", ");
    let mut resource = web::resource(path);
    for api_route in routes {
        resource = resource.route(api_route.route);
    }
    resource.default_service(web::to(move || method_not_allowed(allow.clone())))
}

async fn method_not_allowed(allow: String) -> HttpResponse {
    let mut response = Problem::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!("allowed: {allow}"),
    )
    .into_response();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
        response.headers_mut().insert(actix_web::http::header::ALLOW, value);
    }
    response
}

/// Unknown paths.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no route for {}", req.path())))
}
