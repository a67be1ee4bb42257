//! The SQL both backends run: every statement written once, as text both
//! SQLite and PostgreSQL accept. Placeholders are PostgreSQL's `$n`; the
//! SQLite backend runs each statement with them turned into `?n`
//! ([`numbered`]), since SQLite reads `$n` as a *named* parameter and numbers
//! those in order of first appearance. The PostgreSQL backend runs them
//! through sqlx, the SQLite backend through rusqlite; each supplies its
//! clock as SQL (`now_sql`) for the two statements that stamp the
//! database's time. One statement has a PostgreSQL form of its own:
//! clearing a user's throttle counters, which must lock rows in key order
//! there ([`THROTTLE_CLEAR_IN_KEY_ORDER`]).

use super::ThrottleKeys;

/// A `grants` row's columns, in the order the SQLite backend reads them by
/// position (reading by name costs a lookup per column): the grant's first,
/// then its code's.
macro_rules! grant_columns {
    () => {
        "id, client_id, subject, scope, profile_json, token_hash, token_sealed, \
         legacy_refresh_sealed, token_expires_at, auth_time, revoked, created_at, claims, \
         redirect_uri, nonce, code_challenge, code_expires_at, id_token_sealed, login_id, \
         login_expires_at, code_used, keep_until"
    };
}

/// Adds the first key of an algorithm only if there is none.
pub(super) const INSERT_FIRST_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_sealed, public_jwk, created_at, activates_at) \
     SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE alg = $2)";
/// Adds a signing key.
pub(super) const INSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_sealed, public_jwk, created_at, activates_at) VALUES ($1, $2, $3, $4, $5, $6)";
/// Every signing key, oldest first.
pub(super) const SIGNING_KEYS: &str = "SELECT kid, alg, private_sealed, public_jwk, created_at, activates_at FROM signing_keys ORDER BY activates_at, created_at, kid";
/// Removes a signing key.
pub(super) const DELETE_KEY: &str = "DELETE FROM signing_keys WHERE kid = $1";

/// A new refresh token, active.
pub(super) const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scope, state, created_at, family_expires_at, last_used_at, rotated_at, successor_sealed) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)";
/// A new refresh family keeps its grant ($2) until the family ends ($7),
/// with the parameters of [`INSERT_REFRESH`] (a successor in a family
/// changes nothing: its family's end is already kept).
pub(super) const KEEP_GRANT_FOR_FAMILY: &str =
    "UPDATE grants SET keep_until = $7 WHERE id = $2 AND keep_until < $7";

/// A grant with its code, in one row. A second code from one login form
/// meets the unique `login_id` and stores nothing.
/// Until its code is redeemed, its `keep_until` is the code's ($16) and the
/// form's ($20) expiry: an abandoned sign-in goes with its code. The
/// redemption raises it to `keep_after_redeem`, the latest of those, the
/// token's ($9) expiry and the caller's floor ($21).
pub(super) const INSERT_GRANT_WITH_CODE: &str = "INSERT INTO grants (id, client_id, subject, scope, profile_json, token_hash, token_sealed, legacy_refresh_sealed, token_expires_at, auth_time, revoked, created_at, code_hash, redirect_uri, nonce, code_challenge, code_expires_at, code_used, id_token_sealed, claims, login_id, login_expires_at, keep_until, keep_after_redeem) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13, $14, $15, $16, 0, $17, $18, $19, $20, \
       (SELECT MAX(column1) FROM (VALUES ($16), ($20)) AS expiries), \
       (SELECT MAX(column1) FROM (VALUES ($9), ($16), ($20), ($21)) AS expiries)) \
     ON CONFLICT (login_id) DO NOTHING";

/// A user who signs in again is no longer marked revoked: minting may
/// serve them once their new sign-in has gone.
pub(super) const CLEAR_USER_REVOKED: &str = "DELETE FROM revoked_users WHERE subject = $3";

/// A `prompt=none` grant: [`INSERT_GRANT_WITH_CODE`]'s row, stored only
/// while the session's grant (`$22`), whose legacy token it shares, is
/// still redeemed and not revoked. One statement, so on SQLite it is
/// atomic with any revocation; PostgreSQL also holds the subject's
/// advisory lock, which revocations take too.
pub(super) fn insert_grant_from_session() -> String {
    let insert = INSERT_GRANT_WITH_CODE
        .strip_suffix(" ON CONFLICT (login_id) DO NOTHING")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_default()
        .replacen("VALUES (", "SELECT ", 1);
    format!(
        "{insert} WHERE EXISTS (SELECT 1 FROM grants s WHERE s.id = $22 AND s.revoked = 0 \
         AND s.code_used = 1 AND s.token_hash = $6 AND s.subject = $3)"
    )
}

