//! Search glue: the index, its indexer and the search-gap log, and the two
//! reads that use them (GET /search, GET /questions/similar). Searches
//! never touch SQL: hits render from stored fields.

pub mod indexer;

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::NaiveDateTime;
use search_index::{Filters, SearchHit, SearchIndex, SearchRequest, SimilarRequest, SortOrder, Synonyms};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, rfc3339};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::service::Caller;
use crate::service::deflection::{self, gaps};
use crate::service::pagination::{CursorCodec, Page};
use crate::service::settings::SiteSettings;
use crate::store::DbPool;
use crate::store::search::SearchGap;
use indexer::{Indexer, IndexerStatus};

/// Results deeper than this are not paged to (refine the query instead).
pub const MAX_DEPTH: usize = 1000;
/// Longest similar-questions draft accepted.
pub const MAX_DRAFT_CHARS: usize = 5000;

/// The search side of a node: its own index, the indexer that keeps it
/// following the database, and the gap recorder.
pub struct Search {
    pub index: Arc<SearchIndex>,
    pub status: Arc<IndexerStatus>,
    indexer: Mutex<Indexer>,
    gaps: GapRecorder,
}

impl Search {
    /// Opens (or creates) the index in `dir` and starts the indexer.
    pub fn start(dir: &Path, pool: DbPool, clock: Clock, commit_every: Duration) -> Result<Search, String> {
        let (index, outcome) = SearchIndex::open(dir).map_err(|e| e.to_string())?;
        let index = Arc::new(index);
        let indexer = Indexer::start(pool.clone(), index.clone(), outcome, clock.clone(), commit_every)
            .map_err(|e| format!("cannot start the indexer: {e}"))?;
        let status = indexer.status.clone();
        let gaps = GapRecorder::start(pool, clock).map_err(|e| format!("cannot start the gap recorder: {e}"))?;
        Ok(Search { index, status, indexer: Mutex::new(indexer), gaps })
    }

