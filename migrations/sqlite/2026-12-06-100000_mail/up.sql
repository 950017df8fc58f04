-- Mail (issue 23): verified and undeliverable addresses, the durable mail
-- outbox the sender tails, single-use account tokens (stored hashed), the
-- residents' mail preferences and the digests already sent.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP;
-- Set when the address's server refused a mail for good (SMTP 5xx); a new
-- address clears it. Notification mail skips such addresses.
ALTER TABLE users ADD COLUMN email_undeliverable_at TIMESTAMP;

-- One row per mail, written in the transaction of what causes it. The
-- sender claims due rows (status pending, or sending with a lapsed lease),
-- sends outside any transaction and records the outcome. status: pending,
-- sending, sent, failed (given up or refused for good), dropped (nothing
-- left to send: the post was hidden, the address is gone).
CREATE TABLE mail_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    -- The address account mail goes to (the one being verified); NULL
    -- means the user's address at send time.
    to_address TEXT,
    notification_id INTEGER,
    -- What the mail needs besides the database (a token until it is sent).
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_user_idx ON mail_outbox (user_id);

-- Email verification and password-reset tokens: only a hash is kept.
CREATE TABLE email_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE UNIQUE INDEX email_tokens_hash_key ON email_tokens (token_hash);
CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose);

-- A resident's choices; no row means the defaults. kinds is a JSON object
-- of the kinds set away from their default.
CREATE TABLE mail_preferences (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    kinds TEXT NOT NULL,
    digest TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One digest per user and period (a day or an ISO week).
CREATE TABLE digests_sent (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    period TEXT NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, period)
);
