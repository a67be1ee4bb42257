-- One rendered login form yields at most one code: the form's random id is
-- kept with the grant it produced (unique), and the grant is not cleaned
-- up before the form itself expires. NULL for prompt=none grants.
ALTER TABLE grants ADD COLUMN login_id TEXT;
ALTER TABLE grants ADD COLUMN login_expires_at INTEGER;
CREATE UNIQUE INDEX grants_login_id ON grants (login_id);