/// PostgreSQL: the subject's transaction-scoped advisory lock, taken by a
/// user's revocation and by a `prompt=none` grant's insert, so neither can
/// slip between the other's read and write.
pub(super) const LOCK_SUBJECT: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";
/// PostgreSQL: the same lock for every subject holding a grant's token, in
/// one order, taken by a grant's revocation.
pub(super) const LOCK_SUBJECTS_OF_TOKEN: &str = "SELECT pg_advisory_xact_lock(hashtextextended(subject, 0)) FROM \
     (SELECT DISTINCT subject FROM grants WHERE token_hash = (SELECT token_hash FROM grants WHERE id = $1) ORDER BY subject) s";

/// Spends a code only for a claim that matches it in full, so of two
/// concurrent redemptions only one gets the row back, and a mismatched
/// claim spends nothing. A redeemed grant is kept as long as its token and
/// the caller's floor say (`keep_after_redeem`), unless it was revoked.
pub(super) const REDEEM_CODE: &str = concat!(
    "UPDATE grants SET code_used = 1, keep_until = CASE WHEN revoked = 0 AND keep_after_redeem > keep_until \
     THEN keep_after_redeem ELSE keep_until END WHERE code_hash = $1 AND code_used = 0 \
     AND client_id = $2 AND redirect_uri = $3 AND code_expires_at >= $4 \
     AND ((code_challenge IS NULL AND CAST($5 AS TEXT) IS NULL) OR code_challenge = CAST($5 AS TEXT)) \
     RETURNING ",
    grant_columns!()
);
/// A grant by its code (to tell a replay from a mismatch).
pub(super) const GRANT_BY_CODE: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM grants WHERE code_hash = $1"
);
/// The grants holding a legacy access token: live first, then the newest.
pub(super) const GRANTS_BY_TOKEN_HASH: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM grants WHERE token_hash = $1 ORDER BY revoked, created_at DESC, id"
);
/// A grant by id.
pub(super) const GRANT_BY_ID: &str =
    concat!("SELECT ", grant_columns!(), " FROM grants WHERE id = $1");
/// The user's grant whose legacy token lives longest and can still serve:
/// redeemed by its client (an abandoned sign-in's token reached no one, so
/// it is no one's to hand out), not revoked.
pub(super) const LIVE_GRANT: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM grants WHERE subject = $1 AND revoked = 0 AND code_used = 1 \
     AND (token_expires_at > $2 OR legacy_refresh_sealed IS NOT NULL) \
     ORDER BY token_expires_at DESC LIMIT 1"
);
/// The user's newest redeemed grant.
pub(super) const NEWEST_GRANT: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM grants WHERE subject = $1 AND code_used = 1 ORDER BY created_at DESC, id LIMIT 1"
);

/// Revocation, step one: every refresh token of every grant holding the
/// grant's legacy token.
pub(super) const REVOKE_REFRESH_OF_TOKEN: &str = "UPDATE refresh_tokens SET state = 3 WHERE grant_id IN \
     (SELECT id FROM grants WHERE token_hash = (SELECT token_hash FROM grants WHERE id = $1))";
/// Revocation, step two: the event for the gateways, stamped by the
/// database's clock (which every gateway reads too).
pub(super) fn record_revocation(now_sql: &str) -> String {
    format!(
        "INSERT INTO revocations (subject, revoked_at) SELECT DISTINCT subject, {now_sql} FROM grants \
         WHERE token_hash = (SELECT token_hash FROM grants WHERE id = $1)"
    )
}
/// Revocation, step three: the grants. A revoked grant's token and
/// families (step one) no longer keep it: only its code and its form do.
pub(super) const REVOKE_GRANTS: &str = "UPDATE grants SET revoked = 1, keep_until = \
       CASE WHEN code_expires_at >= COALESCE(login_expires_at, 0) THEN code_expires_at ELSE login_expires_at END \
     WHERE token_hash = (SELECT token_hash FROM grants WHERE id = $1)";
