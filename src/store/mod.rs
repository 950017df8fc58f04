//! Storage: one connection type over SQLite (embedded default) and
//! PostgreSQL (production), the pool, migrations and transactions.
//!
//! Everything above this module talks to `DbConn` and never to a concrete
//! backend; backend-specific SQL stays in here.

pub mod answers;
pub mod api_keys;
pub mod audit;
pub mod badges;
pub mod cached_sql;
pub mod categories;
pub mod close_votes;
pub mod comments;
pub mod deflection;
pub mod deflection_reports;
pub mod deflection_state;
pub mod dump;
pub mod escalations;
pub mod flags;
pub mod follows;
pub mod id_list;
pub mod imports;
pub mod login_failures;
pub mod mail;
pub mod moderation;
pub mod notifications;
pub mod outbox;
pub mod personal_data;
pub mod plausibility;
pub mod questions;
pub mod rate_limits;
pub mod refresh_tokens;
pub mod reputation;
pub mod retention;
pub mod revisions;
pub mod schema;
pub mod search;
pub mod stats;
pub mod tags;
pub mod users;
pub mod views;
pub mod votes;
pub mod webhooks;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{
    AnsiTransactionManager, Instrumentation, InstrumentationEvent, SimpleConnection, TransactionManager,
};
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::result::{ConnectionError, DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use writer::{OwnTurn, WriterQueue};

/// A connection to whichever database the deployment uses.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = Pool<DbConnManager>;
pub type PooledConn = PooledConnection<DbConnManager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Which database a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Pool settings that matter for behaviour under load and failure.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a request waits for a connection before it gets a 503.
    pub connection_timeout: Duration,
    /// SQLite: each connection's page cache, in KiB.
    pub sqlite_page_cache_kib: u32,
}

impl PoolOptions {
    /// A pool of `max_size` connections with SQLite's default page cache.
    pub fn new(max_size: u32, connection_timeout: Duration) -> PoolOptions {
        PoolOptions { max_size, connection_timeout, sqlite_page_cache_kib: SQLITE_PAGE_CACHE_KIB }
    }

    /// The same pool with `kib` of page cache per SQLite connection.
    pub fn with_sqlite_page_cache_kib(self, kib: u32) -> PoolOptions {
        PoolOptions { sqlite_page_cache_kib: kib.max(1), ..self }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreSetupError {
    #[error("cannot open the database: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("cannot migrate the database: {0}")]
    Migrate(String),
}

/// Opens connections of the backend the URL names. (The derived
/// `DbConn::establish` would try each backend in turn, so a PostgreSQL
/// outage would surface as a confusing SQLite file error.)
#[derive(Debug)]
pub struct DbConnManager {
    url: String,
    backend: Backend,
    queries: QueryCounter,
    /// SQLite's busy_timeout: how long a statement waits for another
    /// process's lock before failing (and the request getting a 503).
    busy_timeout: Duration,
    /// SQLite: each connection's page cache, in KiB.
    page_cache_kib: u32,
    /// SQLite: the database's writer queue and how long to wait in it.
    writer: WriterSlot,
}

/// Counts the SQL statements a pool runs: exported as a metric, and what
/// the no-N+1 tests measure.
#[derive(Debug, Clone, Default)]
pub struct QueryCounter(Arc<AtomicU64>);

impl QueryCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn instrument(&self, conn: &mut impl Connection, writer: Option<WriterSlot>) {
        conn.set_instrumentation(ConnInstrumentation { queries: self.0.clone(), writer, last_success: None });
    }
}

/// What each connection carries: the pool's statement counter, when its
/// last statement succeeded and, on SQLite, its database's writer queue
/// (found again by downcasting in [`write_transaction`], as a connection
/// has no other place for it).
struct ConnInstrumentation {
    queries: Arc<AtomicU64>,
    writer: Option<WriterSlot>,
    last_success: Option<Instant>,
}

impl Instrumentation for ConnInstrumentation {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                self.queries.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::FinishQuery { error: None, .. } => self.last_success = Some(Instant::now()),
            _ => {}
        }
    }
}

