-- The conversation with the requester (issue 13).
--
-- A new status, `en_espera` (waiting for the requester's answer): the CHECK constraint is
-- replaced, and the open-backlog indexes, whose predicate lists the open statuses, are made
-- again with it.
ALTER TABLE tickets DROP CONSTRAINT tickets_status_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_status_check
    CHECK (status IN ('nuevo', 'asignado', 'en_atencion', 'en_espera', 'devuelto', 'cerrado'));
-- The requester's name as their mail client wrote it.
ALTER TABLE tickets ADD COLUMN requester_name TEXT;
-- Since when it waits for the requester (en_espera).
ALTER TABLE tickets ADD COLUMN waiting_since BIGINT;
-- The requester's rating of the last close (1 to 5) and their comment, until it reopens.
ALTER TABLE tickets ADD COLUMN rating BIGINT;
ALTER TABLE tickets ADD COLUMN rating_comment TEXT;

DROP INDEX tickets_open;
DROP INDEX tickets_open_assignee;
CREATE INDEX tickets_open ON tickets(created_at, id, status, assignee_id, last_event_at, last_event_kind, subject)
    WHERE status IN ('nuevo', 'asignado', 'en_atencion', 'en_espera', 'devuelto');
CREATE INDEX tickets_open_assignee ON tickets(assignee_id, created_at, id, status, last_event_at, last_event_kind, subject)
    WHERE status IN ('nuevo', 'asignado', 'en_atencion', 'en_espera', 'devuelto');
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
