//! SQLite's one writer: the queue this process's writers wait in, and group
//! commit on one shared writer connection.
//!
//! SQLite writes one transaction at a time, so a burst of writes runs in
//! series whatever the pool's size. The profile of POST answer on SQLite
//! (bench/results/2026-12-06-profiles.md) spent about a quarter of the
//! writer's time on things that are per transaction rather than per write:
//! BEGIN IMMEDIATE and COMMIT (the WAL frames of every page the write
//! touched, written again by the next one), and reading pages back into
//! whichever pooled connection had the turn (its cache went stale with each
//! other connection's commit). Writers of one process therefore share one
//! connection, whose cache stays warm, and the writers that queue up while
//! one runs join its transaction: each runs in its own savepoint (its error
//! undoes only its own changes), and the last of them commits for all. A
//! writer returns only after that commit, so a 2xx still means committed.
//! When the shared commit fails, every writer of the batch gets an error
//! (a 503: nothing of theirs was written) and none is told it succeeded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, SqliteConnection};

use super::{ConnInstrumentation, DbConn, SQLITE_PAGE_CACHE_KIB, apply_sqlite_pragmas};

/// At most this many writers share one transaction, so that the first of
/// them is not kept waiting behind an endless stream of later ones.
const MAX_BATCH: usize = 32;

/// The writers of one database file in this process.
pub(super) struct WriterQueue {
    /// Where the shared connection goes; `None` for the queue of
    /// connections opened outside [`super::connect`], which write on their
    /// own connection, one at a time.
    target: Option<SharedTarget>,
    state: Mutex<QueueState>,
    changed: Condvar,
    /// The shared writer connection, used only by the holder of the turn
    /// (the mutex only makes that visible to the compiler). Opened on first
    /// use; dropped (which rolls back whatever it had open) when it fails
    /// in a way that leaves its transaction in doubt.
    conn: Mutex<Option<DbConn>>,
}

impl std::fmt::Debug for WriterQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterQueue").field("grouped", &self.target.is_some()).finish_non_exhaustive()
    }
}

struct SharedTarget {
    url: String,
    busy_timeout: Duration,
}

#[derive(Default)]
struct QueueState {
    /// Someone has the turn: runs a write, or commits a batch.
    busy: bool,
    /// Writers waiting for the turn, by ticket, first in line first.
    waiting: VecDeque<u64>,
    next_ticket: u64,
    /// The shared connection's open transaction.
    batch: Option<Batch>,
    next_batch: u64,
    /// How batches ended, kept until each of their writers has read it.
    outcomes: HashMap<u64, Outcome>,
}

struct Batch {
    id: u64,
    writers: usize,
    /// A writer's savepoint could not be undone or released: the batch must
    /// roll back whole.
    failed: Option<String>,
}

struct Outcome {
    error: Option<String>,
    unread: usize,
}

