//! Builds the application from settings: storage, secret, state and the
//! HTTP server. Tests call `Application::build` with port 0.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::Clock;
use crate::config::Settings;
use crate::http;
use crate::http::ratelimit::RateLimiter;
use crate::http::read_cache::ReadCache;
use crate::http::state::AppState;
use crate::service::Context;
use crate::service::community::views::ViewCounter;
use crate::service::escalation::worker::EscalationWorker;
use crate::service::mail::sender::MailSender;
use crate::service::mail::transport::Transport;
use crate::service::privacy::retention::Keeper;
use crate::service::search::Search;
use crate::service::tokens;
use crate::service::webhooks::sender::WebhookSender;
use crate::store::{self, DbPool, PoolOptions, QueryCounter};

pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

/// Opens the database named by the settings (creating the data directory
/// for SQLite) and brings its schema up to date.
pub fn open_database(settings: &Settings) -> Result<Database, StartupError> {
    ensure_data_dir(&settings.data_dir)?;
    let url = settings.database_url();
    let (pool, queries) = store::connect(&url, &settings.pool_options())?;
    let mut conn = pool.get()?;
    store::migrate(&mut conn)?;
    // Before serving: reports read the derived state, so one built by
    // older rules (a release that changed them) is rebuilt first.
    if let Some(events) = crate::service::deflection::rebuild_if_outdated(&mut conn)? {
        tracing::info!(events, "rebuilt the deflection state from the raw events (its rules changed)");
    }
    if store::postgres_autovacuum_off(&mut conn)? {
        tracing::warn!(
            "PostgreSQL's autovacuum is off: without fresh statistics, reads on tables that grew since their last \
             ANALYZE slow down (turn autovacuum on, or run ANALYZE regularly; docs/deploy.md)"
        );
    }
    Ok(Database { pool, queries })
}

/// An open, migrated database.
pub struct Database {
    pub pool: DbPool,
    pub queries: QueryCounter,
}

fn ensure_data_dir(dir: &Path) -> Result<(), StartupError> {
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        restrict_permissions(dir, 0o700)?;
    }
    Ok(())
}

