-- Issue 15, the administrator's side.
-- The one-time password shown after an account is created or a password reset: kept on the
-- session that asked for it (sealed under SOPORTE_SECRET_KEY when one is set) until the page
-- after the redirect takes it, so a refresh neither re-posts the form nor shows it again.
ALTER TABLE sessions ADD COLUMN issued TEXT;

-- What happened to an account and who did it (unlocked, password reset, disabled, enabled,
-- role changed): the account's own history, shown on its page in Técnicos. Append-only.
CREATE TABLE account_events (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    kind TEXT NOT NULL,
    actor_id BIGINT REFERENCES users(id),
    actor_name TEXT NOT NULL,
    detail TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX account_events_user ON account_events(user_id, at);
