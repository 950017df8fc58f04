//! Configuration: defaults, then an optional `agora.toml`, then `AGORA_*`
//! environment variables (docs/architecture.md, "Configuration"). With nothing set, `agora serve` keeps
//! everything under `data/` and listens on 127.0.0.1:8080.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::store::{Backend, PoolOptions};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid {path}: {source}")]
    Toml { path: PathBuf, source: toml::de::Error },
    #[error("invalid value for {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Login throttling: failures allowed within a sliding window.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginThrottle {
    pub max_failures_per_account: u32,
    pub max_failures_per_ip: u32,
    pub window_secs: u64,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle { max_failures_per_account: 5, max_failures_per_ip: 20, window_secs: 15 * 60 }
    }
}

/// One limit: a steady rate with room for a burst.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub per_minute: u32,
    pub burst: u32,
}

/// The limits of each class of request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub enabled: bool,
    /// Logins, registrations and token refreshes, per address.
    pub auth: Limit,
    /// Writes per user (admins exempt).
    pub write_per_user: Limit,
    /// Writes per address (a library or office shares one).
    pub write_per_ip: Limit,
    /// Deflection events per address.
    pub events: Limit,
    /// Searches and similar-question lookups per address.
    pub search: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            enabled: true,
            auth: Limit { per_minute: 20, burst: 10 },
            write_per_user: Limit { per_minute: 60, burst: 20 },
            write_per_ip: Limit { per_minute: 600, burst: 100 },
            events: Limit { per_minute: 600, burst: 200 },
            search: Limit { per_minute: 300, burst: 60 },
        }
    }
}

/// Everything the service can be told. `Debug` never prints the secret.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Holds `agora.db`, the search index and the generated JWT secret.
    pub data_dir: PathBuf,
    pub bind: String,
    /// `postgres://…` selects PostgreSQL; unset means `<data_dir>/agora.db`.
    pub database_url: Option<String>,
    /// Shared HS256 secret (several nodes must share one); unset means a
    /// secret generated once into `<data_dir>/jwt_secret`.
    pub jwt_secret: Option<String>,
    pub log_format: LogFormat,
    pub cors_origins: Vec<String>,
    /// HTTP worker threads; unset means one per core.
    pub workers: Option<usize>,
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before a 503.
    pub db_timeout_ms: u64,
    /// Take the client address from the last `X-Forwarded-For` hop. Only
    /// for deployments behind a proxy that sets it.
    pub trust_forwarded_for: bool,
    pub login_throttle: LoginThrottle,
    /// How often the indexer commits (and search catches up), in ms.
    pub index_commit_ms: u64,
    /// How long anonymous reads may be served from the read cache, in ms
    /// (0 turns it off). Writes through this node and index commits end
    /// an entry sooner.
    pub read_cache_ms: u64,
    pub rate_limits: RateLimits,
    pub mail: MailSettings,
    pub webhooks: WebhookSettings,
    pub open311: Open311Worker,
}

/// How this node's Open311 worker runs (the endpoint itself is in the
/// community's settings document, `open311`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Open311Worker {
    /// How often the worker looks for due work, in ms
    /// (`AGORA_OPEN311_POLL_MS`).
    pub poll_ms: u64,
    /// The first retry's wait after a failed submission, in ms, doubling
    /// up to six hours (`AGORA_OPEN311_RETRY_MS`).
    pub retry_ms: u64,
    /// How long one call to the endpoint may take, in ms.
    pub timeout_ms: u64,
    /// Overrides the settings' `poll_minutes` between status polls (tests).
    pub status_poll_ms: Option<u64>,
}

impl Default for Open311Worker {
    fn default() -> Self {
        Open311Worker { poll_ms: 1000, retry_ms: 60_000, timeout_ms: 10_000, status_poll_ms: None }
    }
}

/// Webhook deliveries (docs/architecture.md, "Outbound deliveries").
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Lets endpoints be on loopback, private and link-local addresses and
    /// use plain `http` (`AGORA_WEBHOOK_ALLOW_PRIVATE=true`): for a
    /// council's internal network, and the tests. Off, those are refused
    /// when the endpoint is saved and again at every connection.
    pub allow_private: bool,
    /// How often the sender looks for due deliveries, in ms
    /// (`AGORA_WEBHOOK_POLL_MS`).
    pub poll_ms: u64,
    /// The wait before each retry, in ms (`AGORA_WEBHOOK_RETRY_MS`, comma
    /// separated); when it runs out the delivery is abandoned.
    pub retry_schedule_ms: Vec<u64>,
    /// How long one attempt may take, in ms.
    pub timeout_ms: u64,
    /// An endpoint failing for this long without a success is disabled and
    /// the admins are told, in seconds.
    pub disable_after_secs: u64,
    /// How long deliveries and their attempts are kept, in days.
    pub log_days: u32,
    /// How long the previous secret keeps signing after a rotation, in
    /// seconds.
    pub rotation_overlap_secs: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        const MINUTE: u64 = 60_000;
        const HOUR: u64 = 60 * MINUTE;
        WebhookSettings {
            allow_private: false,
            poll_ms: 1000,
            // About three days in all: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
            // 14 h, 20 h, 24 h.
            retry_schedule_ms: vec![
                5_000,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                14 * HOUR,
                20 * HOUR,
                24 * HOUR,
            ],
            timeout_ms: 10_000,
            disable_after_secs: 3 * 24 * 3600,
            log_days: 30,
            rotation_overlap_secs: 24 * 3600,
        }
    }
}

