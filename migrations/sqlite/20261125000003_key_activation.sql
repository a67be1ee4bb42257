-- Two-phase key rotation: a key is published at once and signs from activates_at.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0;
