-- Trust (issue 26): API keys for BI tools and scripts, and erased accounts.

-- A key is `agora_` and 256 random bits; only its SHA-256 is kept, beside
-- a visible prefix so its owner can tell keys apart. scopes: space-separated.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (key_hash);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

-- Set when the account was erased: its name, address, bio and area are
-- gone, its content stays under former-resident-<id>.
ALTER TABLE users ADD COLUMN erased_at TIMESTAMP;

-- Retention replaces a quiet visitor's id in every table that holds it;
-- these three had no index that starts with it.
CREATE INDEX deflection_sessions_visitor_idx ON deflection_sessions (visitor_id);
CREATE INDEX deflection_search_gaps_searcher_idx ON deflection_search_gaps (searcher);
CREATE INDEX search_gaps_visitor_idx ON search_gaps (visitor_id);

-- Rate-limit token buckets shared by every node on PostgreSQL, so N nodes
-- allow the limit, not N times it (checked in one statement). A SQLite
-- deployment is one node and keeps its buckets in memory; the table stays
-- empty there.
CREATE TABLE rate_limit_buckets (
    bucket TEXT PRIMARY KEY NOT NULL,
    tokens REAL NOT NULL,
    allowed BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX rate_limit_buckets_updated_idx ON rate_limit_buckets (updated_at);

-- Signed intents and plausibility: a keyed hash of the sender's address
-- and the day (it cannot be followed across days; retention clears it
-- after two), to count how many visitors one address confirms for.
ALTER TABLE deflection_events ADD COLUMN address_key TEXT;
CREATE INDEX deflection_events_address_idx ON deflection_events (address_key) WHERE address_key IS NOT NULL;
-- The summary reports excluded events by reason: only they are indexed.
CREATE INDEX deflection_events_excluded_idx ON deflection_events (occurred_epoch) WHERE excluded = TRUE;
