-- Webhooks (issue 27): the council's endpoints and the durable delivery
-- log the sender tails (docs/architecture.md, "Outbound deliveries").

-- An endpoint and what it subscribes to. The secret must be readable to
-- sign with; during a rotation the previous one signs too, until
-- previous_secret_expires_at. failing_since is the first failure of the
-- current run of failures (cleared by a success): a run that lasts too
-- long disables the endpoint.
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- JSON array of event types, e.g. ["answer.created"].
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    previous_secret_expires_at TIMESTAMP,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    failing_since TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- One row per event and endpoint, written in the transaction of its
-- cause. subject holds the event's ids (JSON); titles and links are read
-- at send time, so a post hidden since is not sent. status: pending,
-- sending (claimed until lease_until), failed (retry at next_attempt_at),
-- succeeded, abandoned.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    response_status INTEGER,
    duration_ms INTEGER,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);

-- Each attempt: its outcome, the response code, how long it took and the
-- first 1 kB of the response, kept with its delivery.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at TIMESTAMP NOT NULL,
    succeeded BOOLEAN NOT NULL,
    response_status INTEGER,
    duration_ms INTEGER NOT NULL,
    response_body TEXT,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
