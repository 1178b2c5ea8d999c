-- The dashboard counts returns and passes per period (and per technician): with the kind and
-- the actor in the partial index, the count reads only the index (measured at a million
-- tickets: 136 ms → a few ms).
DROP INDEX ticket_events_handoffs;
CREATE INDEX ticket_events_handoffs ON ticket_events(at, kind, actor_id) WHERE kind IN ('returned', 'reassigned');
