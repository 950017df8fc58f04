ALTER TABLE questions ALTER CONSTRAINT questions_duplicate_of_fkey NOT DEFERRABLE;