#[cfg(unix)]
fn restrict_permissions(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict_permissions(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

/// The configured JWT secret, or the one generated into the data directory
/// on first start (mode 0600).
pub fn jwt_secret(settings: &Settings) -> Result<Vec<u8>, StartupError> {
    if let Some(secret) = &settings.jwt_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    ensure_data_dir(&settings.data_dir)?;
    let path = settings.data_dir.join("jwt_secret");
    if let Ok(existing) = fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 32 {
            return Ok(existing.as_bytes().to_vec());
        }
        return Err(format!("{} is too short to be a secret", path.display()).into());
    }
    let secret = URL_SAFE_NO_PAD.encode(tokens::random_bytes::<48>()?);
    write_private_file(&path, &secret)?;
    tracing::info!(path = %path.display(), "generated a new JWT secret");
    Ok(secret.into_bytes())
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Builds the shared state from settings, an open pool and a clock.
pub fn build_state(settings: Settings, database: Database, clock: Clock) -> Result<AppState, StartupError> {
    let secret = jwt_secret(&settings)?;
    let commit_every = std::time::Duration::from_millis(settings.index_commit_ms.max(10));
    // Background work (indexing, the gap log) has its own small pool, so it
    // never queues behind requests nor requests behind it.
    let background = background_pool(&settings, 2)?;
    let search = Search::start(&settings.index_dir(), background, clock.clone(), commit_every)?;
    let reads = ReadCache::new(std::time::Duration::from_millis(settings.read_cache_ms), search.status.clone());
    let settings = Arc::new(settings);
    let mail = start_mail(&settings, clock.clone(), &secret)?;
    let retention = start_retention(&settings, clock.clone(), &secret)?;
    let webhooks = start_webhooks(&settings, clock.clone(), &secret)?;
    let escalations = start_escalations(&settings, clock.clone(), &secret)?;
    let views = start_views(&settings)?;
    let readers = readers_pool(&settings, &database)?;
    Ok(AppState {
        reads,
        search,
        rate_limiter: RateLimiter::new(settings.rate_limits.clone())
            .shared(store::Backend::of_url(&settings.database_url()) == store::Backend::Postgres),
        pool: database.pool,
        readers,
        queries: database.queries,
        ctx: Context::new(settings, clock, &secret),
        metrics: crate::metrics::Metrics::new(),
        mail,
        webhooks,
        escalations,
        views,
        retention,
        landing: Default::default(),
    })
}

/// The pool of a node's hot reads (question pages, lists, profiles). On
/// SQLite the reads run on this node's cores, so more connections than two
/// per core only make them take turns on the cores, each with a colder page
/// cache, and each connection that has served pages holds about 4 MiB: a
/// pool of 4 served 1.17-1.4x the uncached question pages of a pool of 10
/// on two cores with 20 MiB less heap (bench/results/2026-12-07-profiles.md).
/// They need a pool of their own because a write request holds its pooled
/// connection while it waits for the writer's turn (a request pool of 4
/// made group commits smaller and answers slower). On PostgreSQL the reads
/// run in the server, and the request pool serves them.
fn readers_pool(settings: &Settings, database: &Database) -> Result<DbPool, StartupError> {
    let url = settings.database_url();
    if store::Backend::of_url(&url) == store::Backend::Postgres {
        return Ok(database.pool.clone());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let size = (2 * cores).min(settings.db_pool_size).max(1);
    let options = PoolOptions::new(size, settings.pool_options().connection_timeout);
    Ok(store::connect_counted(&url, &options, database.queries.clone())?)
}

/// A background worker's pool of `max_size` connections. Its work (a batch
/// of questions to index, a mail, a delivery) reads its rows once, so its
/// SQLite connections keep a small page cache: about 2 MiB of heap each
/// that a larger one would hold for nothing.
fn background_pool(settings: &Settings, max_size: u32) -> Result<DbPool, StartupError> {
    let options = PoolOptions::new(max_size, settings.pool_options().connection_timeout)
        .with_sqlite_page_cache_kib(BACKGROUND_PAGE_CACHE_KIB);
    Ok(store::connect(&settings.database_url(), &options)?.0)
}

/// A background connection's SQLite page cache, in KiB: the root and
/// inner pages of the few tables and indexes a worker reads.
const BACKGROUND_PAGE_CACHE_KIB: u32 = 256;

/// The mail sender, with its own two connections (like the indexer, it
/// never waits behind requests) and its own context on the same clock.
fn start_mail(settings: &Arc<Settings>, clock: Clock, secret: &[u8]) -> Result<MailSender, StartupError> {
    let transport = Transport::from_settings(settings)?;
    let pool = background_pool(settings, 2)?;
    Ok(MailSender::start(pool, Context::new(settings.clone(), clock, secret), transport))
}

/// The webhook sender, with a connection per endpoint it serves at once.
fn start_webhooks(settings: &Arc<Settings>, clock: Clock, secret: &[u8]) -> Result<WebhookSender, StartupError> {
    let pool = background_pool(settings, 5)?;
    Ok(WebhookSender::start(pool, Context::new(settings.clone(), clock, secret)))
}

/// The Open311 worker, with its own connection.
fn start_escalations(settings: &Arc<Settings>, clock: Clock, secret: &[u8]) -> Result<EscalationWorker, StartupError> {
    let pool = background_pool(settings, 2)?;
    Ok(EscalationWorker::start(pool, Context::new(settings.clone(), clock, secret)))
}

/// The page-view writer, with its own connection.
fn start_views(settings: &Arc<Settings>) -> Result<ViewCounter, StartupError> {
    let pool = background_pool(settings, 1)?;
    Ok(ViewCounter::start(pool))
}

/// The daily retention pass, with its own connection.
fn start_retention(settings: &Arc<Settings>, clock: Clock, secret: &[u8]) -> Result<Keeper, StartupError> {
    let pool = background_pool(settings, 1)?;
    Ok(Keeper::start(pool, Context::new(settings.clone(), clock, secret)))
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    pub fn build(state: AppState) -> Result<Application, StartupError> {
        let listener = TcpListener::bind(&state.ctx.config.bind)?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(state);
        let server = run(listener, state.clone())?;
        crate::http::pages::prepare_in_background();
        Ok(Application { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Serves until SIGINT/SIGTERM, then finishes in-flight requests, the
    /// page views not written yet, the mail in hand and the last index
    /// commit.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        let state = self.state.clone();
        let _ = web::block(move || {
            state.views.stop();
            state.mail.stop();
            state.webhooks.stop();
            state.escalations.stop();
            state.retention.stop();
            state.search.stop()
        })
        .await;
        result
    }
}

fn run(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let workers = state.ctx.config.workers;
    let server_state = state.clone();
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(server_state.clone())
            .app_data(http::extract::query_config())
            .app_data(http::extract::path_config())
            .app_data(http::extract::payload_config())
            .configure(http::configure)
            .default_service(web::to(http::not_found))
            .wrap(from_fn(http::ratelimit::limit_requests))
            .wrap(cors(&server_state.ctx.config.cors_origins))
            .wrap(from_fn(http::middleware::request_context))
    })
    .shutdown_timeout(30)
    // Blocking work is database work (and searches): threads beyond the
    // pool's connections would only wait for one, each with its own
    // allocator arena, which is most of what the server's memory grew by.
    .worker_max_blocking_threads(state.ctx.config.db_pool_size.max(4) as usize)
    .listen(listener)?;
    if let Some(workers) = workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// Browser frontends on the configured origins may call the API and read
/// the request-id and rate-limit headers. Other origins get no CORS headers
/// (the browser then refuses), never an error from us.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            http::middleware::REQUEST_ID,
            header::HeaderName::from_static("x-visitor-id"),
        ])
        .expose_headers([
            http::middleware::REQUEST_ID,
            header::RETRY_AFTER,
            header::LOCATION,
            header::HeaderName::from_static("ratelimit-limit"),
            header::HeaderName::from_static("ratelimit-remaining"),
            header::HeaderName::from_static("ratelimit-reset"),
        ])
        .max_age(3600)
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}
