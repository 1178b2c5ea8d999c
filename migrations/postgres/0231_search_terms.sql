-- SQLite's newest-first search reads its index's vocabulary (see the SQLite migration of
-- this name); PostgreSQL's search does not. Kept so both backends number their migrations
-- alike.
SELECT 1;
