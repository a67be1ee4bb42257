-- Signing keys: the private part sealed under the storage key.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_sealed BLOB NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- A grant: one successful login for one client, with the single-use
-- authorization code that redeems it (one row, so a login is one INSERT and
-- a redemption one UPDATE ... RETURNING). The legacy token is looked up by
-- its SHA-256 and stored only sealed; the code only as its SHA-256.
CREATE TABLE grants (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    scope TEXT NOT NULL,
    profile_json TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    token_sealed BLOB NOT NULL,
    legacy_refresh_sealed BLOB,
    token_expires_at INTEGER NOT NULL,
    auth_time INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    code_hash BLOB NOT NULL UNIQUE,
    redirect_uri TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    code_expires_at INTEGER NOT NULL,
    code_used INTEGER NOT NULL DEFAULT 0,
    id_token_sealed BLOB
);
CREATE INDEX grants_token_hash ON grants (token_hash);
CREATE INDEX grants_token_expires_at ON grants (token_expires_at);

-- Login sessions (tower-sessions records as JSON).
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
