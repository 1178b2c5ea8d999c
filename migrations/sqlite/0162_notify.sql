-- Chat notices (issue 16): channels (Teams, Telegram, Slack-compatible, signed webhooks),
-- their deliveries (a durable outbox with retries), and the feed's cursor over the
-- append-only timeline. Targets and secrets are sealed by the application.

CREATE TABLE notify_channels (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('teams', 'telegram', 'slack', 'webhook')),
    name TEXT NOT NULL,
    -- Sealed, context "notify_channels.target": the webhook URL, or the Telegram bot token.
    target TEXT NOT NULL,
    -- What the page may show of the target (the host), never the whole capability URL.
    target_hint TEXT NOT NULL,
    -- Telegram's chat id.
    chat_id TEXT,
    -- Sealed, context "notify_channels.secret": the generic webhook's signing secret.
    secret TEXT,
    -- Comma-separated: new, assigned, sla_warning, sla_breach.
    events TEXT NOT NULL,
    -- A technician's own channel receives only what is assigned to them.
    owner_id BIGINT REFERENCES users(id),
    active BIGINT NOT NULL DEFAULT 1,
    created_by BIGINT REFERENCES users(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE notify_deliveries (
    id INTEGER PRIMARY KEY,
    channel_id BIGINT NOT NULL REFERENCES notify_channels(id) ON DELETE CASCADE,
    -- The timeline event it comes from (NULL for "Enviar prueba").
    event_id BIGINT,
    event TEXT NOT NULL,
    -- The notice (JSON), rendered for the channel's kind when sent.
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'suppressed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    UNIQUE (channel_id, event_id)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries(status, next_attempt_at);
CREATE INDEX notify_deliveries_sent ON notify_deliveries(channel_id, sent_at);

-- How far the feed has read the timeline. On SQLite events commit in id order, so the id
-- alone is the position (tx_id stays 0).
CREATE TABLE notify_cursor (
    name TEXT PRIMARY KEY,
    tx_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL
);
