-- The foundation: people, sessions, sign-in throttling, API tokens.
-- Instants are BIGINT Unix seconds and booleans BIGINT 0/1 on both backends, so the one
-- storage layer (sqlx Any) decodes every row the same way.

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'dispatcher', 'technician')),
    password_hash TEXT NOT NULL,
    must_change_password BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1,
    phone TEXT,
    area TEXT,
    last_login_at BIGINT,
    created_at BIGINT NOT NULL
);

-- The cookie carries a random token; only its SHA-256 is stored, so a copy of the database
-- does not hand out live sessions.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    flash TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE login_failures (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL,
    ip TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures(email, at);
CREATE INDEX login_failures_ip ON login_failures(ip, at);

-- A lock is written when an account or an address reaches its limit; it holds for 15 minutes.
CREATE TABLE login_locks (
    key TEXT PRIMARY KEY,
    until_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