/// A PostgreSQL connection whose last statement succeeded this recently is
/// handed out without a ping (HikariCP's `aliveBypassWindowMs`, 500 ms by
/// default): under load that spares a round trip per checkout, and a
/// connection lost since fails its next statement as one lost during it
/// would.
const ALIVE_WITHOUT_PING: Duration = Duration::from_millis(500);

fn recently_alive(conn: &mut PgConnection) -> bool {
    conn.instrumentation()
        .downcast_ref::<ConnInstrumentation>()
        .and_then(|i| i.last_success)
        .is_some_and(|at| at.elapsed() < ALIVE_WITHOUT_PING)
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    #[error(transparent)]
    Query(#[from] DieselError),
}

impl ManageConnection for DbConnManager {
    type Connection = DbConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<DbConn, ConnectError> {
        match self.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.url)?;
                self.queries.instrument(&mut conn, None);
                Ok(DbConn::Postgres(conn))
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url)?;
                apply_sqlite_pragmas(&mut conn, self.busy_timeout, self.page_cache_kib)?;
                self.queries.instrument(&mut conn, Some(self.writer.clone()));
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectError> {
        match self.backend {
            // A connection to a local file does not go stale the way a
            // network connection does; skipping the check saves a
            // statement on every checkout.
            Backend::Sqlite => Ok(()),
            Backend::Postgres => {
                if let DbConn::Postgres(c) = conn
                    && recently_alive(c)
                {
                    return Ok(());
                }
                conn.ping().map_err(ConnectError::Query)
            }
        }
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

/// Each SQLite connection's page cache, in KiB, unless its pool says
/// otherwise (SQLite's own default, made explicit): SQLite's memory is
/// about the connections' number times this. A
/// process-wide `soft_heap_limit` would not bound it: SQLite enforces that
/// only with memory statistics on, and they are compiled off (see
/// .cargo/config.toml) so that every allocation skips a global mutex.
const SQLITE_PAGE_CACHE_KIB: u32 = 2048;

/// WAL so readers never block the writer, a busy timeout so writers of
/// other processes queue instead of failing at once (but not forever),
/// foreign keys (off by default), and a bound on each page cache.
fn apply_sqlite_pragmas(
    conn: &mut SqliteConnection,
    busy_timeout: Duration,
    page_cache_kib: u32,
) -> Result<(), DieselError> {
    conn.batch_execute(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = {};
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -{page_cache_kib};",
        busy_timeout.as_millis()
    ))
}

/// Opens a pool on `url` (a `postgres://` URL or a SQLite file path).
pub fn connect(url: &str, options: &PoolOptions) -> Result<(DbPool, QueryCounter), StoreSetupError> {
    let queries = QueryCounter::default();
    let pool = connect_counted(url, options, queries.clone())?;
    Ok((pool, queries))
}

/// Opens a pool on `url` whose statements count on `queries` (another
/// pool's counter, so that a request's statements count alike whichever
/// of its node's pools ran them).
pub fn connect_counted(url: &str, options: &PoolOptions, queries: QueryCounter) -> Result<DbPool, StoreSetupError> {
    let manager = DbConnManager {
        url: url.to_owned(),
        backend: Backend::of_url(url),
        queries,
        busy_timeout: options.connection_timeout,
        page_cache_kib: options.sqlite_page_cache_kib,
        writer: WriterSlot {
            queue: WriterQueue::of(url, options.connection_timeout),
            wait: options.connection_timeout,
        },
    };
    let pool = Pool::builder()
        .max_size(options.max_size)
        // No idle connection is kept in reserve: r2d2 would open a
        // replacement in its own thread whenever one was checked out, and a
        // command that exited while that thread was inside libpq crashed
        // (OpenSSL's exit-time cleanup under a connecting thread: `agora
        // reputation check` segfaulted one run in five on PostgreSQL).
        // Connections are opened when needed and kept until idle.
        .min_idle(Some(0))
        .connection_timeout(options.connection_timeout)
        .build(manager)?;
    Ok(pool)
}

/// Runs the pending migrations of the connection's backend.
pub fn migrate(conn: &mut DbConn) -> Result<(), StoreSetupError> {
    let result = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| StoreSetupError::Migrate(e.to_string()))
}

