-- Leaner indexes for large databases (measured with `soporte demo --tickets 1000000`).
-- 1. Returns and passes are the only events the dashboard looks up by kind: a partial index
--    on their instant replaces the (kind, at) index over every event, so creating a ticket or
--    commenting no longer touches it.
DROP INDEX ticket_events_kind_at;
CREATE INDEX ticket_events_handoffs ON ticket_events(at) WHERE kind IN ('returned', 'reassigned');

-- 2. Search only ever asks "which tickets contain these word prefixes": FTS5 with
--    detail=none (no positions) and no column sizes is several times smaller and faster to
--    write, and answers exactly those queries.
CREATE VIRTUAL TABLE ticket_search_lean USING fts5(doc, tokenize = 'unicode61 remove_diacritics 2', detail = none, columnsize = 0);
INSERT INTO ticket_search_lean (rowid, doc) SELECT rowid, doc FROM ticket_search;
DROP TABLE ticket_search;
ALTER TABLE ticket_search_lean RENAME TO ticket_search;
