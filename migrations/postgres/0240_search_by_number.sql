-- The search index also knows each ticket's number range, so a newest-first search for a
-- rare word reads only the index entries and rows of the newest ranges (storage::tickets,
-- `Look::Index`). Each document is indexed with one more lexeme, "~" and the ticket's id
-- divided by 16,384 (`~61` for tickets 999,424-1,015,807): the parser never makes a lexeme
-- with "~" from a ticket's folded text, so no search word can match it. The lexeme lives in
-- the index's expression only; the stored documents are unchanged. The index keeps its name
-- (the writer's background task flushes its pending list by name) and its fast-update
-- settings (migration 0131).
--
-- The documents' statistics keep the 10,000 most common words instead of 1,000 (ANALYZE
-- samples 300,000 rows instead of 30,000): the search reads them to tell a common word
-- (walk the newest tickets one by one) from a rare one (read the index).
--
-- Building the index reads every document: seconds per million tickets (docs/operations.md,
-- "Upgrade").
ALTER TABLE ticket_search ALTER COLUMN doc SET STATISTICS 1000;
DROP INDEX ticket_search_doc;
CREATE INDEX ticket_search_doc ON ticket_search
    USING GIN ((doc || array_to_tsvector(ARRAY['~' || (ticket_id >> 14)::text])))
    WITH (fastupdate = on, gin_pending_list_limit = 16384);
