-- Failed logins per username (hashed) and per client address, for growing
-- delays and temporary lockouts.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at INTEGER NOT NULL,
    locked_until INTEGER NOT NULL DEFAULT 0
);