/// Revoking a grant, in this order on both backends, each statement bound
/// to the grant's id: the grants first (on PostgreSQL a rotation holding a
/// grant's row is waited for, and its successor is then seen by the
/// refresh tokens' statement), then their refresh tokens, then the event
/// for the gateways. PostgreSQL takes [`LOCK_SUBJECTS_OF_TOKEN`] before.
pub(super) fn revoke_grant(now_sql: &str) -> [String; 3] {
    [
        REVOKE_GRANTS.to_owned(),
        REVOKE_REFRESH_OF_TOKEN.to_owned(),
        record_revocation(now_sql),
    ]
}

/// Revoking a user, the counted steps in this order on both backends, each
/// bound to the subject: grants (first, as in [`revoke_grant`]), refresh
/// tokens, sessions; then [`MARK_USER_REVOKED`] and
/// [`record_user_revocation`]. PostgreSQL takes [`LOCK_SUBJECT`] before.
pub(super) const REVOKE_USER_COUNTED: [&str; 3] = [
    REVOKE_USER_GRANTS,
    REVOKE_USER_REFRESH,
    DELETE_USER_SESSIONS,
];

/// What revoking a user ended, from the rows of [`REVOKE_USER_COUNTED`].
pub(super) fn user_revoked(counts: [u64; 3]) -> super::UserRevoked {
    super::UserRevoked {
        grants: counts[0],
        refresh_tokens: counts[1],
        sessions: counts[2],
    }
}

/// Revoking a user, step one: every refresh token of the user's grants.
pub(super) const REVOKE_USER_REFRESH: &str = "UPDATE refresh_tokens SET state = 3 WHERE state < 3 AND grant_id IN \
     (SELECT id FROM grants WHERE subject = $1)";
/// Revoking a user, step two: every grant not yet revoked, redeemed or not
/// (a sign-in under way cannot be redeemed after it); as in
/// [`REVOKE_GRANTS`], only a grant's code and form keep it now.
pub(super) const REVOKE_USER_GRANTS: &str = "UPDATE grants SET revoked = 1, keep_until = \
       CASE WHEN code_expires_at >= COALESCE(login_expires_at, 0) THEN code_expires_at ELSE login_expires_at END \
     WHERE subject = $1 AND revoked = 0";
/// Revoking a user, step three: their login sessions.
pub(super) const DELETE_USER_SESSIONS: &str = "DELETE FROM sessions WHERE subject = $1";
/// Revoking a user, step four: the mark that stops minting for them until
/// they sign in again (`$2`, the bridge's clock, as grants' `created_at`).
pub(super) const MARK_USER_REVOKED: &str = "INSERT INTO revoked_users (subject, revoked_at) VALUES ($1, $2) \
     ON CONFLICT (subject) DO UPDATE SET revoked_at = excluded.revoked_at";
/// Revoking a user, step five: the event for the gateways.
pub(super) fn record_user_revocation(now_sql: &str) -> String {
    format!("INSERT INTO revocations (subject, revoked_at) VALUES ($1, {now_sql})")
}
/// When a user was last revoked as a whole.
pub(super) const USER_REVOKED_AT: &str = "SELECT revoked_at FROM revoked_users WHERE subject = $1";
/// Subjects revoked since a time, each with its latest event.
pub(super) const REVOCATIONS_SINCE: &str =
    "SELECT subject, MAX(id) FROM revocations WHERE revoked_at >= $1 GROUP BY subject";
/// The database's clock.
pub(super) fn database_now(now_sql: &str) -> String {
    format!("SELECT {now_sql}")
}

/// Claims a grant's renewal; not while a refresh token of the grant holds
/// its own (fresh) claim: one renewal of a legacy refresh token at a time.
pub(super) const CLAIM_GRANT_RENEWAL: &str = "UPDATE grants SET renewing_until = $4 WHERE id = $1 AND revoked = 0 \
     AND token_hash = $3 AND (renewing_until IS NULL OR renewing_until < $2) \
     AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = $1 AND r.state = 1 AND r.last_used_at >= $2 - $5)";
/// Ends a grant renewal's claim without a new token.
pub(super) const END_GRANT_RENEWAL: &str = "UPDATE grants SET renewing_until = NULL WHERE id = $1";
/// Stores a grant's renewed legacy token and ends the claim.
pub(super) const FINISH_GRANT_RENEWAL: &str = "UPDATE grants SET token_hash = $2, token_sealed = $3, token_expires_at = $4, \
     keep_until = CASE WHEN keep_until >= $4 THEN keep_until ELSE $4 END, \
     legacy_refresh_sealed = COALESCE($5, legacy_refresh_sealed), \
     profile_json = COALESCE($6, profile_json), renewing_until = NULL WHERE id = $1 AND revoked = 0";

