//! The indexer: one thread per process that owns the index writer, tails
//! `search_outbox` and keeps the search index following the database
//! (docs/architecture.md, "Writes and the search index").
//!
//! Every ~200 ms it reads new outbox entries, re-reads each affected
//! question with its answers and replaces (or deletes) its document, then
//! commits with the applied position in the commit payload. On PostgreSQL a
//! transaction can commit an entry whose position is lower than one already
//! applied, so the positions passed over are looked up again for 30 seconds
//! ([`Gaps`]); after a start, when those are unknown, the entries of the
//! last 30 seconds at or below the position are applied again (re-applying
//! is harmless).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use search_index::{IndexWriterHandle, OpenOutcome, QuestionDoc, SearchIndex};

use crate::clock::Clock;
use crate::store::search::IndexableQuestion;
use crate::store::{self, DbPool};

/// Entries read per poll.
const BATCH: i64 = 2000;
/// How long a late commit is waited for.
const LOOK_BACK: Duration = Duration::from_secs(30);
/// Positions passed over that are remembered at most.
const MAX_GAPS: usize = 10_000;
/// Outbox entries older than this are pruned.
const OUTBOX_RETENTION_DAYS: i64 = 7;
/// The online writer's arena (tantivy's minimum is 15 MB): batches are a
/// few hundred questions at most.
const WRITER_HEAP_BYTES: usize = 24 * 1024 * 1024;
/// Questions per batch when rebuilding.
const REBUILD_BATCH: i64 = 500;

/// What the rest of the process can see of the indexer.
#[derive(Debug, Default)]
pub struct IndexerStatus {
    /// The index has been built and is following the outbox.
    pub ready: AtomicBool,
    /// The last applied outbox position.
    pub position: AtomicI64,
    /// The newest outbox position seen.
    pub head: AtomicI64,
    /// Unix seconds of the last commit.
    pub last_commit_at: AtomicI64,
    /// Index commits made visible to searches (a change counter for
    /// the read cache).
    pub commits: AtomicU64,
}

impl IndexerStatus {
    /// Outbox entries not yet applied.
    pub fn lag_entries(&self) -> i64 {
        (self.head.load(Ordering::Relaxed) - self.position.load(Ordering::Relaxed)).max(0)
    }
}

#[derive(Default)]
struct Signal {
    wake: Mutex<bool>,
    condvar: Condvar,
    stop: AtomicBool,
}

impl Signal {
    /// Waits until woken, stopped, or `timeout` passes.
    fn wait(&self, timeout: Duration) {
        let Ok(guard) = self.wake.lock() else { return };
        let Ok((mut woken, _)) = self.condvar.wait_timeout_while(guard, timeout, |w| !*w) else { return };
        *woken = false;
    }

    fn notify(&self) {
        if let Ok(mut woken) = self.wake.lock() {
            *woken = true;
            self.condvar.notify_all();
        }
    }
}

/// The running indexer; dropping it stops the thread after a last commit.
pub struct Indexer {
    signal: Arc<Signal>,
    pub status: Arc<IndexerStatus>,
    thread: Option<JoinHandle<()>>,
}

impl Indexer {
    /// Starts the indexer thread. A missing, corrupt, outdated or too-far-
    /// behind index is rebuilt first (search answers 503 until then).
    pub fn start(
        pool: DbPool,
        index: Arc<SearchIndex>,
        outcome: OpenOutcome,
        clock: Clock,
        commit_every: Duration,
    ) -> std::io::Result<Indexer> {
        let signal = Arc::new(Signal::default());
        let status = Arc::new(IndexerStatus::default());
        let worker = Worker { pool, index, clock, signal: signal.clone(), status: status.clone(), commit_every };
        let thread = std::thread::Builder::new().name("indexer".to_owned()).spawn(move || worker.run(outcome))?;
        Ok(Indexer { signal, status, thread: Some(thread) })
    }

