DROP TABLE experiment_arms;
DROP TABLE deflection_rollups;
DROP TABLE deflection_visitor_days;
DROP TABLE deflection_sessions;
DROP TABLE deflection_intents;
DROP TABLE deflection_pairs;
DROP TABLE deflection_events;