/// A refresh token by hash.
pub(super) const REFRESH_BY_HASH: &str = "SELECT * FROM refresh_tokens WHERE token_hash = $1";
/// Claims a refresh token. A claim older than `STALE_CLAIM_SECONDS`
/// belonged to a renewal that never finished (the process died mid-way):
/// it may be taken over.
pub(super) const CLAIM_REFRESH: &str = "UPDATE refresh_tokens SET state = 1, last_used_at = $1 \
     WHERE token_hash = $2 AND (state = 0 OR (state = 1 AND last_used_at < $1 - $3)) \
     AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id AND g.renewing_until >= $1)";
/// Gives a claimed refresh token back.
pub(super) const RELEASE_REFRESH: &str =
    "UPDATE refresh_tokens SET state = 0 WHERE token_hash = $1 AND state = 1";
/// A rotation, step one: the grant's new legacy token, unless the grant was
/// revoked meanwhile (then nothing else of the rotation is written: no live
/// successor on a revoked grant). A revocation revokes the grant rows
/// before their refresh tokens, so on PostgreSQL it waits for a rotation
/// that holds the grant's row and then sees its successor.
pub(super) const ROTATE_GRANT_TOKEN: &str = "UPDATE grants SET token_hash = $1, token_sealed = $2, token_expires_at = $3, \
     keep_until = CASE WHEN keep_until >= $3 THEN keep_until ELSE $3 END, \
     legacy_refresh_sealed = COALESCE($4, legacy_refresh_sealed), profile_json = COALESCE($5, profile_json) \
     WHERE id = (SELECT grant_id FROM refresh_tokens WHERE token_hash = $6) AND revoked = 0";
/// A rotation, step two (rotating): the old token spent, its successor kept sealed.
pub(super) const SPEND_REFRESH: &str = "UPDATE refresh_tokens SET state = 2, rotated_at = $1, successor_sealed = $2 WHERE token_hash = $3";
/// A rotation, step two (not rotating): the old token active again — only
/// from its claim, so a token revoked while the legacy IdP answered stays
/// revoked.
pub(super) const KEEP_REFRESH: &str = "UPDATE refresh_tokens SET state = 0, rotated_at = $1, last_used_at = $1 \
     WHERE token_hash = $2 AND state = 1";

/// Cleanup: expired sessions.
pub(super) const CLEANUP_SESSIONS: &str =
    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < $1 LIMIT $2)";
/// Cleanup: refresh tokens of ended or revoked families.
pub(super) const CLEANUP_REFRESH: &str = "DELETE FROM refresh_tokens WHERE token_hash IN \
     (SELECT token_hash FROM refresh_tokens WHERE family_expires_at < $1 OR state = 3 LIMIT $2)";
/// Cleanup: a grant goes once its code can no longer be redeemed, its
/// legacy token is expired or revoked, no live refresh family needs it, and
/// the login form that made it has expired (so it cannot be reused). Only
/// the grants past their `keep_until` are read, through its index: the
/// rest of the condition fits no index, and every grant past it meets it
/// (a family revoked on its own keeps its grant until the family's end).
/// A grant whose code was never redeemed goes once its code and form have
/// expired, whatever its token.
pub(super) const CLEANUP_GRANTS: &str = "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g WHERE g.keep_until < $1 AND g.code_expires_at < $1 \
     AND (g.revoked = 1 OR g.code_used = 0 OR g.token_expires_at < $1) \
     AND (g.login_expires_at IS NULL OR g.login_expires_at < $1) \
     AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id AND r.state < 3 AND r.family_expires_at >= $1) \
     LIMIT $2)";
/// Cleanup: revocation events older than an hour.
pub(super) const CLEANUP_REVOCATIONS: &str = "DELETE FROM revocations WHERE id IN (SELECT id FROM revocations WHERE revoked_at < $1 - 3600 LIMIT $2)";
/// Cleanup: expired client assertions.
pub(super) const CLEANUP_ASSERTIONS: &str = "DELETE FROM client_assertions WHERE key IN (SELECT key FROM client_assertions WHERE expires_at < $1 LIMIT $2)";
/// Cleanup: throttle counters idle for a day.
pub(super) const CLEANUP_THROTTLE: &str = "DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle WHERE locked_until < $1 AND window_started_at < $1 - 86400 LIMIT $2)";