/// Outbound mail (docs/architecture.md, "Outbound deliveries").
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// Where the mail links point (`AGORA_PUBLIC_URL`), without a trailing
    /// slash.
    pub public_url: String,
    /// `smtp://host:port`, `smtp+starttls://…` or `smtps://user:pass@host`
    /// (`AGORA_SMTP_URL`); unset writes each mail as an `.eml` file under
    /// `<data_dir>/mail/`.
    pub smtp_url: Option<String>,
    /// The From header (`AGORA_MAIL_FROM`).
    pub from: String,
    /// How often the sender looks for due mail, in ms (`AGORA_MAIL_POLL_MS`).
    pub poll_ms: u64,
    /// The first retry's delay after a temporary failure, in ms
    /// (`AGORA_MAIL_RETRY_MS`); each further attempt waits twice as long.
    pub retry_ms: u64,
    /// Attempts before a mail that keeps failing temporarily is given up.
    pub max_attempts: i32,
    /// How often the sender runs the digest pass and prunes old mail, in
    /// seconds (unset: every minute; 0: never, for tests that run it).
    pub housekeeping_secs: Option<u64>,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            public_url: "http://127.0.0.1:8080".to_owned(),
            smtp_url: None,
            from: "Agora <agora@localhost>".to_owned(),
            poll_ms: 1000,
            retry_ms: 30_000,
            max_attempts: 12,
            housekeeping_secs: None,
        }
    }
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("public_url", &self.public_url)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("from", &self.from)
            .field("poll_ms", &self.poll_ms)
            .finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("data"),
            bind: "127.0.0.1:8080".to_owned(),
            database_url: None,
            jwt_secret: None,
            log_format: LogFormat::Text,
            cors_origins: Vec::new(),
            workers: None,
            db_pool_size: 10,
            db_timeout_ms: 3000,
            trust_forwarded_for: false,
            login_throttle: LoginThrottle::default(),
            index_commit_ms: 200,
            read_cache_ms: 2000,
            rate_limits: RateLimits::default(),
            mail: MailSettings::default(),
            webhooks: WebhookSettings::default(),
            open311: Open311Worker::default(),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("database", &self.database_url.as_deref().map(redact_url))
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<set>"))
            .field("log_format", &self.log_format)
            .field("cors_origins", &self.cors_origins)
            .field("workers", &self.workers)
            .field("db_pool_size", &self.db_pool_size)
            .field("mail", &self.mail)
            .field("webhooks", &self.webhooks)
            .field("open311", &self.open311)
            .finish_non_exhaustive()
    }
}

