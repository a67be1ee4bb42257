-- Revocations as events, so every gateway instance can drop the cached
-- tokens of a user whose grant was revoked at any instance: each gateway
-- polls for rows newer than the last it saw. Rows are kept an hour.
CREATE TABLE revocations (
    subject TEXT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);
