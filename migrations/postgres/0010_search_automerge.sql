-- SQLite's full-text index changed its merge policy in this version; PostgreSQL's GIN index
-- has nothing to change. (Kept so both backends number their migrations alike.)
SELECT 1;
