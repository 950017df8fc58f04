//! The one error type of the service and the one list of the stable error
//! codes of the API. Its mapping to RFC 9457 `application/problem+json` is
//! the HTTP layer's (`src/http/problem.rs`); services and the store only
//! say what went wrong.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// The stable, machine-readable `code` of every problem the API returns
/// (openapi.yaml, `Problem.code`), snake_case on the wire. `openapi.yaml` lists the same
/// values as the `Problem.code` enum; `tests/api/contract.rs` holds the two
/// to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // 400
    MalformedJson,
    MalformedBody,
    InvalidQuery,
    InvalidHeader,
    InvalidCursor,
    QueryTooLong,
    InvalidToken,
    // 401
    Unauthorized,
    // 403
    Forbidden,
    InsufficientPrivilege,
    AccountSuspended,
    WrongPassword,
    OwnPost,
    SelfVote,
    SelfVerify,
    SelfAcceptTooEarly,
    LastAdminGuard,
    InsufficientScope,
    SessionRequired,
    // 404, 405
    NotFound,
    MethodNotAllowed,
    // 409
    Conflict,
    UsernameTaken,
    EmailTaken,
    SlugTaken,
    QuestionLocked,
    QuestionClosed,
    QuestionHasAnswers,
    Merged,
    AlreadyFlagged,
    AlreadyResolved,
    EndpointDisabled,
    AlreadyEscalated,
    CategoryNotMapped,
    Open311NotConfigured,
    Open311Unavailable,
    // 413, 415, 422, 429
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    RateLimited,
    // 5xx
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 42] = [
        ErrorCode::MalformedJson,
        ErrorCode::MalformedBody,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidHeader,
        ErrorCode::InvalidCursor,
        ErrorCode::QueryTooLong,
        ErrorCode::InvalidToken,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::InsufficientPrivilege,
        ErrorCode::AccountSuspended,
        ErrorCode::WrongPassword,
        ErrorCode::OwnPost,
        ErrorCode::SelfVote,
        ErrorCode::SelfVerify,
        ErrorCode::SelfAcceptTooEarly,
        ErrorCode::LastAdminGuard,
        ErrorCode::InsufficientScope,
        ErrorCode::SessionRequired,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::UsernameTaken,
        ErrorCode::EmailTaken,
        ErrorCode::SlugTaken,
        ErrorCode::QuestionLocked,
        ErrorCode::QuestionClosed,
        ErrorCode::QuestionHasAnswers,
        ErrorCode::Merged,
        ErrorCode::AlreadyFlagged,
        ErrorCode::AlreadyResolved,
        ErrorCode::EndpointDisabled,
        ErrorCode::AlreadyEscalated,
        ErrorCode::CategoryNotMapped,
        ErrorCode::Open311NotConfigured,
        ErrorCode::Open311Unavailable,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::ValidationFailed,
        ErrorCode::RateLimited,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalError,
    ];

    /// The wire name (the same as serde's).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::MalformedBody => "malformed_body",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidHeader => "invalid_header",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::QueryTooLong => "query_too_long",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::InsufficientPrivilege => "insufficient_privilege",
            ErrorCode::AccountSuspended => "account_suspended",
            ErrorCode::WrongPassword => "wrong_password",
            ErrorCode::OwnPost => "own_post",
            ErrorCode::SelfVote => "self_vote",
            ErrorCode::SelfVerify => "self_verify",
            ErrorCode::SelfAcceptTooEarly => "self_accept_too_early",
            ErrorCode::LastAdminGuard => "last_admin_guard",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::SessionRequired => "session_required",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::UsernameTaken => "username_taken",
            ErrorCode::EmailTaken => "email_taken",
            ErrorCode::SlugTaken => "slug_taken",
            ErrorCode::QuestionLocked => "question_locked",
            ErrorCode::QuestionClosed => "question_closed",
            ErrorCode::QuestionHasAnswers => "question_has_answers",
            ErrorCode::Merged => "merged",
            ErrorCode::AlreadyFlagged => "already_flagged",
            ErrorCode::AlreadyResolved => "already_resolved",
            ErrorCode::EndpointDisabled => "endpoint_disabled",
            ErrorCode::AlreadyEscalated => "already_escalated",
            ErrorCode::CategoryNotMapped => "category_not_mapped",
            ErrorCode::Open311NotConfigured => "open311_not_configured",
            ErrorCode::Open311Unavailable => "open311_unavailable",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::InternalError => "internal_error",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    BadRequest { code: ErrorCode, detail: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{detail}")]
    Forbidden { code: ErrorCode, detail: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{detail}")]
    Conflict { code: ErrorCode, detail: String },
    #[error("request body too large")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{detail}")]
    RateLimited { retry_after_secs: u64, detail: String },
    #[error("{0}")]
    Unavailable(String),
    /// A system Agora depends on (the council's Open311 endpoint) failed.
    #[error("{detail}")]
    Upstream { code: ErrorCode, detail: String },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn validation(field: &str, message: &str) -> ApiError {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn bad_request(code: ErrorCode, detail: impl Into<String>) -> ApiError {
        ApiError::BadRequest { code, detail: detail.into() }
    }

    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::Forbidden { code: ErrorCode::Forbidden, detail: detail.into() }
    }

    /// A 403 with a more specific code than `forbidden`.
    pub fn refused(code: ErrorCode, detail: impl Into<String>) -> ApiError {
        ApiError::Forbidden { code, detail: detail.into() }
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::NotFound(format!("{what} not found"))
    }

    pub fn conflict(detail: impl Into<String>) -> ApiError {
        ApiError::Conflict { code: ErrorCode::Conflict, detail: detail.into() }
    }

    /// A 409 with a more specific code than `conflict`.
    pub fn conflicting(code: ErrorCode, detail: impl Into<String>) -> ApiError {
        ApiError::Conflict { code, detail: detail.into() }
    }

    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(cause.to_string())
    }

    /// The stable machine-readable code of the problem.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Validation(_) => ErrorCode::ValidationFailed,
            ApiError::BadRequest { code, .. } => *code,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden { code, .. } => *code,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Conflict { code, .. } => *code,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            ApiError::Upstream { code, .. } => *code,
            ApiError::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Validation(_) => 422,
            ApiError::BadRequest { .. } => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict { .. } => 409,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::RateLimited { .. } => 429,
            ApiError::Unavailable(_) => 503,
            ApiError::Upstream { .. } => 502,
            ApiError::Internal(_) => 500,
        }
    }

    /// What the problem's `detail` says: never internals (the cause of an
    /// internal error is logged with the request id instead).
    pub fn detail(&self) -> String {
        match self {
            ApiError::Validation(errors) => match errors.as_slice() {
                [one] => format!("{}: {}", one.field, one.message),
                _ => format!("{} fields are invalid", errors.len()),
            },
            ApiError::PayloadTooLarge { limit } => format!("the request body exceeds {limit} bytes"),
            ApiError::Internal(_) => "an unexpected error occurred".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<DieselError> for ApiError {
    fn from(e: DieselError) -> ApiError {
        match &e {
            DieselError::NotFound => ApiError::NotFound("not found".to_owned()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::conflict("the resource already exists")
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => unavailable(&e),
            DieselError::DatabaseError(_, info) if is_busy(info.message()) => unavailable(&e),
            _ => ApiError::internal(e),
        }
    }
}

/// SQLite's "database is locked" after busy_timeout, or a PostgreSQL
/// connection that went away mid-request: the caller may retry.
fn is_busy(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}

fn unavailable(cause: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(%cause, "database unavailable");
    ApiError::Unavailable("the database is temporarily unavailable; retry shortly".to_owned())
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> ApiError {
        unavailable(&e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_listed_once_and_named_as_serde_names_them() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code), "{code} is listed twice");
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::Value::from(code.as_str()));
        }
    }
}
