-- Questions, answers, comments, revisions, votes, follows, notifications,
-- views and the search outbox.
CREATE TABLE categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    question_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX categories_slug_key ON categories (slug);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    question_count INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX tags_name_key ON tags (name);
CREATE INDEX tags_count_idx ON tags (question_count, name);

CREATE TABLE questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id INTEGER NOT NULL REFERENCES users (id),
    category_id INTEGER NOT NULL REFERENCES categories (id),
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    body_html TEXT NOT NULL,
    area TEXT,
    score INTEGER NOT NULL DEFAULT 0,
    answer_count INTEGER NOT NULL DEFAULT 0,
    view_count INTEGER NOT NULL DEFAULT 0,
    accepted_answer_id INTEGER,
    has_verified_answer BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL DEFAULT 'unanswered',
    closed_at TIMESTAMP,
    close_reason TEXT,
    duplicate_of INTEGER REFERENCES questions (id),
    locked_at TIMESTAMP,
    hidden_at TIMESTAMP,
    deleted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_activity_at TIMESTAMP NOT NULL
);
CREATE INDEX questions_created_idx ON questions (created_at, id);
CREATE INDEX questions_activity_idx ON questions (last_activity_at, id);
CREATE INDEX questions_score_idx ON questions (score, id);
CREATE INDEX questions_category_created_idx ON questions (category_id, created_at, id);
CREATE INDEX questions_status_created_idx ON questions (status, created_at, id);
CREATE INDEX questions_author_idx ON questions (author_id, created_at);
CREATE INDEX questions_area_idx ON questions (area, created_at);

CREATE TABLE question_tags (
    question_id INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES tags (id),
    PRIMARY KEY (question_id, tag_id)
);
CREATE INDEX question_tags_tag_idx ON question_tags (tag_id, question_id);

CREATE TABLE answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id INTEGER NOT NULL REFERENCES questions (id),
    author_id INTEGER NOT NULL REFERENCES users (id),
    body TEXT NOT NULL,
    body_html TEXT NOT NULL,
    score INTEGER NOT NULL DEFAULT 0,
    verified_at TIMESTAMP,
    verified_by INTEGER REFERENCES users (id),
    review_by TIMESTAMP,
    hidden_at TIMESTAMP,
    deleted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX answers_question_idx ON answers (question_id, id);
CREATE INDEX answers_author_idx ON answers (author_id, created_at);

CREATE TABLE comments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id INTEGER NOT NULL REFERENCES questions (id),
    answer_id INTEGER REFERENCES answers (id),
    author_id INTEGER NOT NULL REFERENCES users (id),
    body TEXT NOT NULL,
    body_html TEXT NOT NULL,
    hidden_at TIMESTAMP,
    deleted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX comments_question_idx ON comments (question_id, id);
CREATE INDEX comments_author_idx ON comments (author_id, created_at);

CREATE TABLE revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    post_type TEXT NOT NULL,
    post_id INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    editor_id INTEGER NOT NULL REFERENCES users (id),
    title TEXT,
    body TEXT NOT NULL,
    tags TEXT,
    redacted_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX revisions_post_key ON revisions (post_type, post_id, revision);

CREATE TABLE votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    voter_id INTEGER NOT NULL REFERENCES users (id),
    post_type TEXT NOT NULL,
    post_id INTEGER NOT NULL,
    value INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX votes_voter_post_key ON votes (voter_id, post_type, post_id);
CREATE INDEX votes_post_idx ON votes (post_type, post_id);
CREATE INDEX votes_voter_created_idx ON votes (voter_id, created_at);

CREATE TABLE question_views (
    question_id INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    visitor_key TEXT NOT NULL,
    day TEXT NOT NULL,
    PRIMARY KEY (question_id, visitor_key, day)
);
CREATE INDEX question_views_day_idx ON question_views (day);

CREATE TABLE follows (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    question_id INTEGER NOT NULL REFERENCES questions (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, question_id)
);
CREATE INDEX follows_question_idx ON follows (question_id);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    question_id INTEGER REFERENCES questions (id),
    answer_id INTEGER REFERENCES answers (id),
    comment_id INTEGER REFERENCES comments (id),
    actor_id INTEGER REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id);

CREATE TABLE search_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX search_outbox_created_idx ON search_outbox (created_at);
