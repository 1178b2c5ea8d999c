-- The search index's pending list (GIN fast update) is no longer flushed inside the commit
-- that fills it: a background task of each instance flushes it every second
-- (gin_clean_pending_list), and the list may grow to 16 MB before an insert would have to
-- flush it itself.
ALTER INDEX ticket_search_doc SET (fastupdate = on, gin_pending_list_limit = 16384);
