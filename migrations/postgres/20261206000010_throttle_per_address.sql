-- Failed logins are counted per username from one address (`ua:` keys),
-- per address (`addr:`) and per username across addresses (`user:`, now a
-- much higher ceiling). `user_key` names the username a counter belongs to
-- (its `user:` key; NULL for an address), so unlocking a user finds every
-- counter of it through one index.
ALTER TABLE login_throttle ADD COLUMN user_key TEXT;
-- The old per-username counters become the ceiling's: their counts go on,
-- but their lockouts were taken at the old, lower limit and end now.
UPDATE login_throttle SET user_key = key, locked_until = 0 WHERE key LIKE 'user:%';
CREATE INDEX login_throttle_user_key ON login_throttle (user_key);
