DROP INDEX deflection_events_excluded_idx;
DROP INDEX deflection_events_address_idx;
ALTER TABLE deflection_events DROP COLUMN address_key;
DROP TABLE rate_limit_buckets;
DROP INDEX deflection_sessions_visitor_idx;
DROP INDEX search_gaps_visitor_idx;
DROP INDEX deflection_search_gaps_searcher_idx;
ALTER TABLE users DROP COLUMN erased_at;
DROP TABLE api_keys;