    pub fn is_ready(&self) -> bool {
        self.status.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn require_ready(&self) -> ApiResult<()> {
        if self.is_ready() {
            return Ok(());
        }
        Err(ApiError::Unavailable("the search index is being built; retry shortly".to_owned()))
    }

    /// Applies pending changes, commits and stops the indexer (shutdown).
    pub fn stop(&self) {
        if let Ok(mut indexer) = self.indexer.lock() {
            indexer.stop();
        }
    }

    /// Wakes the indexer after a write so search follows within a poll.
    pub fn nudge(&self) {
        if let Ok(indexer) = self.indexer.lock() {
            indexer.nudge();
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SearchSort {
    #[default]
    Relevance,
    Newest,
    Votes,
}

/// The parameters of GET /search.
#[derive(Debug, Default)]
pub struct SearchQuery {
    pub q: String,
    pub category: Option<String>,
    pub tag: Option<String>,
    pub area: Option<String>,
    pub status: Option<String>,
    pub sort: SearchSort,
    pub cursor: Option<String>,
    pub limit: usize,
    pub searcher: Searcher,
}

/// Who is searching, for the content-gap log: searches by bots and by
/// council staff, moderators, admins and analysts are not logged (as their
/// deflection events count nowhere), and a visitor's repeats of a query on
/// one day count once in the report.
#[derive(Debug, Default)]
pub struct Searcher {
    /// `X-Visitor-Id`, when sent.
    pub visitor_id: Option<String>,
    pub caller: Option<Caller>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SearchItem {
    pub question_id: i64,
    pub title: String,
    pub snippet_html: String,
    /// The question's vote score.
    pub score: i64,
    /// How well it matched (0 when sorted by time or votes).
    pub relevance: f32,
    pub status: String,
    pub answer_count: u64,
    pub accepted: bool,
    pub verified: bool,
    pub category: String,
    pub tags: Vec<String>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
}

fn item(hit: SearchHit) -> SearchItem {
    SearchItem {
        question_id: hit.question_id,
        title: hit.title,
        snippet_html: hit.snippet_html,
        score: hit.score,
        relevance: hit.relevance,
        status: hit.status,
        answer_count: hit.answer_count,
        accepted: hit.accepted,
        verified: hit.verified,
        category: hit.category_slug,
        tags: hit.tags,
        created_at: chrono::DateTime::from_timestamp(hit.created_at, 0).unwrap_or_default().naive_utc(),
    }
}

#[derive(Debug, Serialize)]
pub struct FacetCounts {
    pub category: std::collections::BTreeMap<String, u64>,
    pub tag: std::collections::BTreeMap<String, u64>,
    pub status: std::collections::BTreeMap<String, u64>,
    pub area: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct SearchPage {
    pub items: Vec<SearchItem>,
    pub total: usize,
    pub facets: FacetCounts,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

fn synonyms(rules: &SiteSettings) -> Synonyms {
    Synonyms::with_extra(&rules.search.synonyms)
}

/// A page of search results, and whether the search went into the
/// content-gap log (then every repeat of it must, too).
pub struct Searched {
    pub page: SearchPage,
    pub gap_noted: bool,
}

/// Full-text search with filters, facets and snippets. Queries that find
/// nothing, or nothing solved, are logged for the content-gap report.
pub fn search(search: &Search, codec: &CursorCodec, rules: &SiteSettings, query: SearchQuery) -> ApiResult<Searched> {
    search.require_ready()?;
    let scope = format!("search:{:?}", query.sort);
    let offset: usize = match &query.cursor {
        Some(cursor) => codec.decode(&scope, cursor)?,
        None => 0,
    };
    let request = SearchRequest {
        text: query.q.clone(),
        filters: Filters {
            category: query.category.clone(),
            tag: query.tag.clone(),
            area: query.area.clone(),
            status: query.status.clone(),
        },
        sort: match query.sort {
            SearchSort::Relevance => SortOrder::Relevance,
            SearchSort::Newest => SortOrder::Newest,
            SearchSort::Votes => SortOrder::Votes,
        },
        offset,
        limit: query.limit,
    };
    let results = search.index.search(&request, &synonyms(rules)).map_err(search_error)?;
    let gap_noted = offset == 0 && search.gaps.note(&query, &results.hits, results.total);
    let end = offset + results.hits.len();
    let has_more = end < results.total.min(MAX_DEPTH) && !results.hits.is_empty();
    let page = SearchPage {
        items: results.hits.into_iter().map(item).collect(),
        total: results.total,
        facets: FacetCounts {
            category: results.facets.category,
            tag: results.facets.tag,
            status: results.facets.status,
            area: results.facets.area,
        },
        next_cursor: has_more.then(|| codec.encode(&scope, &end)),
        has_more,
    };
    Ok(Searched { page, gap_noted })
}

fn search_error(e: search_index::SearchError) -> ApiError {
    match e {
        search_index::SearchError::QueryTooLong(max) => {
            ApiError::bad_request(ErrorCode::QueryTooLong, format!("the query is longer than {max} characters"))
        }
        other => ApiError::internal(other),
    }
}

#[derive(Debug, Serialize)]
pub struct SimilarQuestion {
    pub question_id: i64,
    pub title: String,
    pub status: String,
    pub answer_count: u64,
    pub accepted: bool,
    pub verified: bool,
    pub score: i64,
    pub category: String,
}

/// The questions most like a draft, solved ones first among equals.
/// The council's synonyms apply to drafts as they do to searches.
pub fn similar(search: &Search, rules: &SiteSettings, text: &str, limit: usize) -> ApiResult<Page<SimilarQuestion>> {
    search.require_ready()?;
    let hits = search
        .index
        .similar(&SimilarRequest { text: text.to_owned(), limit, restrict_to: None }, &synonyms(rules))
        .map_err(search_error)?;
    let items = hits
        .into_iter()
        .map(|h| SimilarQuestion {
            question_id: h.question_id,
            title: h.title,
            status: h.status,
            answer_count: h.answer_count,
            accepted: h.accepted,
            verified: h.verified,
            score: h.score,
            category: h.category_slug,
        })
        .collect();
    Ok(Page { items, next_cursor: None, has_more: false })
}

/// Logs searches that found nothing, or nothing solved, off the request
/// path: a background thread writes them in batches every second, with
/// their counts in the content-gap report (`deflection::gaps`).
struct GapRecorder {
    sender: Option<SyncSender<SearchGap>>,
    thread: Option<JoinHandle<()>>,
    clock: Clock,
}

impl GapRecorder {
    fn start(pool: DbPool, clock: Clock) -> std::io::Result<GapRecorder> {
        let (sender, receiver) = mpsc::sync_channel(10_000);
        let thread =
            std::thread::Builder::new().name("search-gaps".to_owned()).spawn(move || flush_gaps(pool, receiver))?;
        Ok(GapRecorder { sender: Some(sender), thread: Some(thread), clock })
    }

    /// Logs the search if it is a gap and its searcher counts; says whether
    /// it was a gap (whoever searched, so its repeats are never cached).
    fn note(&self, query: &SearchQuery, hits: &[SearchHit], total: usize) -> bool {
        let text = gaps::normalise_query(&query.q);
        if text.is_empty() {
            return false;
        }
        let kind = if total == 0 {
            gaps::ZERO_RESULTS
        } else if !hits.iter().any(|h| h.status == "solved") {
            gaps::NO_SOLVED_RESULT
        } else {
            return false;
        };
        let searcher = &query.searcher;
        if !deflection::counts_in_reports(searcher.caller.as_ref(), searcher.user_agent.as_deref()) {
            return true;
        }
        let gap = SearchGap {
            query: text,
            kind: kind.to_owned(),
            results: total.min(i32::MAX as usize) as i32,
            category: query.category.clone(),
            // An area no question can have finds nothing: logged without.
            area: query.area.as_deref().and_then(|a| crate::domain::post::parse_area(a).ok()),
            visitor_id: searcher.visitor_id.clone(),
            created_at: self.clock.now(),
        };
        // A full queue drops the record rather than slow a search down.
        if let Some(sender) = &self.sender {
            let _ = sender.try_send(gap);
        }
        true
    }
}

impl Drop for GapRecorder {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn flush_gaps(pool: DbPool, receiver: Receiver<SearchGap>) {
    let mut batch = Vec::new();
    loop {
        let closed = match receiver.recv_timeout(Duration::from_secs(1)) {
            Ok(gap) => {
                batch.push(gap);
                batch.extend(receiver.try_iter().take(500));
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        if !batch.is_empty() {
            let written = pool.get().map_err(|e| e.to_string()).and_then(|mut conn| {
                crate::store::write_transaction(&mut conn, |conn| gaps::record_server_searches(conn, &batch))
                    .map_err(|e: diesel::result::Error| e.to_string())
            });
            match written {
                Ok(()) => batch.clear(),
                Err(e) if batch.len() > 5000 => {
                    tracing::warn!(error = %e, dropped = batch.len(), "cannot record search gaps; dropping them");
                    batch.clear();
                }
                Err(e) => tracing::warn!(error = %e, "cannot record search gaps yet"),
            }
        }
        if closed {
            return;
        }
    }
}
