-- Every cleanup statement reads through an index, so a pass reads what it
-- deletes, not whole tables, while it holds the write lock.
--
-- The time before which cleanup need not look at a grant: the latest of its
-- code's, its login form's and its legacy token's expiry and the end of its
-- refresh families. Cleanup reads only the grants past it, through the
-- index, so a pass reads what it deletes and not the whole table. The
-- statements that insert a grant, extend its token, start a refresh family
-- or revoke it keep it up (src/store/sql.rs).
ALTER TABLE grants ADD COLUMN keep_until BIGINT NOT NULL DEFAULT 0;
UPDATE grants SET keep_until = GREATEST(
    code_expires_at,
    token_expires_at,
    COALESCE(login_expires_at, 0),
    COALESCE((SELECT MAX(r.family_expires_at) FROM refresh_tokens r WHERE r.grant_id = grants.id), 0)
);
CREATE INDEX grants_keep_until ON grants (keep_until);
-- Cleanup was this index's only reader, and its condition could not use it.
DROP INDEX grants_token_expires_at;
-- The other cleanup statements read through indexes too: revoked refresh
-- tokens (a partial index: only revocation enters it), used client
-- assertions and idle throttle counters by their expiry.
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (state) WHERE state = 3;
CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);
CREATE INDEX login_throttle_window ON login_throttle (window_started_at);
