//! Full-text search for Agora. This crate owns tantivy and nothing else
//! does; it knows nothing of HTTP or SQL and speaks in plain structs:
//! [`QuestionDoc`] in, [`SearchRequest`] / [`SimilarRequest`] asked,
//! [`SearchResults`] / [`SearchHit`] out.
//!
//! - `schema`: the fields and the schema version.
//! - `index`: opening (or deciding to rebuild) an index, the single writer,
//!   commits that carry the applied outbox position.
//! - `query`: user text → tantivy queries (phrases, typo tolerance,
//!   synonyms, filters), search with facets and snippets, similar questions.
//! - `snippet`: the window of a hit's text around what the search matched
//!   on (stems, typo corrections, synonyms, phrases), marked and escaped.
//! - `stemming`: the English analyzer (tantivy's `en_stem` with a memo).

mod fuzzy;
mod index;
mod query;
mod schema;
mod similar;
mod snippet;
mod stemming;
mod synonyms;

pub use index::{IndexWriterHandle, OpenOutcome, SearchIndex};
pub use similar::{EVERYDAY_ALIGNMENT, EVERYDAY_COSINE, FEATURES, Features, WEIGHTS, blend};
pub use synonyms::Synonyms;

use std::collections::BTreeMap;

/// One question as the index sees it: everything search matches on and
/// everything a hit shows, so results never need SQL.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuestionDoc {
    pub id: i64,
    pub title: String,
    pub body: String,
    /// The text of its visible answers.
    pub answers: Vec<String>,
    pub tags: Vec<String>,
    pub category_slug: String,
    pub category_name: String,
    pub area: Option<String>,
    /// unanswered, answered or solved.
    pub status: String,
    /// Vote score.
    pub score: i64,
    pub answer_count: u64,
    pub accepted: bool,
    pub verified: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub activity_at: i64,
    pub closed: bool,
    /// The canonical question when closed as a duplicate.
    pub duplicate_of: Option<i64>,
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Relevance,
    Newest,
    Votes,
}

/// Exact-match filters; all given ones must hold.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub category: Option<String>,
    pub tag: Option<String>,
    pub area: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// What the user typed: words, "quoted phrases"; nothing else is syntax.
    pub text: String,
    pub filters: Filters,
    pub sort: SortOrder,
    pub offset: usize,
    pub limit: usize,
}

/// A hit, rendered from stored fields.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub question_id: i64,
    pub title: String,
    /// HTML-escaped text with matches wrapped in `<mark>`.
    pub snippet_html: String,
    pub relevance: f32,
    pub score: i64,
    pub status: String,
    pub answer_count: u64,
    pub accepted: bool,
    pub verified: bool,
    pub category_slug: String,
    pub tags: Vec<String>,
    pub created_at: i64,
    pub duplicate_of: Option<i64>,
}

/// Counts over every match (not just the page), by value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facets {
    pub category: BTreeMap<String, u64>,
    pub tag: BTreeMap<String, u64>,
    pub status: BTreeMap<String, u64>,
    /// Questions without an area are not counted.
    pub area: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    pub total: usize,
    pub facets: Facets,
}

/// "Has this been asked before?" for a draft title and/or body.
#[derive(Debug, Clone, Default)]
pub struct SimilarRequest {
    pub text: String,
    pub limit: usize,
    /// Only these questions may be returned (used to re-rank candidates).
    pub restrict_to: Option<Vec<i64>>,
}

/// Why a search could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the query is too long (at most {0} characters)")]
    QueryTooLong(usize),
    #[error("search index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index error: {0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, SearchError>;
