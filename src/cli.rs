//! The `agora` command line: `serve [--demo]`, `migrate`, `reindex`, `user create`,
//! `reputation check`, `import stackexchange`, `import jsonl`, `export jsonl`.

use std::io::BufRead;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::{Email, Password, Role, Username};
use crate::startup::{self, Application, StartupError};
use crate::{demo, service, telemetry};

#[derive(Parser)]
#[command(name = "agora", version, about = "Agora: a resident help community for a city council")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (migrates the database first).
    Serve {
        /// Seed an empty database with a demo community and print its logins.
        #[arg(long)]
        demo: bool,
    },
    /// Bring the database schema up to date and exit.
    Migrate,
    /// Rebuild this node's search index from the database (stop the server
    /// first: a running server holds the index).
    Reindex,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Reputation maintenance.
    #[command(subcommand)]
    Reputation(ReputationCommand),
    /// Bring a community in.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write the community out.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Personal-data retention (settings `retention`, docs/privacy.md).
    #[command(subcommand)]
    Retention(RetentionCommand),
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Apply the retention settings now (each node also does it daily):
    /// replace the ids of visitors quiet for `visitor_id_days`, delete
    /// search text older than `search_text_days`.
    Run,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// The whole community as a JSONL dump (docs/jsonl-format.md) in DIR,
    /// which must be empty: the backup and records-retention format.
    Jsonl { dir: std::path::PathBuf },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// A Stack Exchange data dump (the folder with Posts.xml, Users.xml…).
    /// Running it again adds nothing new.
    Stackexchange {
        dir: std::path::PathBuf,
        /// The category the questions go in (created if missing); by
        /// default one named after the folder.
        #[arg(long)]
        category: Option<String>,
    },
    /// A JSONL dump made by `agora export jsonl`, into an empty database;
    /// then rebuilds this node's search index.
    Jsonl { dir: std::path::PathBuf },
}

