//! What every service is given besides a database connection: the clock,
//! the process configuration, the community's rules, and the keys that
//! sign tokens and cursors. The HTTP layer's `AppState` holds one; the CLI
//! builds one too.

use std::sync::{Arc, Mutex};

use chrono::NaiveDateTime;

use crate::clock::Clock;
use crate::config::Settings;
use crate::error::ApiResult;
use crate::service::pagination::CursorCodec;
use crate::service::settings::{SettingsCache, SiteSettings};
use crate::service::tokens::{KeyedHash, TokenKeys};
use crate::store::DbConn;

pub struct Context {
    pub clock: Clock,
    /// The process configuration (`agora.toml`, `AGORA_*`).
    pub config: Arc<Settings>,
    /// The community's rules (the `settings` table), cached briefly.
    pub site: SettingsCache,
    pub tokens: TokenKeys,
    pub cursors: CursorCodec,
    /// Replaces visitor ids that are kept past their retention.
    pub pseudonyms: KeyedHash,
    /// Puts contact intents in the arms of the hold-out test.
    pub arms: KeyedHash,
    /// The last `services.json` the Open311 endpoint gave this node, for
    /// when it does not answer: (endpoint, when, the list as JSON).
    pub open311_services: Mutex<Option<CachedServices>>,
}

pub type CachedServices = (String, NaiveDateTime, serde_json::Value);

impl Context {
    /// A context whose tokens and cursors are signed with `secret`.
    pub fn new(config: Arc<Settings>, clock: Clock, secret: &[u8]) -> Context {
        Context {
            clock,
            config,
            site: SettingsCache::new(std::time::Duration::from_secs(5)),
            tokens: TokenKeys::new(secret),
            cursors: CursorCodec::new(secret),
            pseudonyms: KeyedHash::new(secret, "agora visitor pseudonym v1"),
            arms: KeyedHash::new(secret, "agora holdout arm v1"),
            open311_services: Mutex::new(None),
        }
    }

    /// The community's current rules (reputation points, privileges…).
    pub fn rules(&self, conn: &mut DbConn) -> ApiResult<Arc<SiteSettings>> {
        self.site.get(conn)
    }

    pub fn now(&self) -> NaiveDateTime {
        self.clock.now()
    }
}