/// Hides the password of a `postgres://user:password@host/db` URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Settings {
    /// Defaults, then `agora.toml` (or the file named by `AGORA_CONFIG`),
    /// then the environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let file = env("AGORA_CONFIG").map(PathBuf::from);
        let mut settings = match file {
            Some(path) => Settings::from_file(&path)?,
            None if Path::new("agora.toml").exists() => Settings::from_file(Path::new("agora.toml"))?,
            None => Settings::default(),
        };
        settings.apply_env(env)?;
        Ok(settings)
    }

    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Toml { path: path.to_owned(), source })
    }

    /// Overrides settings from `AGORA_*` variables, read through `env`.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("AGORA_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("AGORA_BIND") {
            self.bind = v;
        }
        if let Some(v) = env("AGORA_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = env("AGORA_JWT_SECRET") {
            self.jwt_secret = Some(v);
        }
        if let Some(v) = env("AGORA_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                _ => return Err(invalid("AGORA_LOG_FORMAT", "expected json or text")),
            };
        }
        if let Some(v) = env("AGORA_CORS_ORIGINS") {
            self.cors_origins = v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
        }
        if let Some(v) = env("AGORA_WORKERS") {
            self.workers = Some(parse_number("AGORA_WORKERS", &v)?);
        }
        if let Some(v) = env("AGORA_DB_POOL_SIZE") {
            self.db_pool_size = parse_number("AGORA_DB_POOL_SIZE", &v)?;
        }
        if let Some(v) = env("AGORA_DB_TIMEOUT_MS") {
            self.db_timeout_ms = parse_number("AGORA_DB_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = env("AGORA_INDEX_COMMIT_MS") {
            self.index_commit_ms = parse_number("AGORA_INDEX_COMMIT_MS", &v)?;
        }
        if let Some(v) = env("AGORA_READ_CACHE_MS") {
            self.read_cache_ms = parse_number("AGORA_READ_CACHE_MS", &v)?;
        }
        if let Some(v) = env("AGORA_RATE_LIMITS") {
            self.rate_limits.enabled = match v.as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => return Err(invalid("AGORA_RATE_LIMITS", "expected on or off")),
            };
        }
        self.apply_mail_env(&env)?;
        self.apply_webhook_env(&env)?;
        if let Some(v) = env("AGORA_TRUST_FORWARDED_FOR") {
            self.trust_forwarded_for = matches!(v.as_str(), "1" | "true" | "yes");
        }
        self.validate()
    }

    fn apply_mail_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("AGORA_PUBLIC_URL") {
            self.mail.public_url = v;
        }
        if let Some(v) = env("AGORA_SMTP_URL") {
            self.mail.smtp_url = Some(v);
        }
        if let Some(v) = env("AGORA_MAIL_FROM") {
            self.mail.from = v;
        }
        if let Some(v) = env("AGORA_MAIL_POLL_MS") {
            self.mail.poll_ms = parse_number("AGORA_MAIL_POLL_MS", &v)?;
        }
        if let Some(v) = env("AGORA_MAIL_RETRY_MS") {
            self.mail.retry_ms = parse_number("AGORA_MAIL_RETRY_MS", &v)?;
        }
        Ok(())
    }

    fn apply_webhook_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("AGORA_WEBHOOK_ALLOW_PRIVATE") {
            self.webhooks.allow_private = match v.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(invalid("AGORA_WEBHOOK_ALLOW_PRIVATE", "expected true or false")),
            };
        }
        if let Some(v) = env("AGORA_WEBHOOK_POLL_MS") {
            self.webhooks.poll_ms = parse_number("AGORA_WEBHOOK_POLL_MS", &v)?;
        }
        if let Some(v) = env("AGORA_OPEN311_POLL_MS") {
            self.open311.poll_ms = parse_number("AGORA_OPEN311_POLL_MS", &v)?;
        }
        if let Some(v) = env("AGORA_OPEN311_RETRY_MS") {
            self.open311.retry_ms = parse_number("AGORA_OPEN311_RETRY_MS", &v)?;
        }
        if let Some(v) = env("AGORA_WEBHOOK_RETRY_MS") {
            self.webhooks.retry_schedule_ms = v
                .split(',')
                .map(|step| parse_number("AGORA_WEBHOOK_RETRY_MS", step.trim()))
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let public_url = self.mail.public_url.trim_end_matches('/');
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(invalid("AGORA_PUBLIC_URL", "must start with http:// or https://"));
        }
        if let Some(url) = &self.mail.smtp_url
            && !["smtp://", "smtp+starttls://", "smtps://"].iter().any(|scheme| url.starts_with(scheme))
        {
            return Err(invalid("AGORA_SMTP_URL", "must start with smtp://, smtp+starttls:// or smtps://"));
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "AGORA_MAIL_FROM",
                "must be an address, optionally with a name: Agora <agora@example.org>",
            ));
        }
        if let Some(secret) = &self.jwt_secret
            && secret.len() < 32
        {
            return Err(invalid("AGORA_JWT_SECRET", "must be at least 32 characters"));
        }
        if self.db_pool_size == 0 {
            return Err(invalid("AGORA_DB_POOL_SIZE", "must be at least 1"));
        }
        Ok(())
    }

    /// The database URL in use: the configured one, or the SQLite file in
    /// the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => self.data_dir.join("agora.db").to_string_lossy().into_owned(),
        }
    }

    /// Where this node keeps its search index.
    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }

    pub fn backend(&self) -> Backend {
        Backend::of_url(&self.database_url())
    }

    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions::new(self.db_pool_size, Duration::from_millis(self.db_timeout_ms))
    }
}

fn invalid(name: &'static str, message: &str) -> ConfigError {
    ConfigError::Invalid { name, message: message.to_owned() }
}

fn parse_number<T: FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| invalid(name, "expected a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults() {
        let mut s = Settings::default();
        s.apply_env(|name| match name {
            "AGORA_BIND" => Some("0.0.0.0:9000".into()),
            "AGORA_CORS_ORIGINS" => Some("https://a.example, https://b.example".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.bind, "0.0.0.0:9000");
        assert_eq!(s.cors_origins, vec!["https://a.example", "https://b.example"]);
        assert_eq!(s.backend(), Backend::Sqlite);
    }

    #[test]
    fn short_secret_is_refused() {
        let mut s = Settings::default();
        let result = s.apply_env(|name| (name == "AGORA_JWT_SECRET").then(|| "short".into()));
        assert!(result.is_err());
    }

    #[test]
    fn url_password_is_redacted() {
        assert_eq!(redact_url("postgres://agora:hunter2@db/agora"), "postgres://agora:***@db/agora");
        assert_eq!(redact_url("data/agora.db"), "data/agora.db");
    }
}