#[derive(Subcommand)]
enum ReputationCommand {
    /// Recompute every user's reputation from the ledger and report
    /// differences from the cached values (exit status 1 if any).
    Check {
        /// Make the cached values agree with the ledger.
        #[arg(long)]
        repair: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account (how the first admin appears).
    Create(CreateUser),
    /// Set an account's password (imported and restored accounts have
    /// none until then); ends its sessions.
    SetPassword {
        #[arg(long)]
        username: String,
        /// Read from the first line of stdin when omitted.
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Args)]
struct CreateUser {
    #[arg(long)]
    username: String,
    #[arg(long)]
    email: String,
    /// A role to grant; repeat for several. Every account is also a resident.
    #[arg(long = "role", value_parser = parse_role)]
    roles: Vec<Role>,
    /// The password; read from the first line of stdin when omitted (which
    /// keeps it out of the process list and shell history).
    #[arg(long)]
    password: Option<String>,
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("agora: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let result = match cli.command {
        Command::Serve { demo } => serve(settings, demo),
        Command::Migrate => migrate(&settings),
        Command::Reindex => reindex(&settings),
        Command::User(UserCommand::Create(args)) => create_user(&settings, args),
        Command::User(UserCommand::SetPassword { username, password }) => set_password(&settings, &username, password),
        Command::Reputation(ReputationCommand::Check { repair }) => check_reputation(&settings, repair),
        Command::Import(ImportCommand::Stackexchange { dir, category }) => {
            import_stackexchange(&settings, &dir, category.as_deref())
        }
        Command::Import(ImportCommand::Jsonl { dir }) => import_jsonl(&settings, &dir),
        Command::Export(ExportCommand::Jsonl { dir }) => export_jsonl(&settings, &dir),
        Command::Retention(RetentionCommand::Run) => run_retention(settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agora: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings, with_demo: bool) -> Result<(), StartupError> {
    tracing::info!(?settings, "starting");
    let database = startup::open_database(&settings)?;
    let clock = Clock::default();
    if with_demo {
        let mut conn = database.pool.get()?;
        let started = std::time::Instant::now();
        match demo::seed(&mut conn, &clock)? {
            Some(logins) => {
                println!("Demo community seeded in {} ms.", started.elapsed().as_millis());
                print_demo_logins(&logins)
            }
            None => println!("The database already has users; the demo community was not seeded."),
        }
    }
    let mut state = startup::build_state(settings, database, clock)?;
    if with_demo {
        let logins: Vec<_> = demo::logins().iter().map(|l| (l.role, l.username, l.password)).collect();
        state.landing = crate::http::pages::Landing::new(Some(&logins));
    }
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(state)?;
        tracing::info!(address = %app.state().ctx.config.bind, port = app.port(), "listening");
        app.run_until_stopped().await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn print_demo_logins(logins: &[demo::DemoLogin]) {
    println!("Demo community seeded. Logins (username / password):");
    for login in logins {
        println!("  {:<10} {:<14} {}", login.role, login.username, login.password);
    }
}

fn migrate(settings: &Settings) -> Result<(), StartupError> {
    startup::open_database(settings)?;
    println!("The database schema is up to date.");
    Ok(())
}

fn create_user(settings: &Settings, args: CreateUser) -> Result<(), StartupError> {
    let username = Username::parse_allowing_reserved(&args.username).map_err(|m| format!("username {m}"))?;
    let email = Email::parse(&args.email).map_err(|m| format!("email {m}"))?;
    let password = match args.password {
        Some(password) => password,
        None => read_password_from_stdin()?,
    };
    let password = Password::parse(&password, Some(username.as_str())).map_err(|m| format!("password {m}"))?;
    let database = startup::open_database(settings)?;
    let mut conn = database.pool.get()?;
    let now = Clock::default().now();
    let user = service::accounts::create_user_cli(&mut conn, now, &username, &email, &password, &args.roles)
        .map_err(|e| e.to_string())?;
    println!("Created user {} (id {}).", user.username, user.id);
    Ok(())
}

fn set_password(settings: &Settings, username: &str, password: Option<String>) -> Result<(), StartupError> {
    let password = match password {
        Some(password) => password,
        None => read_password_from_stdin()?,
    };
    let database = startup::open_database(settings)?;
    let mut conn = database.pool.get()?;
    let now = Clock::default().now();
    let user = service::accounts::set_password_cli(&mut conn, now, username, &password).map_err(|e| e.to_string())?;
    println!("Set the password of {} (id {}); their other sessions have ended.", user.username, user.id);
    Ok(())
}

fn reindex(settings: &Settings) -> Result<(), StartupError> {
    let database = startup::open_database(settings)?;
    let (index, _) = search_index::SearchIndex::open(&settings.index_dir())?;
    let mut writer = index.writer(256 * 1024 * 1024)?;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} questions ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let position = crate::service::search::indexer::rebuild(&database.pool, &mut writer, &index, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish();
    let questions = index.num_docs();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "Indexed {questions} questions in {seconds:.1} s ({:.0}/s), up to outbox position {position}.",
        questions as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// A progress bar per file, by bytes read.
struct Bar(Option<indicatif::ProgressBar>);

impl service::import_export::Progress for Bar {
    fn start(&mut self, file: &str, total_bytes: u64) {
        let style = indicatif::ProgressStyle::with_template("{prefix:>14} {bar:40} {bytes}/{total_bytes} ({eta} left)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        let bar = indicatif::ProgressBar::new(total_bytes).with_style(style).with_prefix(file.to_owned());
        self.0 = Some(bar);
    }

    fn advance(&mut self, bytes_read: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(bytes_read);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish();
        }
    }
}

fn import_stackexchange(
    settings: &Settings,
    dir: &std::path::Path,
    category: Option<&str>,
) -> Result<(), StartupError> {
    let database = startup::open_database(settings)?;
    let mut conn = database.pool.get()?;
    let now = Clock::default().now();
    let summary = service::import_export::stackexchange::import(&mut conn, dir, category, now, &mut Bar(None))
        .map_err(|e| e.to_string())?;
    print!("{summary}");
    println!(
        "Imported users have no password until `agora user set-password` gives them one. Run the server to index the new questions."
    );
    Ok(())
}

fn export_jsonl(settings: &Settings, dir: &std::path::Path) -> Result<(), StartupError> {
    let database = startup::open_database(settings)?;
    let mut conn = database.pool.get()?;
    let manifest =
        service::import_export::dump::export(&mut conn, dir, &mut |table, rows| println!("{rows:>10}  {table}"))
            .map_err(|e| e.to_string())?;
    println!(
        "Exported {} tables to {} (format {} version {}).",
        manifest.tables.len(),
        dir.display(),
        manifest.format,
        manifest.version
    );
    Ok(())
}

fn import_jsonl(settings: &Settings, dir: &std::path::Path) -> Result<(), StartupError> {
    let database = startup::open_database(settings)?;
    let mut conn = database.pool.get()?;
    let manifest =
        service::import_export::dump::import(&mut conn, dir, &mut |table, rows| println!("{rows:>10}  {table}"))
            .map_err(|e| e.to_string())?;
    println!("Restored {} tables from {}. Rebuilding the search index:", manifest.tables.len(), dir.display());
    drop(conn);
    drop(database);
    reindex(settings)
}

fn check_reputation(settings: &Settings, repair: bool) -> Result<(), StartupError> {
    let database = startup::open_database(settings)?;
    let mut conn = database.pool.get()?;
    let report = service::reputation::check(&mut conn, repair).map_err(|e| e.to_string())?;
    for (user_id, cached, ledger) in &report.users {
        println!("user {user_id}: cached reputation {cached}, ledger says {ledger}");
    }
    for (user_id, category_id, cached, ledger) in &report.categories {
        println!("user {user_id} in category {category_id}: cached {cached}, ledger says {ledger}");
    }
    let differences = report.users.len() + report.categories.len();
    match (differences, repair) {
        (0, _) => {
            println!("Reputation agrees with the ledger for every user (0 differences).");
            Ok(())
        }
        (n, true) => {
            println!("Repaired {n} differences.");
            Ok(())
        }
        (n, false) => Err(format!("{n} differences; run with --repair to fix them").into()),
    }
}

fn run_retention(settings: Settings) -> Result<(), StartupError> {
    let database = startup::open_database(&settings)?;
    let secret = startup::jwt_secret(&settings)?;
    let ctx = service::Context::new(std::sync::Arc::new(settings), Clock::default(), &secret);
    let mut conn = database.pool.get()?;
    let report = service::privacy::retention::run(&mut conn, &ctx).map_err(|e| e.to_string())?;
    println!(
        "Retention applied: {} visitor ids replaced by pseudonyms, {} search texts deleted, {} day-old view keys and {} expired or failed logins deleted.",
        report.visitors_pseudonymised,
        report.search_texts_deleted,
        report.view_keys_deleted,
        report.expired_logins_deleted
    );
    Ok(())
}

fn read_password_from_stdin() -> Result<String, StartupError> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
