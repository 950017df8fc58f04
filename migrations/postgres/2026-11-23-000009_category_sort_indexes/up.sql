-- A category's questions by activity and by votes, in index order: without
-- these, listing one category sorted so read and sorted all its questions.
CREATE INDEX questions_category_activity_idx ON questions (category_id, last_activity_at, id);
CREATE INDEX questions_category_score_idx ON questions (category_id, score, id);
