-- The conversation with the requester (issue 13).
--
-- A new status, `en_espera` (waiting for the requester's answer). SQLite cannot change a CHECK
-- constraint in place, so `tickets` is rebuilt: a new table with the new CHECK and the new
-- columns, every row copied, the old table dropped and the new one renamed. The migration
-- connection runs with foreign keys off (see Store::migrate), as SQLite's own procedure for
-- changing a table asks, and checks them afterwards. At a million tickets this takes about
-- as long as copying the table once.
CREATE TABLE tickets_new (
    id INTEGER PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('nuevo', 'asignado', 'en_atencion', 'en_espera', 'devuelto', 'cerrado')),
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
    last_event_kind TEXT NOT NULL,
    queued_since BIGINT,
    -- The requester's name as their mail client wrote it.
    requester_name TEXT,
    -- Since when it waits for the requester (en_espera).
    waiting_since BIGINT,
    -- The requester's rating of the last close (1 to 5) and their comment, until it reopens.
    rating BIGINT,
    rating_comment TEXT
);
INSERT INTO tickets_new (id, status, version, subject, body, requester, assignee_id, created_by,
    created_at, updated_at, first_assigned_at, first_response_at, closed_at, closed_by, resolution,
    last_event_at, last_event_kind, queued_since)
SELECT id, status, version, subject, body, requester, assignee_id, created_by,
    created_at, updated_at, first_assigned_at, first_response_at, closed_at, closed_by, resolution,
    last_event_at, last_event_kind, queued_since
FROM tickets;
DROP TABLE tickets;
ALTER TABLE tickets_new RENAME TO tickets;

CREATE INDEX tickets_created ON tickets(created_at, id);
CREATE INDEX tickets_status_id ON tickets(status, id);
CREATE INDEX tickets_assignee_id ON tickets(assignee_id, id);
-- The open backlog now includes the tickets waiting for their requester.
CREATE INDEX tickets_open ON tickets(created_at, id, status, assignee_id, last_event_at, last_event_kind, subject)
    WHERE status IN ('nuevo', 'asignado', 'en_atencion', 'en_espera', 'devuelto');
CREATE INDEX tickets_open_assignee ON tickets(assignee_id, created_at, id, status, last_event_at, last_event_kind, subject)
    WHERE status IN ('nuevo', 'asignado', 'en_atencion', 'en_espera', 'devuelto');
CREATE INDEX tickets_queued ON tickets(queued_since)
    WHERE status IN ('nuevo', 'devuelto');
-- "Otras incidencias de este solicitante" (?requester=), newest first.
CREATE INDEX tickets_requester ON tickets(requester, id);
-- The waiting tickets the reminder and the automatic close look at.
CREATE INDEX tickets_waiting ON tickets(waiting_since) WHERE status = 'en_espera';

-- Files belong to the message they came with (a reply, a note, the requester's message), so
-- they have that message's visibility.
ALTER TABLE mail_attachments ADD COLUMN event_id BIGINT REFERENCES ticket_events(id);

-- The requester's status page: each e-mail to them carries a link with a fresh random token;
-- only its SHA-256 is kept. Any of a ticket's links opens its page.
CREATE TABLE status_links (
    token_hash TEXT PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    created_at BIGINT NOT NULL
);
CREATE INDEX status_links_ticket ON status_links(ticket_id);

-- Requests counted by a key (the status page: by client address), so a limit holds across
-- instances. Old rows are pruned as new ones come.
CREATE TABLE request_counts (
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX request_counts_key ON request_counts(key, at);
