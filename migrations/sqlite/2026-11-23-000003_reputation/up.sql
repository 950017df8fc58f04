-- Reputation ledger, per-category statistics, badges and the settings table.
CREATE TABLE reputation_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    delta INTEGER NOT NULL,
    points INTEGER NOT NULL,
    reason TEXT NOT NULL,
    source_type TEXT NOT NULL,
    source_id INTEGER NOT NULL,
    post_type TEXT,
    post_id INTEGER,
    category_id INTEGER,
    day TEXT NOT NULL,
    reverses_id INTEGER REFERENCES reputation_events (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX reputation_events_user_day_idx ON reputation_events (user_id, day);
CREATE INDEX reputation_events_source_idx ON reputation_events (source_type, source_id);
CREATE INDEX reputation_events_reverses_idx ON reputation_events (reverses_id);

CREATE TABLE user_category_stats (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    reputation INTEGER NOT NULL DEFAULT 0,
    accepted_answers INTEGER NOT NULL DEFAULT 0,
    solved_answers INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, category_id)
);
CREATE INDEX user_category_stats_reputation_idx ON user_category_stats (category_id, reputation, user_id);
CREATE INDEX user_category_stats_accepted_idx ON user_category_stats (category_id, accepted_answers, user_id);

CREATE TABLE badges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    badge TEXT NOT NULL,
    awarded_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX badges_user_badge_key ON badges (user_id, badge);

CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

ALTER TABLE users ADD COLUMN accepted_answers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN expert_notifications BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX users_reputation_idx ON users (reputation, id);
CREATE INDEX users_accepted_idx ON users (accepted_answers, id);
