-- PostgreSQL keeps a table of the search index's words (see the PostgreSQL migration of this
-- name); SQLite reads FTS5's own vocabulary (`ticket_search_terms`, migration 0231). Kept so
-- both backends number their migrations alike.
SELECT 1;