/// Queues by database file: every pool of one process on the same file
/// shares one (the request pool, the indexer's and the view counter's).
/// Held weakly, so a file's queue and its connection go with its last pool.
static WRITER_QUEUES: LazyLock<Mutex<HashMap<String, Weak<WriterQueue>>>> = LazyLock::new(Default::default);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WriterQueue {
    /// The queue of the file at `url`, with group commit.
    pub(super) fn of(url: &str, busy_timeout: Duration) -> Arc<WriterQueue> {
        let mut queues = lock(&WRITER_QUEUES);
        if let Some(queue) = queues.get(url).and_then(Weak::upgrade) {
            return queue;
        }
        queues.retain(|_, queue| queue.strong_count() > 0);
        let queue = Arc::new(WriterQueue::new(Some(SharedTarget { url: url.to_owned(), busy_timeout })));
        queues.insert(url.to_owned(), Arc::downgrade(&queue));
        queue
    }

    /// The queue of connections opened outside [`super::connect`].
    pub(super) fn ungrouped() -> Arc<WriterQueue> {
        static UNGROUPED: LazyLock<Arc<WriterQueue>> = LazyLock::new(|| Arc::new(WriterQueue::new(None)));
        UNGROUPED.clone()
    }

    fn new(target: Option<SharedTarget>) -> WriterQueue {
        WriterQueue { target, state: Mutex::default(), changed: Condvar::new(), conn: Mutex::new(None) }
    }

    pub(super) fn is_grouped(&self) -> bool {
        self.target.is_some()
    }

    /// Waits up to `wait` for the turn and takes it. Turns go in order of
    /// arrival: with anyone free to take a released turn, the mail and
    /// webhook senders' writes lost it to the stream of request writes
    /// until they timed out (the load bench's server logs).
    fn take_turn(&self, wait: Duration) -> Result<MutexGuard<'_, QueueState>, DieselError> {
        let mut state = lock(&self.state);
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push_back(ticket);
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, wait, |s| s.busy || s.waiting.front() != Some(&ticket))
            .unwrap_or_else(PoisonError::into_inner);
        if state.busy || state.waiting.front() != Some(&ticket) {
            // A released turn goes to the first in line, who cannot have
            // timed out while it was free: leaving never strands a batch.
            state.waiting.retain(|t| *t != ticket);
            drop(state);
            self.changed.notify_all();
            return Err(locked("waited for this process's writer queue"));
        }
        state.waiting.pop_front();
        state.busy = true;
        Ok(state)
    }

    /// Takes the turn for a writer on its own connection (the ungrouped
    /// queue): released when the guard drops.
    pub(super) fn own_turn(self: &Arc<Self>, wait: Duration) -> Result<OwnTurn, DieselError> {
        drop(self.take_turn(wait)?);
        Ok(OwnTurn(self.clone()))
    }

    fn release_turn(&self, mut state: MutexGuard<'_, QueueState>) {
        state.busy = false;
        drop(state);
        self.changed.notify_all();
    }

    /// Runs `f` as one writer of a shared batch; see the module's comment.
    /// `caller` is the instrumentation of the caller's own connection: the
    /// shared connection counts its statements into the caller's pool.
    pub(super) fn run_grouped<T, E, F>(
        &self,
        caller: Option<&ConnInstrumentation>,
        wait: Duration,
        f: F,
    ) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E>,
        E: From<DieselError>,
    {
        let mut state = self.take_turn(wait)?;
        let mut turn = Turn { queue: self, batch: None };
        let batch = match &mut state.batch {
            Some(batch) => {
                batch.writers += 1;
                batch.id
            }
            None => {
                drop(state);
                let id = turn.begin_batch()?;
                state = lock(&self.state);
                id
            }
        };
        turn.batch = Some(batch);
        drop(state);

        let (result, savepoint_failure) = {
            let mut conn = lock(&self.conn);
            let conn = conn.as_mut().expect("an open batch has its connection");
            count_into(conn, caller);
            run_in_savepoint(conn, f)
        };

        let mut state = lock(&self.state);
        let open = state.batch.as_mut().expect("the batch stays open while a writer has the turn");
        if let Some(failure) = savepoint_failure {
            open.failed.get_or_insert(failure);
        }
        let full_or_failed = open.writers >= MAX_BATCH || open.failed.is_some();
        let commit_now = full_or_failed || state.waiting.is_empty();
        let outcome = if commit_now {
            drop(state);
            turn.finish_batch()
        } else {
            // A writer waiting now takes the turn, and it (or one after it)
            // commits: wait for that.
            turn.batch = None;
            self.release_turn(state);
            self.outcome_of(batch)
        };
        match (outcome, result) {
            // Its own error: nothing of it was written, whatever the batch did.
            (_, Err(e)) => Err(e),
            (Ok(()), Ok(value)) => Ok(value),
            (Err(message), Ok(_)) => Err(E::from(batch_failed(&message))),
        }
    }

    /// Waits for the batch's commit (someone else's) and reads its outcome.
    fn outcome_of(&self, batch: u64) -> Result<(), String> {
        let state = lock(&self.state);
        let mut state = self
            .changed
            .wait_while(state, |s| !s.outcomes.contains_key(&batch))
            .unwrap_or_else(PoisonError::into_inner);
        let outcome = state.outcomes.get_mut(&batch).expect("waited for it");
        outcome.unread -= 1;
        let error = outcome.error.clone();
        if outcome.unread == 0 {
            state.outcomes.remove(&batch);
        }
        error.map_or(Ok(()), Err)
    }
}

