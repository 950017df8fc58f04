//! Page views (GET /questions/{id} with `X-Visitor-Id`), counted in memory
//! on each node and written in batches.
//!
//! A counted view used to be two write transactions per page read, and
//! every reader queued behind the database's one writer (the load bench:
//! 2 % of `/healthz` on SQLite, 1 % on PostgreSQL). Now reading a page
//! only reads: whether this visitor was counted today, and the deflection
//! event the view makes, classified at once exactly as before (bot, staff,
//! author; the question's category, area and solved state at that moment).
//! Both wait here and a background thread writes them at least once a
//! second (at most 500 views to a transaction), and at shutdown.
//!
//! What a node shows meanwhile is the database's count plus its own
//! pending views, so a visitor sees their view counted at once. The
//! database stays the judge of "once per visitor and day": its key
//! refuses a second row, and only rows it took add to the count, so two
//! nodes (or a page read racing a flush) never count a view twice. A
//! `kill -9` loses at most the views of the last second, never an
//! acknowledged write of any other kind.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::error::{ApiError, ApiResult};
use crate::service::Caller;
use crate::service::deflection::{self, ServerEvent};
use crate::store::deflection::{QuestionFacts, StoredEvent};
use crate::store::views::{self as store, ViewKey};
use crate::store::{self as db, DbConn, DbPool, write_transaction};

/// How often pending views are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Pending events that wake the writer early (a burst of views).
const FLUSH_AT: usize = 20_000;
/// Pending events beyond which new views are dropped (the database has
/// been unreachable for a while): memory stays bounded.
const DROP_AT: usize = 200_000;

/// One page read with a visitor id: its key, whether the database had it
/// counted already, and the deflection event it makes.
pub struct PageView {
    key: ViewKey,
    counted_before: bool,
    event: StoredEvent,
}

impl PageView {
    /// Reads what a view of a question the caller has just been shown
    /// needs: only whether the database counted this visitor today. The
    /// event is made from the page's own `question` facts (reading them
    /// again was a second transaction and query per counted view).
    pub fn read(
        conn: &mut DbConn,
        caller: Option<&Caller>,
        visitor_id: &str,
        user_agent: Option<&str>,
        (question_id, question): (i64, &QuestionFacts),
        at: NaiveDateTime,
    ) -> ApiResult<PageView> {
        let key = ViewKey { question_id, visitor_key: visitor_id.to_owned(), day: at.format("%Y-%m-%d").to_string() };
        let event = ServerEvent {
            kind: "question_viewed",
            visitor_id: visitor_id.to_owned(),
            caller,
            user_agent,
            question_id,
            answer_id: None,
            at,
        };
        let counted_before = store::seen(conn, &key)?;
        let event = deflection::server_event_about(question, Some(question.author_id), event);
        Ok(PageView { key, counted_before, event })
    }
}

/// Views waiting to be written.
#[derive(Default)]
struct Batch {
    /// Keys first seen on this node since the last flush.
    keys: HashSet<ViewKey>,
    /// New views per question (what the keys add to each count).
    counts: HashMap<i64, i64>,
    events: Vec<StoredEvent>,
}

impl Batch {
    fn of(keys: &[&ViewKey], events: &[StoredEvent]) -> Batch {
        let mut batch = Batch { events: events.to_vec(), ..Batch::default() };
        for key in keys {
            *batch.counts.entry(key.question_id).or_default() += 1;
            batch.keys.insert((*key).clone());
        }
        batch
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.events.is_empty()
    }

    /// Puts a batch that could not be written back in front of this one.
    fn merge_older(&mut self, older: Batch) {
        for key in older.keys {
            if self.keys.insert(key.clone()) {
                *self.counts.entry(key.question_id).or_default() += 1;
            }
        }
        let mut events = older.events;
        events.append(&mut self.events);
        self.events = events;
    }
}

