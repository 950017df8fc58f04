//! Business rules. Functions here are synchronous and run on actix's
//! blocking pool; they take a database connection and the [`Context`], and
//! know nothing of HTTP (`tests/architecture.rs` keeps it so).
//!
//! Capabilities are folders named after what the product does; none of
//! them imports another in a circle. The files beside them are the support
//! every capability may use, and they import no capability.
//!
//! - `accounts/`: registration, sign-in, sessions, profiles, passwords,
//!   API keys, the personal-data export.
//! - `posts/`: what questions, answers and comments share: who may see a
//!   post, its state (counts, status, soft delete), the views of authors
//!   and comments. Below every other capability that touches posts.
//! - `community/`: questions, answers and acceptance, comments, votes,
//!   categories and tags, revisions, follows, close votes.
//! - `notifications/`: the inbox.
//! - `mail/`: the mail outbox and its sender, account tokens, mail
//!   preferences, digests.
//! - `reputation/`: the ledger, experts, badges, council verification.
//! - `moderation/`: flags, the review queue, question actions, suspension,
//!   limits on new accounts, erasure of accounts.
//! - `deflection/`: events in, reports out.
//! - `search/`: the index, its indexer, searches and the gap log.
//! - `import_export/`: the JSONL dump and the Stack Exchange importer.
//! - `privacy/`: retention of what visitors leave behind.
//! - `webhooks/`: endpoints, the events they hear and their delivery.
//! - `escalation/`: Open311 cases for questions the community cannot
//!   answer.
//!
//! Support: `context` (what every service is given), `caller` (who is
//! asking), `privileges`, `settings` (the community's rules document),
//! `audit` (the moderator and admin log), `pagination`, `markdown`, `pii`
//! (personal-information detection), `tokens` (signing and random tokens),
//! `delivery` (leases and back-off of everything sent out)
//! and `health` (what operations asks of a node).

pub mod accounts;
pub mod audit;
pub mod caller;
pub mod community;
pub mod context;
pub mod deflection;
pub mod delivery;
pub mod escalation;
pub mod health;
pub mod import_export;
pub mod mail;
pub mod markdown;
pub mod moderation;
pub mod notifications;
pub mod pagination;
pub mod pii;
pub mod posts;
pub mod privacy;
pub mod privileges;
pub mod rate_limits;
pub mod reputation;
pub mod search;
pub mod settings;
pub mod tokens;
pub mod webhooks;

pub use caller::Caller;
pub use context::Context;
