-- OAuth2 for the support mailbox (issue 16): the one stored grant (delegated: the refresh
-- token an administrator's consent gave; app-only: just the cached access token), the
-- authorizations under way, and the health of each mail direction. Tokens are sealed by the
-- application (domain/secrets.rs) before they get here.

CREATE TABLE mail_oauth (
    slot TEXT PRIMARY KEY,
    grant_type TEXT NOT NULL,
    -- The account that consented (delegated), as the provider named it.
    account TEXT,
    -- Sealed, context "mail_oauth.refresh_token". Replaced in the same transaction as the
    -- refresh that used it (rotation).
    refresh_token TEXT,
    -- Sealed, context "mail_oauth.access_token"; shared by every instance.
    access_token TEXT,
    access_expires_at BIGINT,
    connected_by BIGINT REFERENCES users(id),
    connected_at BIGINT,
    refreshed_at BIGINT,
    -- How many times the refresh token was rotated (for the administrator's page).
    rotations BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE mail_oauth_pending (
    state_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    pkce_verifier TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row per direction ('fetch' = IMAP, 'send' = SMTP).
CREATE TABLE mail_health (
    direction TEXT PRIMARY KEY,
    last_success_at BIGINT,
    last_error_at BIGINT,
    last_error TEXT,
    failing_since BIGINT,
    alerted_at BIGINT
);
