-- The search index's vocabulary: every word of every search document, kept by the writer in
-- the same transaction as the documents it comes from (storage::write, `write_search`), so
-- each committed word is in it. A newest-first search that reads the index (storage::tickets,
-- `Look::Index`) spells a typed term out as the indexed words it begins (`'impresora' |
-- 'impresoras'`): GIN then skips through each word's list to the window's number ranges,
-- where a prefix (`impresora:*`) first collects every entry of every word it begins,
-- however narrow the window. Words are never taken out (a word no document holds any more
-- matches nothing). The "C" collation orders the words byte by byte, as the index does, so
-- the words a term begins are one range of the primary key.
--
-- Filling it reads every document once: seconds per million tickets (docs/operations.md,
-- "Upgrade").
CREATE TABLE ticket_search_words (
    word TEXT COLLATE "C" PRIMARY KEY
);
INSERT INTO ticket_search_words (word)
SELECT DISTINCT w FROM ticket_search, unnest(tsvector_to_array(doc)) AS w;