    /// Asks for a poll now (after a write, so search follows quickly).
    pub fn nudge(&self) {
        self.signal.notify();
    }

    /// Stops after applying what is pending and committing.
    pub fn stop(&mut self) {
        self.signal.stop.store(true, Ordering::SeqCst);
        self.signal.notify();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    pool: DbPool,
    index: Arc<SearchIndex>,
    clock: Clock,
    signal: Arc<Signal>,
    status: Arc<IndexerStatus>,
    commit_every: Duration,
}

/// Why a pass failed; the worker logs it and tries again.
#[derive(Debug, thiserror::Error)]
enum PassError {
    #[error(transparent)]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Index(#[from] search_index::SearchError),
}

impl Worker {
    fn run(self, outcome: OpenOutcome) {
        let mut writer = loop {
            match self.index.single_threaded_writer(WRITER_HEAP_BYTES) {
                Ok(writer) => break writer,
                Err(e) => {
                    tracing::error!(error = %e, "cannot take the index writer; retrying");
                    if self.stopping_after(Duration::from_secs(2)) {
                        return;
                    }
                }
            }
        };
        let mut position = match self.initial_position(&mut writer, outcome) {
            Some(position) => position,
            None => return,
        };
        self.status.ready.store(true, Ordering::SeqCst);
        // The gaps the last process was waiting on are unknown: the first
        // pass re-applies the whole look-back window.
        let mut gaps: Option<Gaps> = None;
        let mut last_prune = Instant::now();
        loop {
            let stopping = self.signal.stop.load(Ordering::SeqCst);
            let mut more_waiting = false;
            match self.pass(&mut writer, position, &mut gaps) {
                Ok((next, full_batch)) => {
                    position = next;
                    more_waiting = full_batch;
                }
                Err(e) => tracing::warn!(error = %e, "indexer pass failed; will retry"),
            }
            if stopping {
                return;
            }
            if last_prune.elapsed() > Duration::from_secs(600) {
                self.prune_outbox();
                last_prune = Instant::now();
            }
            if !more_waiting {
                self.signal.wait(self.commit_every);
            }
        }
    }

    fn stopping_after(&self, pause: Duration) -> bool {
        self.signal.wait(pause);
        self.signal.stop.load(Ordering::SeqCst)
    }

