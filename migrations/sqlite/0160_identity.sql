-- Company sign-in (issue 16): TOTP second factor, its recovery codes, the pending second step
-- of a sign-in, pending OpenID Connect sign-ins, and the directory identities of accounts.
-- Secrets (TOTP seeds) are sealed by the application (domain/secrets.rs) before they get here.

CREATE TABLE user_totp (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    -- Sealed (v1.<key id>.<…>), context "user_totp.secret".
    secret TEXT NOT NULL,
    -- NULL while the person is still setting it up.
    enabled_at BIGINT,
    -- The last time step whose code was accepted: a code works once.
    last_step BIGINT,
    created_at BIGINT NOT NULL
);

-- Ten one-time codes for a lost phone; only their SHA-256 is kept.
CREATE TABLE user_recovery_codes (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX user_recovery_codes_user ON user_recovery_codes(user_id);

-- A password that was right, waiting for its second factor. The cookie holds a random
-- token; only its SHA-256 is stored. Short-lived (five minutes).
CREATE TABLE login_challenges (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    -- How the first step signed in ('password' or 'ldap'), for the session it becomes.
    method TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- An OpenID Connect sign-in sent to the provider: found again by its state (hashed), tied
-- to the browser that started it (hash of a cookie value), single use, ten minutes.
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Which directory identity signed in as which account (OIDC subject, LDAP DN).
CREATE TABLE user_identities (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    UNIQUE (provider, subject)
);
CREATE INDEX user_identities_user ON user_identities(user_id);

-- How a session signed in ('password', 'ldap', 'sso'): `--require-2fa-admins` asks a second
-- factor of password sign-ins; the identity provider is trusted with its own.
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';
