-- Areas in the deflection reports (a ward or neighbourhood, exactly as
-- questions give it), and frontends' searches in the content-gap report.
--
-- An event keeps the area it was counted in: its own `area` (contact-form
-- events and searches), else its question's when it arrived. Events stored
-- before areas were recorded take their question's area as of this upgrade.
ALTER TABLE deflection_events ADD COLUMN area TEXT;
UPDATE deflection_events
SET area = (SELECT q.area FROM questions q WHERE q.id = deflection_events.question_id)
WHERE question_id IS NOT NULL;

-- A derived row (visitor and question, intent, session) now counts in the
-- category and the area of its earliest event that has each (`category_at`,
-- `area_at`), whatever order events arrive in; the rollups get a cell per
-- area. It is all rebuilt from the raw events at the next start
-- (`derived_state` below has no version for it yet), so these tables are
-- recreated empty.
DROP TABLE deflection_pairs;
CREATE TABLE deflection_pairs (
    visitor_id TEXT NOT NULL,
    question_id BIGINT NOT NULL,
    category TEXT NOT NULL,
    category_at BIGINT,
    area TEXT NOT NULL,
    area_at BIGINT,
    solved_view_at BIGINT,
    first_attempt_after_view_at BIGINT,
    helpful TEXT,
    helpful_at BIGINT,
    helpful_event BIGINT,
    would TEXT,
    would_at BIGINT,
    would_event BIGINT,
    intent_confirmed_at BIGINT,
    confirmed_at BIGINT,
    first_contact_after_confirm_at BIGINT,
    PRIMARY KEY (visitor_id, question_id)
);
-- Covers the per-question report of confirmed deflections.
CREATE INDEX deflection_pairs_confirmed_idx
    ON deflection_pairs (confirmed_at, first_contact_after_confirm_at, category, area, question_id);

DROP TABLE deflection_intents;
CREATE TABLE deflection_intents (
    intent_id TEXT PRIMARY KEY NOT NULL,
    visitor_id TEXT NOT NULL,
    category TEXT NOT NULL,
    category_at BIGINT,
    area TEXT NOT NULL,
    area_at BIGINT,
    arm TEXT,
    started_at BIGINT,
    suggestions_shown BOOLEAN NOT NULL,
    clicked_at BIGINT,
    clicked_question_id BIGINT,
    confirmed_at BIGINT,
    confirmed_question_id BIGINT,
    submitted_at BIGINT,
    first_contact_after_start_at BIGINT,
    first_contact_after_confirm_at BIGINT,
    last_self_service_before_start_at BIGINT
);
CREATE INDEX deflection_intents_started_idx ON deflection_intents (started_at);
CREATE INDEX deflection_intents_visitor_idx ON deflection_intents (visitor_id);
-- Only the intents that may be probable deflections (a small share).
CREATE INDEX deflection_intents_candidate_idx ON deflection_intents (started_at)
    WHERE suggestions_shown = TRUE AND clicked_question_id IS NOT NULL AND submitted_at IS NULL AND confirmed_at IS NULL;

DROP TABLE deflection_sessions;
CREATE TABLE deflection_sessions (
    session_key TEXT PRIMARY KEY NOT NULL,
    visitor_id TEXT NOT NULL,
    category TEXT NOT NULL,
    category_at BIGINT,
    area TEXT NOT NULL,
    area_at BIGINT,
    started_at BIGINT NOT NULL,
    helpful_yes BOOLEAN NOT NULL
);

-- One row per visitor, report cell, kind and UTC day. A cell is a
-- (category, area) pair a report filter can ask for, '*' standing for any:
-- an event marks its visitor's day in (*, *), (its category, *), (*, its
-- area) and (its category, its area), those it has.
DROP TABLE deflection_visitor_days;
CREATE TABLE deflection_visitor_days (
    visitor_id TEXT NOT NULL,
    category TEXT NOT NULL,
    area TEXT NOT NULL,
    kind TEXT NOT NULL,
    day BIGINT NOT NULL,
    previous_day BIGINT,
    PRIMARY KEY (visitor_id, category, area, kind, day)
);

-- Daily sums of the derived state, per category and area ('' for none;
-- visitor counts per cell, '*' for any).
DROP TABLE deflection_rollups;
CREATE TABLE deflection_rollups (
    day BIGINT NOT NULL,
    category TEXT NOT NULL,
    area TEXT NOT NULL,
    metric TEXT NOT NULL,
    gap BIGINT NOT NULL,
    gap2 BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (day, category, area, metric, gap, gap2)
);

-- The server's search-gap log: the search's ?area= filter, and the
-- searcher's X-Visitor-Id when sent.
ALTER TABLE search_gaps ADD COLUMN area TEXT;
ALTER TABLE search_gaps ADD COLUMN visitor_id TEXT;

-- The content-gap report's searches, derived from the search-gap log and
-- from frontends' search_performed events with no results: one row per
-- report cell (as for visitor days), kind, UTC day, normalised query and
-- searcher (the visitor; a server-seen search without X-Visitor-Id is a
-- searcher of its own), with which sources saw it.
CREATE TABLE deflection_search_gaps (
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    area TEXT NOT NULL,
    day BIGINT NOT NULL,
    query TEXT NOT NULL,
    searcher TEXT NOT NULL,
    by_server BOOLEAN NOT NULL,
    by_frontend BOOLEAN NOT NULL,
    PRIMARY KEY (kind, category, area, day, query, searcher)
);

-- The version of the rules each derived state was built by; a start that
-- finds an older one (or none) rebuilds that state.
CREATE TABLE derived_state (
    name TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
);