/// Reserves a login attempt under its three keys (`$1`..`$3`, each with
/// the user key it belongs to, `$4`..`$6`; now `$7`, the window `$8`). Every
/// SET expression reads the row as it was: a live lockout keeps everything;
/// an ended lockout or an old window starts afresh. The rows are written,
/// and so locked, in key order ([`lock_order`]), as in [`THROTTLE_RELEASE`]
/// and [`THROTTLE_CLEAR_IN_KEY_ORDER`]: two statements locking the same rows
/// in different orders deadlock on PostgreSQL.
pub(super) const THROTTLE_RESERVE: &str = "INSERT INTO login_throttle (key, user_key, failures, window_started_at, locked_until) \
     VALUES ($1, $4, 1, $7, 0), ($2, $5, 1, $7, 0), ($3, $6, 1, $7, 0) \
     ON CONFLICT (key) DO UPDATE SET \
       failures = CASE WHEN login_throttle.locked_until > $7 THEN login_throttle.failures \
                       WHEN login_throttle.locked_until > 0 OR login_throttle.window_started_at < $7 - $8 THEN 1 \
                       ELSE login_throttle.failures + 1 END, \
       window_started_at = CASE WHEN login_throttle.locked_until > $7 THEN login_throttle.window_started_at \
                       WHEN login_throttle.locked_until > 0 OR login_throttle.window_started_at < $7 - $8 THEN $7 \
                       ELSE login_throttle.window_started_at END, \
       locked_until = CASE WHEN login_throttle.locked_until > $7 THEN login_throttle.locked_until ELSE 0 END \
     RETURNING key, failures, locked_until";
/// Gives a reserved attempt back under its three keys (as in
/// [`THROTTLE_RESERVE`]) and forgets one key (`$7`). An upsert, not
/// `UPDATE … WHERE key IN (…)`: the rows of a multi-row upsert are locked
/// in the order of its VALUES (key order, as in [`THROTTLE_RESERVE`]),
/// while an UPDATE's scan locks them in whatever order it finds them. A row
/// cleaned up or cleared meanwhile comes back with no failures, which
/// cleanup removes again.
pub(super) const THROTTLE_RELEASE: &str = "INSERT INTO login_throttle (key, user_key, failures, window_started_at, locked_until) \
     VALUES ($1, $4, 0, 0, 0), ($2, $5, 0, 0, 0), ($3, $6, 0, 0, 0) \
     ON CONFLICT (key) DO UPDATE SET failures = CASE \
       WHEN login_throttle.key = $7 OR login_throttle.failures <= 0 THEN 0 \
       ELSE login_throttle.failures - 1 END";
/// Locks a key that reached its limit.
pub(super) const THROTTLE_LOCK: &str = "UPDATE login_throttle SET locked_until = $3 WHERE key = $1 AND failures >= $2 AND locked_until < $3";
/// Removes a user's counters (its own and every one of it from an
/// address), found through the `user_key` index. SQLite's form: it has one
/// writer, so the order rows are locked in does not matter there.
pub(super) const THROTTLE_CLEAR: &str = "DELETE FROM login_throttle WHERE user_key = $1";
/// PostgreSQL's form of [`THROTTLE_CLEAR`]: the rows are locked in key
/// order first (`FOR UPDATE` sits above the sort), as a reservation locks
/// them, so an unlock during a burst of attempts cannot deadlock with them.
/// (`ua:` sorts before `user:` in any collation, as in bytes: the letters
/// decide.)
pub(super) const THROTTLE_CLEAR_IN_KEY_ORDER: &str = "DELETE FROM login_throttle WHERE key IN \
     (SELECT key FROM login_throttle WHERE user_key = $1 ORDER BY key FOR UPDATE)";

/// Records a client assertion's `jti`, once.
pub(super) const USE_ASSERTION: &str =
    "INSERT INTO client_assertions (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";

/// Forgets a recorded single-use value.
pub(super) const FORGET_ASSERTION: &str = "DELETE FROM client_assertions WHERE key = $1";

/// A new session, never over another's id; `$4` is its user's subject.
pub(super) const INSERT_SESSION: &str = "INSERT INTO sessions (id, data, expires_at, subject) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING";
/// Saves a session.
pub(super) const SAVE_SESSION: &str = "INSERT INTO sessions (id, data, expires_at, subject) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at, subject = excluded.subject";
/// A live session.
pub(super) const LOAD_SESSION: &str = "SELECT data FROM sessions WHERE id = $1 AND expires_at > $2";
/// Deletes a session.
pub(super) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE id = $1";

