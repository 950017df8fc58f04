//! Domain values parsed once at the edge (parse, don't validate): once a
//! `Username` exists it is valid, so the layers below never re-check it.

pub mod account;
pub mod post;

pub use account::{DisplayName, Email, Password, Role, Username};
pub use post::{Body, CommentBody, TagName, Title};

use crate::error::FieldError;

/// Collects the field errors of one request so the client sees all of them.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    /// Keeps the parsed value, or records why it failed.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, String>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(message) => {
                self.0.push(FieldError::new(field, message));
                None
            }
        }
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn into_result(self) -> Result<(), crate::error::ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(crate::error::ApiError::Validation(self.0)) }
    }
}

/// Trims a free-text field and checks its length (in characters) and that
/// it carries no control characters other than newlines and tabs.
pub fn bounded_text(value: &str, min: usize, max: usize, multiline: bool) -> Result<String, String> {
    let trimmed = value.trim();
    let length = trimmed.chars().count();
    if length < min {
        return Err(format!("must be at least {min} characters"));
    }
    if length > max {
        return Err(format!("must be at most {max} characters"));
    }
    let allowed = |c: char| !c.is_control() || (multiline && (c == '\n' || c == '\t' || c == '\r'));
    if !trimmed.chars().all(allowed) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(trimmed.to_owned())
}
