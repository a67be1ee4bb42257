-- Refresh tokens, by SHA-256. A family is one grant (one login for one
-- client): rotation adds rows to it, reuse of a spent row revokes it all.
-- state: 0 active, 1 being rotated (a renewal is in flight), 2 spent
-- (rotated; successor_sealed holds the successor for the grace period),
-- 3 revoked.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    family_expires_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL,
    rotated_at INTEGER,
    successor_sealed BLOB
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_family_expires_at ON refresh_tokens (family_expires_at);
