-- Back to one cell per category: the derived state without areas, summed
-- over them (visitor counts from the any-area cells).
DROP TABLE derived_state;
DROP TABLE deflection_search_gaps;
ALTER TABLE search_gaps DROP COLUMN visitor_id;
ALTER TABLE search_gaps DROP COLUMN area;

CREATE TABLE deflection_rollups_by_category (
    day INTEGER NOT NULL,
    category TEXT NOT NULL,
    metric TEXT NOT NULL,
    gap INTEGER NOT NULL,
    gap2 INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (day, category, metric, gap, gap2)
);
INSERT INTO deflection_rollups_by_category (day, category, metric, gap, gap2, n)
SELECT day, category, metric, gap, gap2, SUM(n) FROM deflection_rollups
WHERE metric NOT IN ('self_service_visitor', 'submitting_visitor') OR area = '*'
GROUP BY day, category, metric, gap, gap2;
DROP TABLE deflection_rollups;
ALTER TABLE deflection_rollups_by_category RENAME TO deflection_rollups;

CREATE TABLE deflection_visitor_days_by_category (
    visitor_id TEXT NOT NULL,
    category TEXT NOT NULL,
    kind TEXT NOT NULL,
    day INTEGER NOT NULL,
    previous_day INTEGER,
    PRIMARY KEY (visitor_id, category, kind, day)
);
INSERT INTO deflection_visitor_days_by_category (visitor_id, category, kind, day, previous_day)
SELECT visitor_id, category, kind, day, previous_day FROM deflection_visitor_days WHERE area = '*';
DROP TABLE deflection_visitor_days;
ALTER TABLE deflection_visitor_days_by_category RENAME TO deflection_visitor_days;

ALTER TABLE deflection_sessions DROP COLUMN area_at;
ALTER TABLE deflection_sessions DROP COLUMN area;
ALTER TABLE deflection_sessions DROP COLUMN category_at;
ALTER TABLE deflection_intents DROP COLUMN area_at;
ALTER TABLE deflection_intents DROP COLUMN area;
ALTER TABLE deflection_intents DROP COLUMN category_at;
DROP INDEX deflection_pairs_confirmed_idx;
ALTER TABLE deflection_pairs DROP COLUMN area_at;
ALTER TABLE deflection_pairs DROP COLUMN area;
ALTER TABLE deflection_pairs DROP COLUMN category_at;
CREATE INDEX deflection_pairs_confirmed_idx
    ON deflection_pairs (confirmed_at, first_contact_after_confirm_at, category, question_id);
ALTER TABLE deflection_events DROP COLUMN area;
