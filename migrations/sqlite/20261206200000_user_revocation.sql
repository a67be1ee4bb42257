-- Revoking a user, and only redeemed grants as sources.
--
-- A grant is kept past its code's expiry only once its code is redeemed:
-- `keep_until` starts at the code's (and its login form's) expiry, and the
-- redemption raises it to `keep_after_redeem` (the token's expiry and the
-- token-exchange floor), so an abandoned sign-in goes at its code's expiry.
ALTER TABLE grants ADD COLUMN keep_after_redeem INTEGER NOT NULL DEFAULT 0;
UPDATE grants SET keep_after_redeem = keep_until;
-- A login session names its user, so revoking a user ends their sessions.
ALTER TABLE sessions ADD COLUMN subject TEXT;
CREATE INDEX sessions_subject ON sessions (subject);
-- The users revoked as a whole (command, admin API, logout, Auth0 event):
-- nothing is minted for them until they sign in again.
CREATE TABLE revoked_users (
    subject TEXT PRIMARY KEY NOT NULL,
    revoked_at INTEGER NOT NULL
);
