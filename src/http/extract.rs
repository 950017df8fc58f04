//! Request extractors. Each turns a bad request into an `ApiError`, so every
//! failure leaves as problem+json.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::domain::Role;
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::http::state::AppState;
use crate::service::Caller;
use crate::service::accounts;
use crate::service::accounts::api_keys::{self, Scope};

/// The largest request body accepted (openapi.yaml, 413 responses).
pub const BODY_LIMIT: usize = 256 * 1024;

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// A JSON body: `application/json`, at most 256 KiB, deserialized with the
/// path of the offending field in the error.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json_content_type(req);
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType("the body must be application/json".to_owned()));
            }
            let bytes = body.await.map_err(|e| body_error(&e))?;
            parse_json(&bytes).map(JsonBody)
        })
    }
}

/// A JSON body that may be left out entirely (then `T::default()`).
pub struct OptionalJsonBody<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json_content_type(req);
        let body = Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|e| body_error(&e))?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJsonBody(T::default()));
            }
            if !content_type_ok {
                return Err(ApiError::UnsupportedMediaType("the body must be application/json".to_owned()));
            }
            parse_json(&bytes).map(OptionalJsonBody)
        })
    }
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn body_error(e: &actix_web::Error) -> ApiError {
    let overflow = e
        .as_error::<actix_web::error::PayloadError>()
        .is_some_and(|p| matches!(p, actix_web::error::PayloadError::Overflow));
    if overflow || e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit: BODY_LIMIT }
    } else {
        ApiError::bad_request(ErrorCode::MalformedBody, "the request body could not be read")
    }
}

/// Syntax errors are 400 `malformed_json`; well-formed JSON of the wrong
/// shape is 422 with the offending field named.
/// For `#[serde(default, deserialize_with = "present")]` on an
/// `Option<Option<T>>`: distinguishes `"area": null` (Some(None): clear it)
/// from an absent field (None: keep it).
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// For `#[serde(default, deserialize_with = "non_null")]` on an optional
/// field: it may be left out, but an explicit `null` is refused (422)
/// rather than read as "left out", because a client sending null may mean
/// "clear it" and would silently get "keep it".
pub fn non_null<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let inner = e.inner();
        if inner.classify() != serde_json::error::Category::Data {
            return malformed_json(inner);
        }
        let field = field_of(&e.path().to_string(), &inner.to_string());
        ApiError::Validation(vec![FieldError::new(field, strip_position(&inner.to_string()))])
    })?;
    deserializer.end().map_err(|e| malformed_json(&e))?;
    // Every request body is an object. serde also reads a struct from an
    // array of its fields in order, so `[]` would pass for a body whose
    // fields are all optional: refuse it, as the contract does.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::Validation(vec![FieldError::new("body", "must be a JSON object")]));
    }
    Ok(value)
}

fn malformed_json(e: &serde_json::Error) -> ApiError {
    ApiError::bad_request(ErrorCode::MalformedJson, format!("the body is not valid JSON: {e}"))
}

/// serde reports a missing field at its parent: name the field itself.
fn field_of(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (path, Some(name)) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
        (".", Some(name)) => name.to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (".", None) => "body".to_owned(),
        (path, None) => path.to_owned(),
    }
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// An authenticated caller. The token's signature and expiry are checked,
/// then the user's token version, suspension and roles are read from the
/// database, so revocation takes effect on the next request.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i64,
    pub roles: Vec<Role>,
    pub reputation: i32,
    pub created_at: chrono::NaiveDateTime,
    /// The login (refresh-token family) the access token came from, or
    /// `api-key:<id>`.
    pub session_id: String,
    /// Set when the request was made with an API key rather than a login.
    pub api_key_id: Option<i64>,
}

impl AuthUser {
    pub fn caller(&self) -> Caller {
        Caller { id: self.id, roles: self.roles.clone(), reputation: self.reputation, created_at: self.created_at }
    }

    /// 403 when the request came with an API key: keys cannot create keys,
    /// change the password or address, export or erase the account.
    pub fn require_session(&self) -> Result<(), ApiError> {
        match self.api_key_id {
            None => Ok(()),
            Some(_) => Err(ApiError::refused(
                ErrorCode::SessionRequired,
                "this needs a signed-in session; an API key cannot do it",
            )),
        }
    }

    /// 403 unless the caller holds `role`.
    pub fn require_role(&self, role: Role) -> Result<(), ApiError> {
        if self.roles.contains(&role) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!("this needs the {} role", role.as_str())))
    }
}

impl MaybeUser {
    pub fn caller(&self) -> Option<Caller> {
        self.0.as_ref().map(AuthUser::caller)
    }
}

/// The User-Agent header, for telling bots' events from residents'.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// `X-Visitor-Id`: an anonymous, client-chosen id for counting views and
/// deflection. Absent is fine; malformed is a 400.
pub struct VisitorId(pub Option<String>);

impl FromRequest for VisitorId {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match req.headers().get("x-visitor-id") {
            None => Ok(VisitorId(None)),
            Some(value) => match value.to_str() {
                Ok(v)
                    if (1..=128).contains(&v.len())
                        && v.bytes().all(|b| b.is_ascii_graphic())
                        && !v.starts_with("anon:") =>
                {
                    Ok(VisitorId(Some(v.to_owned())))
                }
                _ => Err(ApiError::bad_request(
                    ErrorCode::InvalidHeader,
                    "X-Visitor-Id must be 1-128 visible ASCII characters, not starting with 'anon:'",
                )),
            },
        };
        std::future::ready(result)
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        let scope = required_scope(req);
        Box::pin(async move {
            let token = token?.ok_or_else(|| ApiError::Unauthorized("authentication required".to_owned()))?;
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            authenticate(state, token, scope).await
        })
    }
}

