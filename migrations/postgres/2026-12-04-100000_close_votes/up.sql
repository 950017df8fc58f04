-- Users with the close_vote privilege vote to close a question; enough
-- votes (the settings' moderation.close_votes) close it. One vote per user
-- and question; a reopening clears them.
CREATE TABLE close_votes (
    question_id BIGINT NOT NULL REFERENCES questions (id),
    voter_id BIGINT NOT NULL REFERENCES users (id),
    reason TEXT NOT NULL,
    duplicate_of BIGINT REFERENCES questions (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (question_id, voter_id)
);
CREATE INDEX close_votes_voter_idx ON close_votes (voter_id);