/// The holder of the turn in a batch. Ends the batch if dropped while
/// still responsible for it (a writer's code panicked): the connection is
/// dropped, which rolls the batch back, and its writers get an error.
struct Turn<'q> {
    queue: &'q WriterQueue,
    /// The batch this turn must end, while it must.
    batch: Option<u64>,
}

impl Turn<'_> {
    /// Opens the shared connection when needed and starts a batch on it:
    /// `BEGIN IMMEDIATE` takes SQLite's write lock up front (waiting for
    /// other processes under `busy_timeout`).
    fn begin_batch(&mut self) -> Result<u64, DieselError> {
        let queue = self.queue;
        let target = queue.target.as_ref().expect("only grouped queues batch");
        let began = {
            let mut conn = lock(&queue.conn);
            open_if_closed(&mut conn, target).and_then(|c| match c {
                DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"),
                DbConn::Postgres(_) => unreachable!("only SQLite queues its writers"),
            })
        };
        let mut state = lock(&queue.state);
        if let Err(e) = began {
            queue.release_turn(state);
            return Err(e);
        }
        let id = state.next_batch;
        state.next_batch += 1;
        state.batch = Some(Batch { id, writers: 1, failed: None });
        self.batch = Some(id);
        Ok(id)
    }

    /// Commits the open batch (or rolls it back, when one of its writers
    /// left it in doubt), tells its other writers and gives up the turn.
    fn finish_batch(&mut self) -> Result<(), String> {
        let queue = self.queue;
        let failed = lock(&queue.state).batch.as_ref().and_then(|b| b.failed.clone());
        let committed = {
            let mut conn = lock(&queue.conn);
            let result = match (failed, conn.as_mut()) {
                (Some(failure), _) => Err(failure),
                (None, Some(c)) => {
                    <DbConn as Connection>::TransactionManager::commit_transaction(c).map_err(|e| e.to_string())
                }
                (None, None) => Err("the writer connection was lost".to_owned()),
            };
            if result.is_err() {
                // Dropping the connection rolls back whatever is still open.
                *conn = None;
            }
            result
        };
        self.end_batch(committed.clone().err());
        committed
    }

    fn end_batch(&mut self, error: Option<String>) {
        let queue = self.queue;
        let mut state = lock(&queue.state);
        let batch = state.batch.take().expect("the turn's batch is open");
        if batch.writers > 1 {
            state.outcomes.insert(batch.id, Outcome { error, unread: batch.writers - 1 });
        }
        self.batch = None;
        queue.release_turn(state);
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if self.batch.is_some() {
            *lock(&self.queue.conn) = None;
            self.end_batch(Some("a writer of this batch failed".to_owned()));
        }
    }
}

/// The shared connection, opened first if it is not (or no longer) open.
fn open_if_closed<'c>(slot: &'c mut Option<DbConn>, target: &SharedTarget) -> Result<&'c mut DbConn, DieselError> {
    if slot.is_none() {
        let mut conn = SqliteConnection::establish(&target.url)
            .map_err(|e| DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, Box::new(e.to_string())))?;
        apply_sqlite_pragmas(&mut conn, target.busy_timeout, SQLITE_PAGE_CACHE_KIB)?;
        *slot = Some(DbConn::Sqlite(conn));
    }
    Ok(slot.as_mut().expect("just opened"))
}

/// Runs one writer in a savepoint of the batch: released when it succeeds,
/// rolled back to when it fails. Also returns why the batch must roll back
/// whole, when the savepoint could be neither.
fn run_in_savepoint<T, E, F>(conn: &mut DbConn, f: F) -> (Result<T, E>, Option<String>)
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<DieselError>,
{
    type Manager = <DbConn as Connection>::TransactionManager;
    if let Err(e) = Manager::begin_transaction(conn) {
        let failure = e.to_string();
        return (Err(E::from(e)), Some(failure));
    }
    let result = f(conn);
    let ended = match &result {
        Ok(_) => Manager::commit_transaction(conn),
        Err(_) => Manager::rollback_transaction(conn),
    };
    let failure = match ended {
        Err(e) => Some(e.to_string()),
        // Back at the batch's own level, or something inside went wrong.
        Ok(()) if transaction_depth(conn) != Some(1) => Some("a writer left its savepoint open".to_owned()),
        Ok(()) => None,
    };
    (result, failure)
}

