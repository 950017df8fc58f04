-- A question may be closed as a duplicate of a newer one. Restoring a dump
-- inserts questions in id order, so the link is checked at commit: SQLite
-- does that per transaction (PRAGMA defer_foreign_keys), so its schema
-- needs no change; PostgreSQL's constraint becomes deferrable.
SELECT 1;