/// Reverts the newest migration: an upgrade's test reverts it over data,
/// then migrates again, as a database of the previous release would be.
pub fn revert_last_migration(conn: &mut DbConn) -> Result<(), StoreSetupError> {
    let result = match conn {
        DbConn::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS).map(|_| ()),
        DbConn::Postgres(c) => c.revert_last_migration(POSTGRES_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| StoreSetupError::Migrate(e.to_string()))
}

/// Whether the database is PostgreSQL with autovacuum off. Agora's
/// busiest tables (question views, deflection state) start empty and grow
/// fast, and PostgreSQL keeps the plan it chose for a prepared statement
/// while the table was tiny (a sequential scan) until fresh statistics
/// replace it: a soak on such a server fell from 728 to 510 req/s, and one
/// ANALYZE brought it back.
pub fn postgres_autovacuum_off(conn: &mut DbConn) -> diesel::QueryResult<bool> {
    match conn {
        DbConn::Sqlite(_) => Ok(false),
        DbConn::Postgres(c) => postgres_answer(c, "SELECT current_setting('autovacuum') = 'off' AS answer"),
    }
}

/// PostgreSQL's answer to a yes-or-no query about the server (a constant
/// query, `… AS answer`).
fn postgres_answer(conn: &mut PgConnection, query: &'static str) -> diesel::QueryResult<bool> {
    #[derive(diesel::QueryableByName)]
    struct Answer {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        answer: bool,
    }
    Ok(diesel::sql_query(query).get_result::<Answer>(conn)?.answer)
}

impl DbConn {
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Sqlite(_) => Backend::Sqlite,
            DbConn::Postgres(_) => Backend::Postgres,
        }
    }
}

/// SQLite has one writer at a time. Writers of one process wait for their
/// turn in the database's queue rather than in SQLite's busy handler, which
/// polls with sleeps of 1, 2, 5 … 100 ms: under a burst of writes the queue
/// then moved at the pace of those sleeps (p99 of POST answer over a
/// second). Other processes (the CLI beside a server) still meet
/// `busy_timeout`. Writers that queue up together share one transaction
/// ([`writer`]).
///
/// The wait is bounded like the pool's: when another process holds the
/// database locked, every queued writer fails within the timeout (a 503)
/// instead of waiting for each one before it to time out in turn.
#[derive(Clone, Debug)]
struct WriterSlot {
    queue: Arc<WriterQueue>,
    wait: Duration,
}

impl WriterSlot {
    /// The slot a connection carries; a connection opened elsewhere (not
    /// by [`connect`]) gets the ungrouped queue and the default wait.
    fn of(conn: &mut SqliteConnection) -> WriterSlot {
        match conn.instrumentation().downcast_ref::<ConnInstrumentation>().and_then(|i| i.writer.clone()) {
            Some(slot) => slot,
            None => WriterSlot { queue: WriterQueue::ungrouped(), wait: Duration::from_secs(3) },
        }
    }
}