fn transaction_depth(conn: &mut DbConn) -> Option<u32> {
    let DbConn::Sqlite(c) = conn else { return None };
    AnsiTransactionManager::transaction_manager_status_mut(c)
        .transaction_depth()
        .ok()
        .flatten()
        .map(|depth| depth.get())
}

/// Points the shared connection's statement counter at the caller's pool.
fn count_into(conn: &mut DbConn, caller: Option<&ConnInstrumentation>) {
    let DbConn::Sqlite(c) = conn else { return };
    let Some(caller) = caller else { return };
    let same = c
        .instrumentation()
        .downcast_ref::<ConnInstrumentation>()
        .is_some_and(|current| Arc::ptr_eq(&current.queries, &caller.queries));
    if !same {
        c.set_instrumentation(ConnInstrumentation {
            queries: caller.queries.clone(),
            writer: None,
            last_success: None,
        });
    }
}

/// A writer's turn on its own connection; released on drop.
pub(super) struct OwnTurn(Arc<WriterQueue>);

impl Drop for OwnTurn {
    fn drop(&mut self) {
        self.0.release_turn(lock(&self.0.state));
    }
}

/// The error of a write started inside another write's transaction, on
/// the same thread: it would wait for itself.
pub(super) fn nested_write() -> DieselError {
    DieselError::DatabaseError(
        DatabaseErrorKind::Unknown,
        Box::new("a write transaction cannot start inside another on the same thread".to_owned()),
    )
}

fn locked(why: &str) -> DieselError {
    DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(format!("database is locked ({why})")))
}

