-- Open311 escalation (issue 28): which GeoReport v2 service each category
-- becomes, the council cases (one per question, ever) and the questions
-- waiting to be escalated if nobody answers them.

CREATE TABLE open311_services (
    category_id INTEGER PRIMARY KEY REFERENCES categories (id) ON DELETE CASCADE,
    service_code TEXT NOT NULL
);

-- A case, written when a question is escalated; the worker submits it,
-- then follows it. status: pending (to submit, or retrying), submitted
-- (the endpoint took it: an id, or a batch token), open, closed, failed
-- (refused for good). next_attempt_at is the next submission or poll.
CREATE TABLE escalations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id INTEGER NOT NULL UNIQUE REFERENCES questions (id),
    -- The staff member who escalated; NULL when it was automatic.
    requested_by INTEGER,
    service_code TEXT NOT NULL,
    address_string TEXT,
    latitude REAL,
    longitude REAL,
    -- JSON object: attribute code -> value or list of values.
    attributes TEXT NOT NULL,
    share_email BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    service_request_id TEXT,
    token TEXT,
    status_notes TEXT,
    last_error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    submitted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX escalations_due_idx ON escalations (status, next_attempt_at);

-- What the asker chose when asking: escalate if still unanswered at
-- due_at (auto_escalate), where, and whether their email may go with the
-- case.
CREATE TABLE escalation_requests (
    question_id INTEGER PRIMARY KEY REFERENCES questions (id) ON DELETE CASCADE,
    address_string TEXT,
    latitude REAL,
    longitude REAL,
    share_email BOOLEAN NOT NULL,
    auto_escalate BOOLEAN NOT NULL,
    due_at TIMESTAMP NOT NULL
);
CREATE INDEX escalation_requests_due_idx ON escalation_requests (due_at);