/// A caller who may be anonymous. A token that is present but invalid is
/// still a 401: a client should learn its session ended.
pub struct MaybeUser(pub Option<AuthUser>);

impl FromRequest for MaybeUser {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        let scope = required_scope(req);
        Box::pin(async move {
            match token? {
                None => Ok(MaybeUser(None)),
                Some(token) => {
                    let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
                    authenticate(state, token, scope).await.map(|u| MaybeUser(Some(u)))
                }
            }
        })
    }
}

fn bearer_token(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| malformed_authorization())?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(malformed_authorization()),
    }
}

fn malformed_authorization() -> ApiError {
    ApiError::Unauthorized("the Authorization header must be 'Bearer <token>'".to_owned())
}

/// The scope an API key needs for a request: the area of the API for
/// administration, moderation and deflection reports, else `read` for
/// reads and `write` for everything else.
fn required_scope(req: &HttpRequest) -> Scope {
    let path = req.path();
    if path.starts_with("/api/v1/admin/") {
        Scope::Admin
    } else if path.starts_with("/api/v1/mod/") {
        Scope::Moderation
    } else if path.starts_with("/api/v1/deflection/") {
        Scope::DeflectionRead
    } else if req.method() == actix_web::http::Method::GET || req.method() == actix_web::http::Method::HEAD {
        Scope::Read
    } else {
        Scope::Write
    }
}

/// An API key: looked up by its hash, then held to the scope the request
/// needs.
async fn authenticate_key(state: web::Data<AppState>, key: String, scope: Scope) -> Result<AuthUser, ApiError> {
    let now = state.ctx.clock.now();
    let (caller, key_id, scopes) = state.db(move |conn| api_keys::authenticate(conn, &key, now)).await?;
    if !scopes.contains(&scope) {
        return Err(ApiError::refused(
            ErrorCode::InsufficientScope,
            format!("this API key lacks the {} scope this request needs", scope.as_str()),
        ));
    }
    Ok(AuthUser {
        id: caller.id,
        roles: caller.roles,
        reputation: caller.reputation,
        created_at: caller.created_at,
        session_id: format!("api-key:{key_id}"),
        api_key_id: Some(key_id),
    })
}

/// A forged or expired token is refused before any database work.
async fn authenticate(state: web::Data<AppState>, token: String, scope: Scope) -> Result<AuthUser, ApiError> {
    if api_keys::is_key(&token) {
        return authenticate_key(state, token, scope).await;
    }
    let claims = state.ctx.tokens.verify(&token, state.ctx.clock.now_utc())?;
    let now = state.ctx.clock.now();
    let session_id = claims.sid.clone();
    // A read: on the readers' pool, so that a signed-in resident's page
    // does not wait behind writers for a request connection.
    let caller = state.read(move |conn| accounts::authenticate(conn, &claims, now)).await?;
    Ok(AuthUser {
        id: caller.id,
        roles: caller.roles,
        reputation: caller.reputation,
        created_at: caller.created_at,
        session_id,
        api_key_id: None,
    })
}

/// The client's address, for throttling. The peer address, or the last
/// `X-Forwarded-For` hop when the deployment says a proxy sets it.
pub struct ClientIp(pub String);

impl FromRequest for ClientIp {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let trust_proxy = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.ctx.config.trust_forwarded_for);
        std::future::ready(Ok(ClientIp(client_ip(req, trust_proxy))))
    }
}

/// The peer address, or the last `X-Forwarded-For` hop when trusted.
pub fn client_ip(req: &HttpRequest, trust_forwarded_for: bool) -> String {
    let forwarded = trust_forwarded_for
        .then(|| req.headers().get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next().map(|s| s.trim().to_owned()))
        .flatten()
        .filter(|ip| !ip.is_empty());
    forwarded.unwrap_or_else(|| req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".to_owned()))
}

/// Query-string and path errors as problems: a bad query is a 400, a path
/// segment of the wrong type names no resource (404).
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        ApiError::bad_request(ErrorCode::InvalidQuery, format!("invalid query string: {err}")).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound("no such resource".to_owned()).into())
}

pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(BODY_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        tags: Vec<String>,
    }

    fn field(e: ApiError) -> String {
        match e {
            ApiError::Validation(errors) => errors[0].field.clone(),
            other => panic!("expected validation error, got {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert!(parse_json::<Sample>(br#"{"name":"a","tags":[]}"#).is_ok());
        assert!(matches!(parse_json::<Sample>(b"{\"name\":"), Err(ApiError::BadRequest { .. })));
        assert!(matches!(
            parse_json::<Sample>(br#"{"name":"a","tags":[]} trailing"#),
            Err(ApiError::BadRequest { .. })
        ));
        assert_eq!(field(parse_json::<Sample>(br#"{"tags":[]}"#).unwrap_err()), "name");
        assert_eq!(field(parse_json::<Sample>(br#"{"name":"a","tags":[1]}"#).unwrap_err()), "tags[0]");
        assert_eq!(field(parse_json::<Sample>(br#"{"name":"a","tags":[],"x":1}"#).unwrap_err()), "x");
        assert_eq!(field(parse_json::<Sample>(b"[]").unwrap_err()), "body");
        // A struct whose fields are all optional is not read from an array.
        #[derive(Debug, serde::Deserialize, Default)]
        struct AllOptional {
            #[allow(dead_code)]
            flag: Option<bool>,
        }
        assert!(parse_json::<AllOptional>(b"{}").is_ok());
        assert_eq!(field(parse_json::<AllOptional>(b" []").unwrap_err()), "body");
        assert_eq!(field(parse_json::<AllOptional>(b"[true]").unwrap_err()), "body");
        assert!(matches!(parse_json::<AllOptional>(b"[true"), Err(ApiError::BadRequest { .. })));
    }
}
