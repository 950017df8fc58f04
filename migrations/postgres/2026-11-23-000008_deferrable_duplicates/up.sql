-- A question may be closed as a duplicate of a newer one. Restoring a dump
-- inserts questions in id order, so the link is checked at commit.
ALTER TABLE questions ALTER CONSTRAINT questions_duplicate_of_fkey DEFERRABLE INITIALLY IMMEDIATE;
