//! The service's notion of "now". Production uses the system clock; tests
//! shift it (48-hour rules, daily caps, token expiry) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Seconds added to the system time; only tests change it.
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    /// The current UTC time, truncated to microseconds so a value read back
    /// from either database equals the value written.
    pub fn now(&self) -> NaiveDateTime {
        self.now_utc().naive_utc()
    }

    pub fn now_utc(&self) -> DateTime<Utc> {
        let offset = chrono::Duration::seconds(self.offset_secs.load(Ordering::Relaxed));
        (Utc::now() + offset).trunc_subsecs(6)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_secs.fetch_add(by.num_seconds(), Ordering::Relaxed);
    }
}

/// Serde helpers that write a stored UTC `NaiveDateTime` as RFC 3339 (`…Z`).
pub mod rfc3339 {
    use chrono::{NaiveDateTime, SecondsFormat};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn format(t: &NaiveDateTime) -> String {
        t.and_utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    pub mod option {
        use chrono::NaiveDateTime;
        use serde::Serializer;

        pub fn serialize<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::format(t)),
                None => s.serialize_none(),
            }
        }
    }
}
