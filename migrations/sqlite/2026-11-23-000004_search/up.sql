-- Searches that found nothing, or nothing solved: the content-gap report.
CREATE TABLE search_gaps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    query TEXT NOT NULL,
    kind TEXT NOT NULL,
    results INTEGER NOT NULL,
    category TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX search_gaps_created_idx ON search_gaps (created_at);
CREATE INDEX search_gaps_query_idx ON search_gaps (query, created_at);
