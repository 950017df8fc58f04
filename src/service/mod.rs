//! Business rules, one module per capability. Functions here are
//! synchronous and run on actix's blocking pool (`AppState::db`).

pub mod accounts;
pub mod answers;
pub mod audit;
pub mod badges;
pub mod categories;
pub mod comments;
pub mod deflection;
pub mod dump;
pub mod experts;
pub mod import;
pub mod limits;
pub mod markdown;
pub mod moderation;
pub mod notifications;
pub mod pagination;
pub mod passwords;
pub mod pii;
pub mod posts;
pub mod privileges;
pub mod questions;
pub mod read_cache;
pub mod reputation;
pub mod revisions;
pub mod search;
pub mod settings;
pub mod tokens;
pub mod verification;
pub mod votes;
