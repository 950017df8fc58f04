DROP INDEX users_accepted_idx;
DROP INDEX users_reputation_idx;
ALTER TABLE users DROP COLUMN expert_notifications;
ALTER TABLE users DROP COLUMN accepted_answers;
DROP TABLE settings;
DROP TABLE badges;
DROP TABLE user_category_stats;
DROP TABLE reputation_events;
