-- Revocations as events, so every gateway instance can drop the cached
-- tokens of a user whose grant was revoked at any instance: each gateway
-- polls for rows stamped (by the database's clock) since its last poll, and
-- takes in those with an id it has not seen. Rows are kept an hour.
CREATE TABLE revocations (
    id BIGSERIAL PRIMARY KEY,
    subject TEXT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revocations_revoked_at ON revocations (revoked_at);
