//! Storage: one connection type over SQLite (embedded default) and
//! PostgreSQL (production), the pool, migrations and transactions.
//!
//! Everything above this module talks to `DbConn` and never to a concrete
//! backend; backend-specific SQL stays in here.

pub mod answers;
pub mod audit;
pub mod badges;
pub mod categories;
pub mod comments;
pub mod deflection;
pub mod deflection_reports;
pub mod dump;
pub mod flags;
pub mod follows;
pub mod imports;
pub mod login_failures;
pub mod moderation;
pub mod notifications;
pub mod outbox;
pub mod questions;
pub mod refresh_tokens;
pub mod reputation;
pub mod revisions;
pub mod schema;
pub mod search;
pub mod stats;
pub mod tags;
pub mod users;
pub mod views;
pub mod votes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, InstrumentationEvent, SimpleConnection, TransactionManager};
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::result::{ConnectionError, Error as DieselError};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

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
}

/// Counts the SQL statements a pool runs: exported as a metric, and what
/// the no-N+1 tests measure.
#[derive(Debug, Clone, Default)]
pub struct QueryCounter(Arc<AtomicU64>);

impl QueryCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn instrument(&self, conn: &mut impl Connection) {
        let counter = self.0.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { .. } = event {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
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
                self.queries.instrument(&mut conn);
                Ok(DbConn::Postgres(conn))
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url)?;
                apply_sqlite_pragmas(&mut conn)?;
                self.queries.instrument(&mut conn);
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), ConnectError> {
        conn.ping().map_err(ConnectError::Query)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

/// WAL so readers never block the writer, a busy timeout so concurrent
/// writers queue instead of failing, and foreign keys (off by default).
fn apply_sqlite_pragmas(conn: &mut SqliteConnection) -> Result<(), DieselError> {
    conn.batch_execute(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 5000;
         PRAGMA foreign_keys = ON;",
    )
}

/// Opens a pool on `url` (a `postgres://` URL or a SQLite file path).
pub fn connect(url: &str, options: &PoolOptions) -> Result<(DbPool, QueryCounter), StoreSetupError> {
    let queries = QueryCounter::default();
    let manager = DbConnManager { url: url.to_owned(), backend: Backend::of_url(url), queries: queries.clone() };
    let pool = Pool::builder()
        .max_size(options.max_size)
        .min_idle(Some(1))
        .connection_timeout(options.connection_timeout)
        .build(manager)?;
    Ok((pool, queries))
}

/// Runs the pending migrations of the connection's backend.
pub fn migrate(conn: &mut DbConn) -> Result<(), StoreSetupError> {
    let result = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConn::Postgres(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
    };
    result.map_err(|e| StoreSetupError::Migrate(e.to_string()))
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
/// turn here, in order, rather than in SQLite's busy handler, which polls
/// with sleeps of 1, 2, 5 … 100 ms: under a burst of writes the queue then
/// moved at the pace of those sleeps (p99 of POST answer over a second).
/// Other processes (the CLI beside a server) still meet `busy_timeout`.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    static HOLDS_SQLITE_WRITER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// This thread's turn as the SQLite writer, released on drop.
struct WriterTurn(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl WriterTurn {
    /// Waits for the turn; `None` when this thread already has it (a
    /// nested transaction then fails in SQLite, as before, instead of
    /// waiting for itself).
    fn take() -> Option<WriterTurn> {
        if HOLDS_SQLITE_WRITER.get() {
            return None;
        }
        let guard = SQLITE_WRITER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        HOLDS_SQLITE_WRITER.set(true);
        Some(WriterTurn(guard))
    }
}

impl Drop for WriterTurn {
    fn drop(&mut self) {
        HOLDS_SQLITE_WRITER.set(false);
    }
}

/// Runs `f` in a write transaction. On SQLite the transaction starts with
/// `BEGIN IMMEDIATE`, so it takes the write lock up front and waits for it
/// under `busy_timeout`; a deferred transaction that reads first and writes
/// later can fail with SQLITE_BUSY instead of waiting.
///
/// SQLite writers of this process also queue on [`SQLITE_WRITER`] first.
pub fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<DieselError>,
{
    let _writer = match conn {
        DbConn::Sqlite(c) => {
            let turn = WriterTurn::take();
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