    /// The position to follow from, rebuilding when the index is unusable
    /// or behind entries the outbox no longer has. `None` when stopped.
    fn initial_position(&self, writer: &mut IndexWriterHandle, outcome: OpenOutcome) -> Option<i64> {
        loop {
            let decision = match &outcome {
                OpenOutcome::Ready { position } => self.pruned_past(*position).map(|pruned| (pruned, *position)),
                OpenOutcome::Rebuild { reason } => Ok((Some(reason.clone()), 0)),
            };
            let result = match decision {
                Ok((None, position)) => Ok(position),
                Ok((Some(reason), _)) => {
                    tracing::info!(%reason, "rebuilding the search index from the database");
                    rebuild(&self.pool, writer, &self.index, |_, _| {}).map_err(PassError::from)
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(position) => {
                    self.status.position.store(position, Ordering::SeqCst);
                    self.status.commits.fetch_add(1, Ordering::SeqCst);
                    return Some(position);
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot prepare the search index; retrying");
                    if self.stopping_after(Duration::from_secs(2)) {
                        return None;
                    }
                }
            }
        }
    }

    /// `Some(reason)` when entries after `position` were pruned unapplied.
    fn pruned_past(&self, position: i64) -> Result<Option<String>, PassError> {
        let mut conn = self.pool.get()?;
        let tail = store::search::outbox_tail(&mut conn)?;
        Ok(match tail {
            Some(tail) if tail > position + 1 => {
                Some(format!("the outbox was pruned past the index (index at {position}, outbox from {tail})"))
            }
            _ => None,
        })
    }

    /// Applies new (and late) outbox entries and commits. Returns the new
    /// position and whether a full batch was read (more may be waiting).
    fn pass(
        &self,
        writer: &mut IndexWriterHandle,
        position: i64,
        gaps: &mut Option<Gaps>,
    ) -> Result<(i64, bool), PassError> {
        let mut conn = self.pool.get()?;
        let now = Instant::now();
        let mut entries = store::outbox::after(&mut conn, position, BATCH)?;
        let full_batch = entries.len() as i64 >= BATCH;
        let new_positions: Vec<i64> = entries.iter().map(|&(id, _)| id).collect();
        let late = match gaps {
            Some(gaps) => store::outbox::with_ids(&mut conn, &gaps.current(now))?,
            None => {
                let since = self.clock.now() - chrono::Duration::from_std(LOOK_BACK).unwrap_or_default();
                store::search::outbox_recent_at_or_below(&mut conn, position, since)?
            }
        };
        let late_positions: Vec<i64> = late.iter().map(|&(id, _)| id).collect();
        entries.extend(late);
        self.status.head.store(store::search::outbox_head(&mut conn)?.max(position), Ordering::Relaxed);
        let next = new_positions.last().copied().unwrap_or(position).max(position);
        if !entries.is_empty() {
            let question_ids: BTreeSet<i64> = entries.iter().map(|&(_, q)| q).collect();
            let ids: Vec<i64> = question_ids.iter().copied().collect();
            apply(writer, store::search::load(&mut conn, &ids)?, &ids)?;
            drop(conn);
            writer.commit(next)?;
            self.index.reload()?;
            self.status.position.store(next, Ordering::SeqCst);
            self.status.commits.fetch_add(1, Ordering::SeqCst);
            self.status.last_commit_at.store(self.clock.now_utc().timestamp(), Ordering::Relaxed);
        }
        // Only once committed: a failed pass is retried from the same place.
        let gaps = gaps.get_or_insert_with(Gaps::default);
        gaps.filled(late_positions);
        gaps.note(position, &new_positions, now);
        Ok((next, full_batch))
    }

    fn prune_outbox(&self) {
        let cutoff = self.clock.now() - chrono::Duration::days(OUTBOX_RETENTION_DAYS);
        let result = self
            .pool
            .get()
            .map_err(PassError::from)
            .and_then(|mut conn| store::search::prune_outbox(&mut conn, cutoff).map_err(PassError::from));
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot prune the search outbox");
        }
    }
}

/// Outbox positions the indexer passed without seeing an entry. On
/// PostgreSQL a transaction can take a position and commit after higher
/// ones were applied; its entry then appears in such a gap. Each gap is
/// looked up again on every pass until it is found or `LOOK_BACK` has gone
/// by (a rolled-back transaction leaves a gap that never fills).
#[derive(Debug, Default)]
struct Gaps {
    noted_at: BTreeMap<i64, Instant>,
}

impl Gaps {
    /// Notes the positions after `position` up to the last of `seen`
    /// (ascending) that are not in `seen`. Only the newest `MAX_GAPS` are
    /// kept: a bigger hole is a sequence jump, not transactions in flight.
    fn note(&mut self, position: i64, seen: &[i64], now: Instant) {
        let mut previous = position;
        for &id in seen {
            let from = (previous + 1).max(id - MAX_GAPS as i64);
            for missing in from..id {
                self.noted_at.entry(missing).or_insert(now);
            }
            previous = previous.max(id);
        }
        while self.noted_at.len() > MAX_GAPS {
            self.noted_at.pop_first();
        }
    }

    /// Forgets gaps older than the look-back and returns those left.
    fn current(&mut self, now: Instant) -> Vec<i64> {
        self.noted_at.retain(|_, noted| now.duration_since(*noted) < LOOK_BACK);
        self.noted_at.keys().copied().collect()
    }