/// The PostgreSQL form of a grant's insert that also settles a login's
/// throttle reservations: [`THROTTLE_RELEASE`] as a data-modifying CTE
/// (its parameters renumbered from `$22` to `$28`) before [`INSERT_GRANT_WITH_CODE`],
/// one statement and one round trip.
pub(super) fn insert_grant_settling() -> String {
    format!(
        "WITH settled AS ({}), cleared AS ({CLEAR_USER_REVOKED}) {}",
        renumber(THROTTLE_RELEASE, 21),
        INSERT_GRANT_WITH_CODE
    )
}

/// The PostgreSQL form of a sign-in's grant without a settlement: the
/// user's revoked mark cleared in the same statement.
pub(super) fn insert_grant_clearing() -> String {
    format!("WITH cleared AS ({CLEAR_USER_REVOKED}) {INSERT_GRANT_WITH_CODE}")
}

/// The PostgreSQL form of a new refresh family's insert:
/// [`KEEP_GRANT_FOR_FAMILY`] as a data-modifying CTE before
/// [`INSERT_REFRESH`], one statement and one round trip.
pub(super) fn insert_refresh_keeping() -> String {
    format!("WITH kept AS ({KEEP_GRANT_FOR_FAMILY}) {INSERT_REFRESH}")
}

/// `statement` with every `$n` placeholder turned into `$(n + by)`.
fn renumber(statement: &str, by: u32) -> String {
    placeholders(statement, '$', by)
}

/// `statement` with every `$n` placeholder turned into SQLite's numbered
/// `?n`.
pub(super) fn numbered(statement: &str) -> String {
    placeholders(statement, '?', 0)
}

/// `statement` with every `$n` turned into `{sigil}(n + by)`.
fn placeholders(statement: &str, sigil: char, by: u32) -> String {
    let mut out = String::with_capacity(statement.len() + 8);
    let mut rest = statement;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        out.push(sigil);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<u32>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// A login attempt's three throttle keys, each with the user key it
/// belongs to (`None` for the address's), in the one order every statement
/// locks their rows in: byte order of the keys.
pub(crate) fn lock_order(keys: ThrottleKeys<'_>) -> [(&str, Option<&str>); 3] {
    let mut rows = [
        (keys.user_address, Some(keys.user)),
        (keys.address, keys.address_is_users.then_some(keys.user)),
        (keys.user, Some(keys.user)),
    ];
    rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
    rows
}

/// The cleanup statements, each bound to (now, batch): the first three's
/// counts are reported as sessions, refresh tokens and grants.
pub(super) const CLEANUP: [&str; 6] = [
    CLEANUP_SESSIONS,
    CLEANUP_REFRESH,
    CLEANUP_GRANTS,
    CLEANUP_REVOCATIONS,
    CLEANUP_ASSERTIONS,
    CLEANUP_THROTTLE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbering_moves_every_placeholder_and_nothing_else() {
        assert_eq!(
            renumber("a = $1 AND b = $12 OR c = '$' || $3", 20),
            "a = $21 AND b = $32 OR c = '$' || $23"
        );
        let settling = insert_grant_settling();
        assert!(settling.starts_with("WITH settled AS (INSERT INTO login_throttle"));
        assert!(settling.contains("($22, $25, 0, 0, 0), ($23, $26, 0, 0, 0), ($24, $27, 0, 0, 0)"));
        assert!(settling.contains("login_throttle.key = $28"));
        assert!(settling.ends_with(INSERT_GRANT_WITH_CODE));
        assert_eq!(
            numbered("VALUES ($1, 1, $3, 0), ($2, 1, $3, 0)"),
            "VALUES (?1, 1, ?3, 0), (?2, 1, ?3, 0)"
        );
    }

    #[test]
    fn throttle_rows_are_locked_in_key_order_whatever_the_keys() {
        let keys = ThrottleKeys {
            user_address: "ua:h:192.0.2.1",
            address: "addr:192.0.2.1",
            user: "user:h",
            address_is_users: false,
        };
        assert_eq!(
            lock_order(keys),
            [
                ("addr:192.0.2.1", None),
                ("ua:h:192.0.2.1", Some("user:h")),
                ("user:h", Some("user:h")),
            ]
        );
    }
}
