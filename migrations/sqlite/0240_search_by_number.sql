-- PostgreSQL's search index learns each ticket's number range (see the PostgreSQL migration
-- of this name); SQLite's FTS5 index is walked newest first already. Kept so both backends
-- number their migrations alike.
SELECT 1;
