-- Tickets and their append-only timeline.
-- The *_at columns after created_at are projections of the timeline, written by the storage
-- layer in the same transaction as the events they come from; the events stay the truth.

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('nuevo', 'asignado', 'en_atencion', 'devuelto', 'cerrado')),
    version BIGINT NOT NULL DEFAULT 1,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    requester TEXT NOT NULL,
    assignee_id BIGINT REFERENCES users(id),
    created_by BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    first_assigned_at BIGINT,
    first_response_at BIGINT,
    closed_at BIGINT,
    closed_by BIGINT REFERENCES users(id),
    resolution TEXT,
    last_event_at BIGINT NOT NULL,
    last_event_kind TEXT NOT NULL
);
CREATE INDEX tickets_created ON tickets(created_at, id);
CREATE INDEX tickets_status_created ON tickets(status, created_at, id);
CREATE INDEX tickets_assignee_created ON tickets(assignee_id, created_at, id);
CREATE INDEX tickets_closed ON tickets(closed_at);

CREATE TABLE ticket_events (
    id INTEGER PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    at BIGINT NOT NULL,
    actor_id BIGINT REFERENCES users(id),
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events(ticket_id, id);

-- The timeline is history: the database itself refuses to rewrite it.
CREATE TRIGGER ticket_events_no_update BEFORE UPDATE ON ticket_events
BEGIN
    SELECT RAISE(ABORT, 'ticket_events is append-only');
END;
CREATE TRIGGER ticket_events_no_delete BEFORE DELETE ON ticket_events
BEGIN
    SELECT RAISE(ABORT, 'ticket_events is append-only');
END;

-- A delivery's Message-ID or Idempotency-Key, so a retried delivery creates its ticket once.
CREATE TABLE intake_keys (
    key TEXT PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    created_at BIGINT NOT NULL
);

-- Full-text search over subject, body, sender and comments; rowid = ticket id. The text is
-- folded (lower case, no accents) by the application before it gets here, so both backends
-- match "camara" to "Cámara" the same way.
CREATE VIRTUAL TABLE ticket_search USING fts5(doc, tokenize = 'unicode61 remove_diacritics 2');