#[derive(Default)]
struct Pending {
    waiting: Batch,
    /// The batch being written: still shown, and still deduplicated
    /// against, until its transaction commits.
    writing: Option<Arc<Batch>>,
    /// Views per question of `writing` already committed (it is written in
    /// chunks): no longer pending.
    written: HashMap<i64, i64>,
    dropped: u64,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// One flush at a time (the thread, shutdown, a test).
    flushing: Mutex<()>,
    stop: AtomicBool,
    wake: Mutex<bool>,
    condvar: Condvar,
}

/// This node's view counter and its writer thread.
pub struct ViewCounter {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ViewCounter {
    /// Starts the writer on its own pool (one connection).
    pub fn start(pool: DbPool) -> ViewCounter {
        let shared = Arc::new(Shared::default());
        let worker = shared.clone();
        let thread =
            std::thread::Builder::new().name("views".into()).spawn(move || write_periodically(&pool, &worker)).ok();
        ViewCounter { shared, thread: Mutex::new(thread) }
    }

    /// Takes a page view; true when it adds to the question's count (the
    /// visitor's first view of it today).
    pub fn add(&self, view: PageView) -> bool {
        let mut pending = self.shared.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.waiting.events.len() >= DROP_AT {
            pending.dropped += 1;
            if pending.dropped.is_power_of_two() {
                tracing::warn!(dropped = pending.dropped, "page views dropped: the database takes no writes");
            }
            return false;
        }
        let PageView { key, counted_before, event } = view;
        let in_writing = pending.writing.as_ref().is_some_and(|b| b.keys.contains(&key));
        let counts = !counted_before && !in_writing && !pending.waiting.keys.contains(&key);
        if counts {
            *pending.waiting.counts.entry(key.question_id).or_default() += 1;
            pending.waiting.keys.insert(key);
        }
        pending.waiting.events.push(event);
        if pending.waiting.events.len() >= FLUSH_AT {
            self.wake();
        }
        counts
    }

    /// Views of the question this node took and has not written yet.
    pub fn pending(&self, question_id: i64) -> i64 {
        let pending = self.shared.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let writing = pending.writing.as_ref().and_then(|b| b.counts.get(&question_id)).copied().unwrap_or(0);
        let written = pending.written.get(&question_id).copied().unwrap_or(0);
        writing - written + pending.waiting.counts.get(&question_id).copied().unwrap_or(0)
    }

    /// Writes the pending views now.
    pub fn flush(&self, conn: &mut DbConn) -> ApiResult<()> {
        flush(&self.shared, conn)
    }

    /// Stops the writer after a last flush.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.wake();
        if let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }

    fn wake(&self) {
        let mut woken = self.shared.wake.lock().unwrap_or_else(PoisonError::into_inner);
        *woken = true;
        self.shared.condvar.notify_all();
    }
}

fn write_periodically(pool: &DbPool, shared: &Shared) {
    loop {
        let stopping = shared.stop.load(Ordering::SeqCst);
        let outcome = pool.get().map_err(crate::error::ApiError::from).and_then(|mut conn| flush(shared, &mut conn));
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "page views not written yet; retrying");
        }
        if stopping {
            return;
        }
        let guard = shared.wake.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut woken, _) = shared
            .condvar
            .wait_timeout_while(guard, FLUSH_EVERY, |woken| !*woken)
            .unwrap_or_else(PoisonError::into_inner);
        *woken = false;
    }
}

/// Writes the waiting batch, a chunk per transaction. When the database
/// is out of reach what was not written waits for the next flush; when
/// something in it is refused (a question gone meanwhile), those views are
/// written one by one and only the refused ones are dropped.
fn flush(shared: &Shared, conn: &mut DbConn) -> ApiResult<()> {
    let _one_at_a_time = shared.flushing.lock().unwrap_or_else(PoisonError::into_inner);
    let batch = {
        let mut pending = shared.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.waiting.is_empty() {
            return Ok(());
        }
        let batch = Arc::new(std::mem::take(&mut pending.waiting));
        pending.writing = Some(batch.clone());
        pending.written.clear();
        batch
    };
    let (mut outcome, unwritten) = write_in_chunks(shared, conn, &batch);
    if outcome.as_ref().is_err_and(|e| !matches!(e, ApiError::Unavailable(_))) {
        outcome = write_one_by_one(conn, &unwritten);
    }
    let mut pending = shared.pending.lock().unwrap_or_else(PoisonError::into_inner);
    pending.writing = None;
    pending.written.clear();
    if outcome.is_err() {
        pending.waiting.merge_older(unwritten);
    }
    outcome
}