thread_local! {
    /// This thread has the writer's turn: a nested write fails (as a
    /// nested `BEGIN IMMEDIATE` does in SQLite) instead of waiting for
    /// itself.
    static HOLDS_SQLITE_WRITER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks this thread as the writer while it lives.
struct HoldsWriter;

impl HoldsWriter {
    fn mark() -> Option<HoldsWriter> {
        if HOLDS_SQLITE_WRITER.get() {
            return None;
        }
        HOLDS_SQLITE_WRITER.set(true);
        Some(HoldsWriter)
    }
}

impl Drop for HoldsWriter {
    fn drop(&mut self) {
        HOLDS_SQLITE_WRITER.set(false);
    }
}

/// Whether this node can write now: on SQLite, takes the write lock (with
/// a short wait) and lets it go; on PostgreSQL, the server answers and is
/// not a read-only standby. For `/readyz`.
pub fn probe_writable(conn: &mut DbConn) -> Result<(), DieselError> {
    match conn {
        DbConn::Sqlite(c) => {
            let slot = WriterSlot::of(c);
            let wait = slot.wait.min(Duration::from_secs(1));
            if slot.queue.is_grouped() {
                // An empty writer: it gets the write lock (or joins a batch
                // that has it) like any other.
                return slot.queue.run_grouped::<(), DieselError, _>(None, wait, |_| Ok(()));
            }
            let _turn = slot.queue.own_turn(wait)?;
            c.batch_execute(&format!("PRAGMA busy_timeout = {}", wait.as_millis()))?;
            let result = c.batch_execute("BEGIN IMMEDIATE; ROLLBACK;");
            c.batch_execute(&format!("PRAGMA busy_timeout = {}", slot.wait.as_millis()))?;
            result
        }
        DbConn::Postgres(c) => {
            if postgres_answer(c, "SELECT pg_is_in_recovery() AS answer")? {
                return Err(DieselError::DatabaseError(
                    DatabaseErrorKind::ReadOnlyTransaction,
                    Box::new("the database is a read-only standby".to_owned()),
                ));
            }
            Ok(())
        }
    }
}

/// Runs `f` in a write transaction. On SQLite the transaction starts with
/// `BEGIN IMMEDIATE`, so it takes the write lock up front and waits for it
/// under `busy_timeout`; a deferred transaction that reads first and writes
/// later can fail with SQLITE_BUSY instead of waiting.
///
/// SQLite writers of this process queue on their database's writer queue
/// and share one transaction with the writers queued beside them, each in
/// its own savepoint, on one shared connection (group commit, [`writer`]):
/// `f` then gets that connection, not `conn`. Either way, this returns
/// `Ok` only once `f`'s changes are committed.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<DieselError>,
{
    let _turn: Option<(HoldsWriter, OwnTurn)> = match conn {
        DbConn::Sqlite(c) => {
            let slot = WriterSlot::of(c);
            let turn = match HoldsWriter::mark() {
                Some(_holds) if slot.queue.is_grouped() => {
                    let caller = c.instrumentation().downcast_ref::<ConnInstrumentation>();
                    return slot.queue.run_grouped(caller, slot.wait, f);
                }
                Some(holds) => Some((holds, slot.queue.own_turn(slot.wait)?)),
                // A write inside a write: the lock it needs is this thread's
                // own. (On the ungrouped queue, `BEGIN IMMEDIATE` fails.)
                None if slot.queue.is_grouped() => return Err(E::from(writer::nested_write())),
                None => None,
            };
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            turn
        }
        DbConn::Postgres(c) => {
            AnsiTransactionManager::begin_transaction(c)?;
            None
        }
    };
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            <DbConn as Connection>::TransactionManager::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// Runs a diesel query on the concrete connection inside a [`DbConn`]:
/// `native!(conn, |c| query.load(c))`.
///
/// Through `DbConn` itself, diesel renders a query's SQL again on every
/// call (its queries have no static id, so the rendered SQL is the
/// statement cache's key), and walks the query twice more to bind it. On
/// the concrete connection the query's type is the cache key, so a cached
/// statement is only bound and run. The load bench's profile of GET
/// question showed a fifth of the server's time in that rendering; the hot
/// read queries use this. The body is compiled once per backend.
macro_rules! native {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConn::Sqlite($c) => $body,
            $crate::store::DbConn::Postgres($c) => $body,
        }
    };
}
pub(crate) use native;

/// Runs several reads as one snapshot. On SQLite that is one read
/// transaction instead of one per statement, which is both consistent and
/// cheaper (each statement outside a transaction takes and drops the WAL
/// read lock). On PostgreSQL the reads run as they are: a transaction
/// would cost two more round trips for a page that tolerates reading
/// between two commits.
pub fn read_snapshot<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<DieselError>,
{
    match conn.backend() {
        Backend::Sqlite => conn.transaction(f),
        Backend::Postgres => f(conn),
    }
}

/// Whether a diesel error is a unique-constraint violation.
pub fn is_unique_violation(e: &DieselError) -> bool {
    matches!(e, DieselError::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
}

/// Raw SQL written with `?` placeholders, numbered `$1, $2…` for
/// PostgreSQL. Only for the few statements diesel's query builder cannot
/// express on both backends (ON CONFLICT DO NOTHING, CASE-based minima).
/// The SQL must contain no literal `?`.
pub fn portable_sql(conn: &DbConn, sql: &str) -> String {
    match conn.backend() {
        Backend::Sqlite => sql.to_owned(),
        Backend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}
