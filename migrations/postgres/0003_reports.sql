-- Projections for the dashboard, all written by the storage layer in the same transaction as
-- the timeline events they come from, so a dashboard over a million tickets reads indexes
-- instead of scanning the timeline.

-- Current tickets per (status, technician); assignee 0 means nobody.
CREATE TABLE ticket_counts (
    status TEXT NOT NULL,
    assignee_id BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (status, assignee_id)
);
INSERT INTO ticket_counts (status, assignee_id, n)
    SELECT status, COALESCE(assignee_id, 0), COUNT(*) FROM tickets GROUP BY status, COALESCE(assignee_id, 0);

-- When the ticket entered the dispatch queue (nuevo / devuelto); NULL while someone has it.
ALTER TABLE tickets ADD COLUMN queued_since BIGINT;
UPDATE tickets SET queued_since = last_event_at WHERE status IN ('nuevo', 'devuelto');

-- One row per stay in the dispatch queue that ended with an assignment.
CREATE TABLE queue_waits (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    ended_at BIGINT NOT NULL,
    secs BIGINT NOT NULL
);
CREATE INDEX queue_waits_ended ON queue_waits(ended_at, secs);

-- Covering indexes: each time metric is read from an index range on its milestone.
DROP INDEX tickets_closed;
CREATE INDEX tickets_closed_cover ON tickets(closed_at, assignee_id, created_at);
CREATE INDEX tickets_assigned_cover ON tickets(first_assigned_at, assignee_id, created_at);
CREATE INDEX tickets_response_cover ON tickets(first_response_at, assignee_id, created_at);
CREATE INDEX ticket_events_kind_at ON ticket_events(kind, at);