/// The error of a writer whose batch did not commit: nothing of it was
/// written, and it may retry (a 503).
fn batch_failed(cause: &str) -> DieselError {
    DieselError::DatabaseError(
        DatabaseErrorKind::UnableToSendCommand,
        Box::new(format!("this write's shared transaction did not commit: {cause}")),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::thread;

    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::{QueryableByName, RunQueryDsl};

    use super::*;
    use crate::store::{DbPool, PoolOptions, connect, write_transaction};

    /// A pool on a fresh SQLite file with one table `t(id)`.
    fn pool_on_new_file(name: &str) -> (DbPool, std::path::PathBuf) {
        pool_with_timeout(name, Duration::from_secs(10))
    }

    fn pool_with_timeout(name: &str, timeout: Duration) -> (DbPool, std::path::PathBuf) {
        let unique = format!("{}-{}", std::process::id(), name);
        let dir = std::env::temp_dir().join(format!("agora-writer-{unique}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let options = PoolOptions::new(16, timeout);
        let (pool, _) = connect(path.to_str().unwrap(), &options).unwrap();
        pool.get().unwrap().batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY)").unwrap();
        (pool, dir)
    }

    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }

    fn ids(pool: &DbPool) -> Vec<i64> {
        let rows: Vec<Id> = diesel::sql_query("SELECT id FROM t ORDER BY id").load(&mut pool.get().unwrap()).unwrap();
        rows.into_iter().map(|r| r.id).collect()
    }

    fn insert(conn: &mut DbConn, id: i64) -> Result<(), DieselError> {
        diesel::sql_query(format!("INSERT INTO t (id) VALUES ({id})")).execute(conn)?;
        Ok(())
    }

    fn batches_begun(pool: &DbPool) -> u64 {
        let mut conn = pool.get().unwrap();
        let DbConn::Sqlite(c) = &mut *conn else { unreachable!() };
        lock(&WriterSlotOf::of(c).state).next_batch
    }

    /// The test's way to the queue a pool's connections carry.
    struct WriterSlotOf;
    impl WriterSlotOf {
        fn of(c: &mut SqliteConnection) -> Arc<WriterQueue> {
            super::super::WriterSlot::of(c).queue
        }
    }

    #[test]
    fn writers_that_queue_together_share_a_commit_and_each_failure_undoes_only_its_own_writes() {
        let (pool, dir) = pool_on_new_file("share");
        let threads = 8;
        let per_thread = 25;
        let start = Barrier::new(threads);
        thread::scope(|scope| {
            for t in 0..threads {
                let (pool, start) = (&pool, &start);
                scope.spawn(move || {
                    start.wait();
                    for i in 0..per_thread {
                        let id = (t * per_thread + i) as i64;
                        let mut conn = pool.get().unwrap();
                        let result = write_transaction(&mut conn, |c| {
                            insert(c, id)?;
                            // Holding the turn a moment lets the others queue up.
                            thread::sleep(Duration::from_micros(300));
                            // Every fifth writer fails after writing: its row must go.
                            if id % 5 == 0 { Err(DieselError::RollbackTransaction) } else { Ok(()) }
                        });
                        assert_eq!(result.is_ok(), id % 5 != 0, "writer {id}: {result:?}");
                        // Acknowledged means committed: visible at once on another connection.
                        if result.is_ok() {
                            let seen = ids(pool);
                            assert!(seen.contains(&id), "writer {id} returned before its commit");
                        }
                    }
                });
            }
        });
        let expected: Vec<i64> = (0..(threads * per_thread) as i64).filter(|id| id % 5 != 0).collect();
        assert_eq!(ids(&pool), expected);
        let batches = batches_begun(&pool);
        assert!(
            batches < (threads * per_thread) as u64 / 2,
            "{batches} transactions for {} writers: they did not share commits",
            threads * per_thread
        );
        drop(pool);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_writer_that_panics_fails_its_batch_without_losing_or_faking_anyone_elses_write() {
        let (pool, dir) = pool_on_new_file("panic");
        let threads = 6;
        let start = Barrier::new(threads);
        let outcomes: Vec<(i64, bool)> = thread::scope(|scope| {
            let handles: Vec<_> = (0..threads as i64)
                .map(|id| {
                    let (pool, start) = (&pool, &start);
                    scope.spawn(move || {
                        start.wait();
                        let mut conn = pool.get().unwrap();
                        let result = write_transaction(&mut conn, |c| {
                            insert(c, id)?;
                            thread::sleep(Duration::from_millis(2));
                            if id == 2 {
                                panic!("writer 2 fails hard");
                            }
                            Ok::<_, DieselError>(())
                        });
                        (id, result.is_ok())
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        assert_eq!(outcomes.len(), threads - 1, "only the panicking writer's thread panicked");
        // Whoever was told "written" is in the table; whoever was not, is not.
        let stored = ids(&pool);
        for (id, ok) in outcomes {
            assert_eq!(stored.contains(&id), ok, "writer {id}: told ok={ok}, stored {stored:?}");
        }
        assert!(!stored.contains(&2));
        // The queue recovers: a new connection, and writes go on.
        let mut conn = pool.get().unwrap();
        write_transaction(&mut conn, |c| insert(c, 100)).unwrap();
        assert!(ids(&pool).contains(&100));
        drop((conn, pool));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn turns_go_in_order_of_arrival_so_no_writer_waits_out_its_timeout_behind_busier_ones() {
        // Six writers in tight loops, as a stream of requests is: a writer
        // that just committed asks again at once. In line, each waits for
        // at most the five others' turns (a few ms each), far inside the
        // timeout, however the threads are scheduled.
        let (pool, dir) = pool_with_timeout("fair", Duration::from_millis(250));
        let until = std::time::Instant::now() + Duration::from_millis(1500);
        let next_id = std::sync::atomic::AtomicI64::new(0);
        let timed_out = std::sync::atomic::AtomicUsize::new(0);
        thread::scope(|scope| {
            for _ in 0..6 {
                scope.spawn(|| {
                    let mut conn = pool.get().unwrap();
                    while std::time::Instant::now() < until {
                        let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let result = write_transaction(&mut conn, |c| {
                            insert(c, id)?;
                            thread::sleep(Duration::from_millis(2));
                            Ok::<_, DieselError>(())
                        });
                        if result.is_err() {
                            timed_out.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let written = ids(&pool).len();
        assert_eq!(timed_out.into_inner(), 0, "writers timed out in the queue ({written} writes made it)");
        drop(pool);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_nested_write_fails_instead_of_waiting_for_itself() {
        let (pool, dir) = pool_on_new_file("nested");
        let mut conn = pool.get().unwrap();
        let mut other = pool.get().unwrap();
        let result = write_transaction(&mut conn, |_| write_transaction(&mut other, |c| insert(c, 1)));
        assert!(result.is_err());
        assert!(ids(&pool).is_empty());
        drop((conn, other, pool));
        let _ = std::fs::remove_dir_all(dir);
    }
}
