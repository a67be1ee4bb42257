-- PostgreSQL schema: the same tables as SQLite (see migrations/sqlite).
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_sealed BYTEA NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    profile_json TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    token_sealed BYTEA NOT NULL,
    legacy_refresh_sealed BYTEA,
    token_expires_at BIGINT NOT NULL,
    auth_time BIGINT NOT NULL,
    revoked BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    code_hash BYTEA NOT NULL UNIQUE,
    redirect_uri TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    code_expires_at BIGINT NOT NULL,
    code_used BIGINT NOT NULL DEFAULT 0,
    id_token_sealed BYTEA
);
CREATE INDEX grants_token_hash ON grants (token_hash);
CREATE INDEX grants_token_expires_at ON grants (token_expires_at);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    state BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    family_expires_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    rotated_at BIGINT,
    successor_sealed BYTEA
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_family_expires_at ON refresh_tokens (family_expires_at);
