-- The search index's vocabulary, read (never written) by a newest-first search to spell a
-- typed term out as the indexed words it begins: FTS5 walks a few exact words' lists newest
-- first, where a prefix query merges every list of every segment before its first row.
-- A virtual table over ticket_search: it stores nothing.
CREATE VIRTUAL TABLE ticket_search_terms USING fts5vocab(ticket_search, row);