    fn filled(&mut self, ids: impl IntoIterator<Item = i64>) {
        for id in ids {
            self.noted_at.remove(&id);
        }
    }
}

/// Replaces the documents of `ids`: the listed questions `loaded` holds are
/// (re)indexed, the rest (hidden, deleted, merged away, gone) removed.
fn apply(writer: &mut IndexWriterHandle, loaded: Vec<IndexableQuestion>, ids: &[i64]) -> search_index::Result<()> {
    let mut loaded: HashMap<i64, IndexableQuestion> = loaded.into_iter().map(|q| (q.question.id, q)).collect();
    for id in ids {
        match loaded.remove(id) {
            Some(q) => writer.upsert(&document(q))?,
            None => writer.delete(*id),
        }
    }
    Ok(())
}

fn unix(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp()
}

/// The index document of a question (taking its text, not copying it).
pub fn document(q: IndexableQuestion) -> QuestionDoc {
    let question = q.question;
    QuestionDoc {
        id: question.id,
        title: question.title,
        body: question.body,
        answers: q.answers,
        tags: q.tags,
        category_slug: q.category_slug,
        category_name: q.category_name,
        area: question.area,
        status: question.status,
        score: question.score.into(),
        answer_count: question.answer_count.max(0) as u64,
        accepted: question.accepted_answer_id.is_some(),
        verified: question.has_verified_answer,
        created_at: unix(question.created_at),
        activity_at: unix(question.last_activity_at),
        closed: question.closed_at.is_some(),
        duplicate_of: question.closed_at.and(question.duplicate_of),
    }
}

/// Rebuilds the whole index from the database and commits it at the outbox
/// head read before the first question (so anything written during the
/// rebuild is applied again afterwards). `progress(done, total)` is called
/// after each batch. Returns the committed position.
pub fn rebuild(
    pool: &DbPool,
    writer: &mut IndexWriterHandle,
    index: &SearchIndex,
    mut progress: impl FnMut(u64, u64),
) -> Result<i64, RebuildError> {
    let mut conn = pool.get()?;
    let head = store::search::outbox_head(&mut conn)?;
    let total = store::search::count_visible(&mut conn)?.max(0) as u64;
    writer.delete_all()?;
    let (mut after, mut done) = (0i64, 0u64);
    loop {
        let ids = store::search::visible_ids_after(&mut conn, after, REBUILD_BATCH)?;
        let Some(&last) = ids.last() else { break };
        // After `delete_all`, nothing to replace: adding skips a delete per
        // question.
        for q in store::search::load(&mut conn, &ids)? {
            writer.add(&document(q))?;
        }
        after = last;
        done += ids.len() as u64;
        progress(done, total);
    }
    writer.commit(head)?;
    index.reload()?;
    Ok(head)
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Index(#[from] search_index::SearchError),
}

impl From<RebuildError> for PassError {
    fn from(e: RebuildError) -> PassError {
        match e {
            RebuildError::Pool(e) => PassError::Pool(e),
            RebuildError::Database(e) => PassError::Database(e),
            RebuildError::Index(e) => PassError::Index(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_the_positions_passed_over_until_filled_or_too_old() {
        let start = Instant::now();
        let mut gaps = Gaps::default();
        gaps.note(10, &[11, 14, 15, 18], start);
        assert_eq!(gaps.current(start), vec![12, 13, 16, 17]);
        gaps.filled([13, 16]);
        assert_eq!(gaps.current(start + Duration::from_secs(1)), vec![12, 17]);
        // Noting again does not make a gap younger.
        gaps.note(18, &[20], start + LOOK_BACK / 2);
        assert_eq!(gaps.current(start + LOOK_BACK), vec![19]);
    }

    #[test]
    fn gaps_are_bounded() {
        let now = Instant::now();
        let mut gaps = Gaps::default();
        gaps.note(0, &[1_000_000], now);
        let kept = gaps.current(now);
        assert_eq!(kept.len(), MAX_GAPS);
        assert_eq!(kept.last(), Some(&999_999), "the newest are kept");
    }
}
