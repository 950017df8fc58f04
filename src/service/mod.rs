//! Business rules, one module per capability. Functions here are
//! synchronous and run on actix's blocking pool (`AppState::db`).

pub mod accounts;
pub mod passwords;
pub mod privileges;
pub mod tokens;
