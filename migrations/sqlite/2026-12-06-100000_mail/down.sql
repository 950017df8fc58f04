DROP TABLE digests_sent;
DROP TABLE mail_preferences;
DROP TABLE email_tokens;
DROP TABLE mail_outbox;
ALTER TABLE users DROP COLUMN email_undeliverable_at;
ALTER TABLE users DROP COLUMN email_verified_at;
