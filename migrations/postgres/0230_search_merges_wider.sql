-- SQLite's search index merges 16 segments at a time (see the SQLite migration of this
-- name); PostgreSQL's GIN index has no segments to merge. Kept so both backends number their
-- migrations alike.
SELECT 1;
