-- Flags and their review, and the append-only audit log.
CREATE TABLE flags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reporter_id INTEGER REFERENCES users (id),
    target_type TEXT NOT NULL,
    target_id INTEGER NOT NULL,
    question_id INTEGER NOT NULL REFERENCES questions (id),
    target_author_id INTEGER NOT NULL REFERENCES users (id),
    reason TEXT NOT NULL,
    note TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    resolution TEXT,
    resolved_by INTEGER REFERENCES users (id),
    resolution_note TEXT,
    resolved_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX flags_reporter_target_key ON flags (reporter_id, target_type, target_id);
CREATE INDEX flags_status_created_idx ON flags (status, created_at, id);
CREATE INDEX flags_target_idx ON flags (target_type, target_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id INTEGER REFERENCES users (id),
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id INTEGER,
    reason TEXT,
    before_state TEXT,
    after_state TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, created_at);
CREATE INDEX audit_log_action_idx ON audit_log (action, created_at);

-- The audit log is append-only whatever the application does.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
