-- Failed logins per username (hashed) and per client address, for growing
-- delays and temporary lockouts.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    window_started_at BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0
);
