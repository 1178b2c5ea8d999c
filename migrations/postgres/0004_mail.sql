-- The mail channel: notifications waiting to be sent (the outbox), messages kept out of the
-- ticket flow (quarantine), attachments, links between tickets, and leases so that only one
-- instance polls the mailbox or sends mail at a time.
-- Same file name and shape on both backends; instants are BIGINT Unix seconds.

-- Written in the same transaction as the event that causes the notice, so a notice exists
-- exactly when its event does. The sender retries with backoff until the SMTP server accepts
-- it. `token` is the left part of the Message-ID (`<token@domain>`), recorded so that replies
-- thread back to the ticket.
CREATE TABLE mail_outbox (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    recipient TEXT NOT NULL,
    params TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    in_reply_to TEXT,
    refs TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'suppressed', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt_at, id);
CREATE INDEX mail_outbox_recipient ON mail_outbox(recipient, sent_at);
CREATE INDEX mail_outbox_ticket ON mail_outbox(ticket_id, id);

-- Auto-replies, bulk mail, bounces and unreadable messages: kept (never lost), never
-- answered, and turned into a ticket only by an administrator. `key` is the Message-ID (or
-- a hash of the bytes) so a redelivery is recorded once.
CREATE TABLE mail_quarantine (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    received_at BIGINT NOT NULL,
    sender TEXT NOT NULL,
    subject TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    size BIGINT NOT NULL,
    raw BYTEA NOT NULL,
    ticket_id BIGINT REFERENCES tickets(id),
    released_by BIGINT REFERENCES users(id),
    released_at BIGINT
);
CREATE INDEX mail_quarantine_received ON mail_quarantine(received_at, id);

-- Files that came with a customer's message. `data` is NULL when the file was over the size
-- limit: the record (name, type, size) stays so nobody wonders where it went.
CREATE TABLE mail_attachments (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    data BYTEA,
    created_at BIGINT NOT NULL
);
CREATE INDEX mail_attachments_ticket ON mail_attachments(ticket_id, id);

-- A message that named a ticket its sender is not part of opens a new ticket linked to it.
CREATE TABLE ticket_links (
    ticket_id BIGINT NOT NULL REFERENCES tickets(id),
    linked_id BIGINT NOT NULL REFERENCES tickets(id),
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (ticket_id, linked_id)
);
CREATE INDEX ticket_links_linked ON ticket_links(linked_id);

-- Who holds a background job (the IMAP poller, the outbox sender) until when.
CREATE TABLE mail_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_at BIGINT NOT NULL
);
