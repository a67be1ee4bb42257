-- Token exchange: a user's live grant is found by subject, and an expired
-- legacy token is renewed by one claimant at a time (a lease, so a claim
-- whose process died is taken over).
ALTER TABLE grants ADD COLUMN renewing_until BIGINT;
CREATE INDEX grants_subject ON grants (subject, token_expires_at);
