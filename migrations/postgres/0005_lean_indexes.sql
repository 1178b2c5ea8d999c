-- Leaner indexes for large databases (measured with `soporte demo --tickets 1000000`).
-- Returns and passes are the only events the dashboard looks up by kind: a partial index on
-- their instant replaces the (kind, at) index over every event, so creating a ticket or
-- commenting no longer touches it. (SQLite's migration also slims its FTS5 table; the
-- PostgreSQL tsvector needs no change.)
DROP INDEX ticket_events_kind_at;
CREATE INDEX ticket_events_handoffs ON ticket_events(at) WHERE kind IN ('returned', 'reassigned');