/// Views (and events) per transaction. A second of heavy traffic is ten
/// thousand views, and one transaction for all of them held SQLite's one
/// writer for seconds: the mail and webhook senders timed out behind it in
/// the load bench. Written in chunks, the writer's queue moves between them.
const VIEWS_PER_TRANSACTION: usize = 500;

/// Writes the batch a chunk per transaction, moving each chunk's views
/// from "pending" to "written" as it commits (so a page never shows a
/// view twice); on an error, also returns what was not written.
fn write_in_chunks(shared: &Shared, conn: &mut DbConn, batch: &Batch) -> (ApiResult<()>, Batch) {
    let keys: Vec<&ViewKey> = batch.keys.iter().collect();
    let mut key_chunks = keys.chunks(VIEWS_PER_TRANSACTION);
    let mut event_chunks = batch.events.chunks(VIEWS_PER_TRANSACTION);
    let (mut keys_done, mut events_done) = (0, 0);
    loop {
        let (key_chunk, event_chunk) = match (key_chunks.next(), event_chunks.next()) {
            (None, None) => return (Ok(()), Batch::default()),
            (k, e) => (k.unwrap_or_default(), e.unwrap_or_default()),
        };
        if let Err(e) = write(conn, key_chunk, event_chunk) {
            return (Err(e), Batch::of(&keys[keys_done..], &batch.events[events_done..]));
        }
        let mut pending = shared.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for key in key_chunk {
            *pending.written.entry(key.question_id).or_default() += 1;
        }
        keys_done += key_chunk.len();
        events_done += event_chunk.len();
    }
}

fn write_one_by_one(conn: &mut DbConn, batch: &Batch) -> ApiResult<()> {
    let mut refused = 0;
    let keys = batch.keys.iter().map(|k| (Some(k), &[][..]));
    let events = batch.events.chunks(1).map(|e| (None, e));
    for (key, events) in keys.chain(events) {
        match write(conn, key.as_slice(), events) {
            Ok(()) => {}
            Err(ApiError::Unavailable(detail)) => return Err(ApiError::Unavailable(detail)),
            Err(e) => {
                refused += 1;
                tracing::warn!(error = %e, ?key, "a page view was refused by the database and dropped");
            }
        }
    }
    tracing::warn!(refused, "page views written one by one after the batch was refused");
    Ok(())
}

fn write(conn: &mut DbConn, keys: &[&ViewKey], events: &[StoredEvent]) -> ApiResult<()> {
    let mut keys: Vec<ViewKey> = keys.iter().map(|k| (*k).clone()).collect();
    // One order for every writer: two PostgreSQL nodes flushing the same
    // keys lock them in the same order and cannot deadlock.
    keys.sort_unstable_by(|a, b| (a.question_id, &a.visitor_key, &a.day).cmp(&(b.question_id, &b.visitor_key, &b.day)));
    write_transaction(conn, |conn| -> ApiResult<()> {
        let mut added: HashMap<i64, i64> = HashMap::new();
        for question in store::record_new(conn, &keys)? {
            *added.entry(question).or_default() += 1;
        }
        let mut questions: Vec<(i64, i64)> = added.into_iter().collect();
        questions.sort_unstable();
        for (question, views) in questions {
            db::questions::add_views(conn, question, views)?;
        }
        deflection::store_events(conn, events.to_vec())?;
        Ok(())
    })
}
