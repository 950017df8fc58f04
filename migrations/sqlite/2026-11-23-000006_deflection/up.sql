-- Deflection (API.md "Deflection"). Raw events are append-only and
-- deduplicated by event_id. Each counted event also updates, in the same
-- transaction, one row of derived state per visitor and question, per
-- contact intent, per self-service session and per visitor-day, and the
-- daily rollups the reports sum. Times in derived state are Unix seconds so
-- window arithmetic is the same on both backends.
CREATE TABLE deflection_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    occurred_epoch INTEGER NOT NULL,
    received_at TIMESTAMP NOT NULL,
    visitor_id TEXT NOT NULL,
    session_id TEXT,
    user_id INTEGER,
    question_id INTEGER,
    answer_id INTEGER,
    intent_id TEXT,
    query TEXT,
    result_ids TEXT,
    rank INTEGER,
    value TEXT,
    channel TEXT,
    category TEXT,
    question_solved BOOLEAN,
    source TEXT NOT NULL,
    excluded BOOLEAN NOT NULL,
    exclusion_reason TEXT
);
CREATE UNIQUE INDEX deflection_events_event_id_key ON deflection_events (event_id);
CREATE INDEX deflection_events_visitor_idx ON deflection_events (visitor_id, type, occurred_epoch);
CREATE INDEX deflection_events_type_idx ON deflection_events (type, occurred_epoch);

-- One row per visitor and question: the first view of it while solved, the
-- visitor's latest answers to the two survey questions, an intent they
-- confirmed resolved with it, and the first contact after each.
CREATE TABLE deflection_pairs (
    visitor_id TEXT NOT NULL,
    question_id INTEGER NOT NULL,
    category TEXT NOT NULL,
    solved_view_at INTEGER,
    first_attempt_after_view_at INTEGER,
    helpful TEXT,
    helpful_at INTEGER,
    helpful_event INTEGER,
    would TEXT,
    would_at INTEGER,
    would_event INTEGER,
    intent_confirmed_at INTEGER,
    confirmed_at INTEGER,
    first_contact_after_confirm_at INTEGER,
    PRIMARY KEY (visitor_id, question_id)
);
-- Covers the per-question report of confirmed deflections.
CREATE INDEX deflection_pairs_confirmed_idx
    ON deflection_pairs (confirmed_at, first_contact_after_confirm_at, category, question_id);

-- One row per contact intent.
CREATE TABLE deflection_intents (
    intent_id TEXT PRIMARY KEY NOT NULL,
    visitor_id TEXT NOT NULL,
    category TEXT NOT NULL,
    arm TEXT,
    started_at INTEGER,
    suggestions_shown BOOLEAN NOT NULL,
    clicked_at INTEGER,
    clicked_question_id INTEGER,
    confirmed_at INTEGER,
    confirmed_question_id INTEGER,
    submitted_at INTEGER,
    first_contact_after_start_at INTEGER,
    first_contact_after_confirm_at INTEGER,
    last_self_service_before_start_at INTEGER
);
CREATE INDEX deflection_intents_started_idx ON deflection_intents (started_at);
CREATE INDEX deflection_intents_visitor_idx ON deflection_intents (visitor_id);
-- Only the intents that may be probable deflections (a small share).
CREATE INDEX deflection_intents_candidate_idx ON deflection_intents (started_at)
    WHERE suggestions_shown = TRUE AND clicked_question_id IS NOT NULL AND submitted_at IS NULL AND confirmed_at IS NULL;

-- One row per self-service session (a session id, or a visitor's UTC day).
CREATE TABLE deflection_sessions (
    session_key TEXT PRIMARY KEY NOT NULL,
    visitor_id TEXT NOT NULL,
    category TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    helpful_yes BOOLEAN NOT NULL
);

-- One row per visitor, category ('*' = any), kind (self_service or
-- submitted) and UTC day, with the visitor's previous such day: counting
-- visitors whose previous day falls before a period counts each visitor in
-- it once, from the rollups.
CREATE TABLE deflection_visitor_days (
    visitor_id TEXT NOT NULL,
    category TEXT NOT NULL,
    kind TEXT NOT NULL,
    day INTEGER NOT NULL,
    previous_day INTEGER,
    PRIMARY KEY (visitor_id, category, kind, day)
);

-- Daily sums of the derived state. `gap` is, per metric, the whole days
-- (rounded up) from the anchor to the first contact, 1000000 for none, so a
-- window of W days is `gap > W`; or 1/0 for yes/no metrics.
CREATE TABLE deflection_rollups (
    day INTEGER NOT NULL,
    category TEXT NOT NULL,
    metric TEXT NOT NULL,
    gap INTEGER NOT NULL,
    gap2 INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, category, metric, gap, gap2)
);

-- The hold-out experiment: each intent's arm, assigned once.
CREATE TABLE experiment_arms (
    intent_id TEXT PRIMARY KEY NOT NULL,
    arm TEXT NOT NULL,
    assigned_at TIMESTAMP NOT NULL
);
