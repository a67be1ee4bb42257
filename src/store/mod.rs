//! Persistent state behind one interface: signing keys, grants, codes,
//! refresh-token families, login sessions, login throttling and used client
//! assertions. SQLite (embedded) is the default backend; a PostgreSQL
//! backend implements the same trait for clusters.
//!
//! Per login the bridge writes one row (the grant with its code) and updates
//! it once when the code is redeemed; transient state before the password
//! check lives in a sealed form field and a CSRF cookie, not in rows.
//!
//! The statements are written once (`sql`); PostgreSQL runs them through
//! sqlx, SQLite through rusqlite on the calling thread.

pub mod postgres;
pub mod sealed;
mod sql;
pub mod sqlite;

use async_trait::async_trait;

/// A store failure (database down, disk full, corrupt row). Never holds a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// Wraps a database error; its text names no secret (values are bound,
/// never formatted into SQL).
pub(crate) fn err(e: impl std::fmt::Display) -> StoreError {
    ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    StoreError(e.to_string())
}

/// Database errors since the process started (every backend's errors pass
/// through [`err`]), for `idp_bridge_store_errors_total`.
static ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many store operations have failed in this process.
pub fn errors_total() -> u64 {
    ERRORS.load(std::sync::atomic::Ordering::Relaxed)
}

/// A signing key as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredKey {
    /// Key id.
    pub kid: String,
    /// Algorithm (`RS256` or `ES256`).
    pub alg: String,
    /// The private key's DER (PKCS#1 for RSA, PKCS#8 for P-256), sealed
    /// under the storage key.
    pub private_sealed: Vec<u8>,
    /// The public JWK, JSON.
    pub public_jwk: String,
    /// Unix seconds.
    pub created_at: i64,
    /// From when it signs, unix seconds (published in JWKS before that).
    pub activates_at: i64,
}

/// A grant: the result of one login for one client.
#[derive(Debug, Clone)]
pub struct GrantRow {
    /// Random id.
    pub id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The legacy subject.
    pub subject: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The profile, JSON.
    pub profile_json: String,
    /// SHA-256 of the legacy access token.
    pub token_hash: Vec<u8>,
    /// The legacy access token, sealed.
    pub token_sealed: Vec<u8>,
    /// The legacy refresh token, sealed.
    pub legacy_refresh_sealed: Option<Vec<u8>>,
    /// When the legacy access token expires, unix seconds.
    pub token_expires_at: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// Revoked (for example by a replayed code).
    pub revoked: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Claims asked for one by one (`claims` parameter), JSON; empty if none.
    pub claims: String,
    /// At insert, the least time the grant is kept whatever its expiries
    /// (token exchange renews a sign-in's legacy token for a while after
    /// it; 0 for nothing more); read back, the time before which cleanup
    /// does not look at the grant (this, its expiries', its families').
    pub keep_until: i64,
}

/// An authorization code, by hash; stored with its grant.
#[derive(Debug, Clone)]
pub struct CodeRow {
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// The redirect URI used at /authorize.
    pub redirect_uri: String,
    /// The nonce, only if one was sent.
    pub nonce: Option<String>,
    /// The S256 PKCE challenge, if any.
    pub code_challenge: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// The ID token signed at login, sealed (when `openid` was granted).
    pub id_token_sealed: Option<Vec<u8>>,
    /// The login form this code answers, so one form yields at most one
    /// code (`None` for `prompt=none`).
    pub login: Option<LoginOnce>,
}

/// A rendered login form's identity, spent by the code it yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOnce {
    /// The form's random id (sealed in the form).
    pub id: String,
    /// Until when the form could be submitted: the grant is kept at least
    /// that long, so the id cannot be spent twice.
    pub expires_at: i64,
}

/// A renewal claim older than this is taken to be abandoned (its process
/// died mid-renewal) and may be claimed again, so a crash never strands a
/// refresh token. Longer than any upstream timeout.
pub const STALE_CLAIM_SECONDS: i64 = 30;

/// The state of a refresh token row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshState {
    /// Usable.
    Active,
    /// A renewal with it is in flight.
    Rotating,
    /// Rotated: its successor was issued.
    Spent,
    /// Revoked (directly, or with its family).
    Revoked,
}

impl RefreshState {
    /// The stored code.
    pub fn code(self) -> i64 {
        match self {
            Self::Active => 0,
            Self::Rotating => 1,
            Self::Spent => 2,
            Self::Revoked => 3,
        }
    }

    /// From the stored code; unknown codes read as revoked.
    pub fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Active,
            1 => Self::Rotating,
            2 => Self::Spent,
            _ => Self::Revoked,
        }
    }
}

impl From<i64> for RefreshState {
    fn from(code: i64) -> Self {
        Self::from_code(code)
    }
}

/// A refresh token, by hash. Its family is its grant.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// The grant (family) it belongs to.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Scope granted with it.
    pub scope: String,
    /// Its state.
    #[sqlx(try_from = "i64")]
    pub state: RefreshState,
    /// Unix seconds.
    pub created_at: i64,
    /// The family's absolute end, unix seconds.
    pub family_expires_at: i64,
    /// Last use (for the idle lifetime), unix seconds.
    pub last_used_at: i64,
    /// When it was rotated.
    pub rotated_at: Option<i64>,
    /// Its successor, sealed (kept for the reuse grace period).
    pub successor_sealed: Option<Vec<u8>>,
}

/// What a successful renewal changes, in one transaction.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The refresh token used.
    pub old_hash: Vec<u8>,
    /// Its successor (`None` when rotation is off: the old one stays active).
    pub successor: Option<RefreshRow>,
    /// The successor's plaintext, sealed, for replays within the grace period.
    pub successor_sealed: Option<Vec<u8>>,
    /// The grant's new legacy access token: hash, sealed value, expiry.
    pub token_hash: Vec<u8>,
    /// Sealed new legacy access token.
    pub token_sealed: Vec<u8>,
    /// Its expiry.
    pub token_expires_at: i64,
    /// A new legacy refresh token, sealed, when the legacy IdP rotated it.
    pub legacy_refresh_sealed: Option<Vec<u8>>,
    /// The profile, when the renewal brought a fresh one.
    pub profile_json: Option<String>,
    /// Now.
    pub now: i64,
}

/// A grant's renewed legacy token, sealed.
#[derive(Debug, Clone)]
pub struct GrantRenewal {
    /// SHA-256 of the new access token.
    pub token_hash: Vec<u8>,
    /// The new access token, sealed.
    pub token_sealed: Vec<u8>,
    /// Its expiry.
    pub token_expires_at: i64,
    /// A rotated refresh token, sealed (`None`: keep the old one).
    pub legacy_refresh_sealed: Option<Vec<u8>>,
    /// A fresh profile, JSON.
    pub profile_json: Option<String>,
}

/// A login-throttle counter after a reservation.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ThrottleCount {
    /// One of the [`ThrottleKeys`].
    pub key: String,
    /// Attempts counted in the window, the one just reserved included.
    #[sqlx(rename = "failures")]
    pub attempts: i64,
    /// Until when the key is locked (unix seconds; 0 or past: not locked).
    pub locked_until: i64,
}

/// The three counters one login attempt is counted under (their formats
/// are `login::throttle`'s; the store only needs to know which belong to a
/// user, so [`Store::throttle_clear`] finds them).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleKeys<'a> {
    /// The username from this client address: belongs to `user`.
    pub user_address: &'a str,
    /// The client address, across usernames: belongs to nobody.
    pub address: &'a str,
    /// The username, across addresses: belongs to itself.
    pub user: &'a str,
}

/// Reserved login attempts given back after a login that was not a wrong
/// password (see [`Store::throttle_release`]).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleRelease<'a> {
    /// The attempt's keys: each gives one attempt back.
    pub keys: ThrottleKeys<'a>,
    /// A key that drops to zero (the username from this address, after a
    /// successful login).
    pub forget: Option<&'a str>,
}

/// What revoking a user ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserRevoked {
    /// Grants that were live or unredeemed and are now revoked.
    pub grants: u64,
    /// Refresh tokens that were usable.
    pub refresh_tokens: u64,
    /// Login sessions ended.
    pub sessions: u64,
}

/// How much a cleanup pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Grants (with their codes and refresh tokens).
    pub grants: u64,
    /// Refresh tokens on their own (spent or expired, in live families).
    pub refresh_tokens: u64,
    /// Sessions.
    pub sessions: u64,
}

impl Cleaned {
    /// From the rows each of `sql::CLEANUP`'s statements removed, in order.
    pub(crate) fn from_counts(counts: &[u64]) -> Self {
        let at = |i: usize| counts.get(i).copied().unwrap_or(0);
        Self {
            sessions: at(0),
            refresh_tokens: at(1),
            grants: at(2),
        }
    }
}

/// The outcome of redeeming a code.
#[derive(Debug, Clone)]
pub enum Redeemed {
    /// First use: the code, now marked used, and its grant.
    Fresh(Box<(CodeRow, GrantRow)>),
    /// The claimant's code, unused, but the claim does not match it
    /// (redirect URI, PKCE or expiry): it stays unused, so a mistaken or
    /// forged attempt cannot burn the rightful client's code.
    Mismatch(Box<(CodeRow, GrantRow)>),
    /// Already used, by the claimant: a replay. The grant it issued should
    /// be revoked.
    Replayed {
        /// The grant the code had issued.
        grant_id: String,
    },
    /// No such code, or another client's: the same answer, so a client
    /// learns nothing about codes that are not its own.
    Unknown,
}

/// Why a code that was not spent by `claim` was not: another client's code
/// reads as unknown, a used one as a replay, the rest as a mismatch.
pub(crate) fn why_not_redeemed(
    code: CodeRow,
    grant: GrantRow,
    used: bool,
    claim: &CodeClaim<'_>,
) -> Redeemed {
    if grant.client_id != claim.client_id {
        Redeemed::Unknown
    } else if used {
        Redeemed::Replayed { grant_id: grant.id }
    } else {
        Redeemed::Mismatch(Box::new((code, grant)))
    }
}

/// What a client presents with a code; all of it must match for the code
/// to be spent (RFC 6749 §4.1.3, RFC 7636 §4.6).
#[derive(Debug, Clone)]
pub struct CodeClaim<'a> {
    /// The authenticated client.
    pub client_id: &'a str,
    /// The `redirect_uri` sent with the code.
    pub redirect_uri: &'a str,
    /// The S256 of a well-formed `code_verifier` (`None`: none was sent).
    pub challenge: Option<&'a str>,
    /// Now: an expired code does not match.
    pub now: i64,
}

/// Everything the bridge persists.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Is the database reachable?
    async fn ping(&self) -> Result<(), StoreError>;
    /// Up to `batch` sealed values of `column` after the row key `after`, in
    /// key order (`keys rotate-storage-key`).
    async fn sealed_values(
        &self,
        column: sealed::SealedColumn,
        after: &sealed::RowKey,
        batch: i64,
    ) -> Result<Vec<(sealed::RowKey, Vec<u8>)>, StoreError> {
        let _ = (column, after, batch);
        Err(StoreError("this store cannot list sealed values".into()))
    }
    /// Replaces a sealed value with `new` if it is still `old`; whether it was.
    async fn replace_sealed(
        &self,
        column: sealed::SealedColumn,
        key: &sealed::RowKey,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let _ = (column, key, old, new);
        Err(StoreError("this store cannot replace sealed values".into()))
    }
    /// All signing keys, oldest first.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Adds the first signing key, only if there is none yet: of instances
    /// starting together on an empty database, one key wins and all load it.
    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Adds a signing key (rotation).
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Removes a signing key that no longer signs and whose tokens expired.
    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError>;
    /// Stores a grant and its code together, in one row; `false`, storing
    /// nothing, when the code's login form already yielded a code. `settle`
    /// gives back the login attempts reserved for this login in the same
    /// write (settled even when the form already yielded a code), so a
    /// password login costs one write here, not two. A user who signs in
    /// again is no longer marked revoked ([`Store::revoke_user`]).
    async fn insert_grant_with_code(
        &self,
        grant: &GrantRow,
        code: &CodeRow,
        settle: Option<ThrottleRelease<'_>>,
    ) -> Result<bool, StoreError>;
    /// Stores a `prompt=none` grant and its code, sharing the legacy token
    /// of the session's grant `source`, only while `source` is redeemed and
    /// not revoked — atomically with any revocation of the user or of
    /// `source`, so a revocation never misses the new grant. `false`,
    /// storing nothing, otherwise.
    async fn insert_grant_from_session(
        &self,
        source: &str,
        grant: &GrantRow,
        code: &CodeRow,
    ) -> Result<bool, StoreError>;
    /// Marks a code used and returns it, atomically and only when `claim`
    /// matches it in full: of concurrent redemptions exactly one sees
    /// [`Redeemed::Fresh`]. A claim that does not match leaves the code
    /// unused; another client's claim reads as [`Redeemed::Unknown`].
    async fn redeem_code(
        &self,
        code_hash: &[u8],
        claim: &CodeClaim<'_>,
    ) -> Result<Redeemed, StoreError>;
    /// Every grant holding the legacy access token with this SHA-256:
    /// live ones first, then the newest (by time, then id). Usually one; a
    /// client's `prompt=none` grants share its session's token, and a legacy
    /// IdP may hand one token to two logins.
    async fn grants_by_token_hash(&self, token_hash: &[u8]) -> Result<Vec<GrantRow>, StoreError>;
    /// Revokes a grant, every grant holding the same legacy access token
    /// (the token is what is presented, so it dies for all of them), and
    /// every refresh token of their families, in one transaction, and records
    /// the revocation for the gateways (`revocations_since`).
    async fn revoke_grant(&self, id: &str) -> Result<(), StoreError>;
    /// Revokes a user as a whole, in one transaction: every grant of
    /// `subject` (redeemed or not), every refresh token of them, every login
    /// session of the user; marks the user revoked at `now` (nothing is
    /// minted for them until they sign in again) and records the event for
    /// the gateways (`revocations_since`).
    async fn revoke_user(&self, subject: &str, now: i64) -> Result<UserRevoked, StoreError>;
    /// When `subject` was last revoked as a whole ([`Store::revoke_user`]).
    async fn user_revoked_at(&self, subject: &str) -> Result<Option<i64>, StoreError>;
    /// The subjects whose grants were revoked at or after `since` (unix
    /// seconds by the database's clock), each with the id of its latest
    /// revocation event, and the database's time now. Events are kept an
    /// hour.
    async fn revocations_since(&self, since: i64) -> Result<(Vec<(String, i64)>, i64), StoreError>;
    /// The database's clock, unix seconds (revocation events are stamped
    /// with it, so gateways never compare two instances' clocks).
    async fn database_now(&self) -> Result<i64, StoreError>;
    /// A grant by id.
    async fn grant(&self, id: &str) -> Result<Option<GrantRow>, StoreError>;
    /// The user's grant to exchange from: redeemed by its client, not
    /// revoked, with a legacy token
    /// live at `now` or a legacy refresh token to renew it; the one whose
    /// token lives longest (read straight off the `(subject,
    /// token_expires_at)` index, however many grants the user has).
    async fn live_grant(&self, subject: &str, now: i64) -> Result<Option<GrantRow>, StoreError>;
    /// The user's newest redeemed grant, revoked or not.
    async fn newest_grant(&self, subject: &str) -> Result<Option<GrantRow>, StoreError>;
    /// Claims the renewal of a grant's legacy token `seen` (its hash), until
    /// `until`: of concurrent claimants on any instance exactly one gets
    /// true, none once that token was replaced or while one of the grant's
    /// refresh tokens is renewing it, and a claim whose lease ran out may be
    /// taken over.
    async fn claim_grant_renewal(
        &self,
        id: &str,
        seen: &[u8],
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError>;
    /// Stores a renewed legacy token (and a rotated refresh token, a fresh
    /// profile) and ends the claim; with `renewed` `None`, only ends it.
    /// `false` when the grant was revoked meanwhile (nothing stored).
    async fn finish_grant_renewal(
        &self,
        id: &str,
        renewed: Option<&GrantRenewal>,
    ) -> Result<bool, StoreError>;
    /// Stores a new refresh token.
    async fn insert_refresh(&self, row: &RefreshRow) -> Result<(), StoreError>;
    /// A refresh token by hash.
    async fn refresh(&self, token_hash: &[u8]) -> Result<Option<RefreshRow>, StoreError>;
    /// Claims an active refresh token for a renewal (active → rotating), or
    /// takes over a claim older than [`STALE_CLAIM_SECONDS`]. Of concurrent
    /// claims exactly one returns true.
    async fn claim_refresh(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError>;
    /// Gives a claimed token back (rotating → active) after a failed renewal.
    async fn release_refresh(&self, token_hash: &[u8]) -> Result<(), StoreError>;
    /// Applies a successful renewal in one transaction.
    async fn complete_rotation(&self, rotation: &Rotation) -> Result<(), StoreError>;
    /// Reserves one login attempt under its three counters, in one
    /// statement, before the legacy IdP is asked: each key's count goes up
    /// atomically, so of any number of concurrent attempts on any instance
    /// each sees its own count (this attempt included). A key still locked
    /// at `now` is not counted; a lockout that has ended, or a window older
    /// than `window` seconds, starts a new count. Returns one
    /// [`ThrottleCount`] per key.
    async fn throttle_reserve(
        &self,
        keys: ThrottleKeys<'_>,
        now: i64,
        window: i64,
    ) -> Result<Vec<ThrottleCount>, StoreError>;
    /// Settles a reserved attempt that was not a wrong password: each key
    /// gives one back, and `forget` drops to zero.
    async fn throttle_release(&self, release: ThrottleRelease<'_>) -> Result<(), StoreError>;
    /// After a wrong password: locks `key` until `until` when its count has
    /// reached `max`.
    async fn throttle_lock(&self, key: &str, max: i64, until: i64) -> Result<(), StoreError>;
    /// Removes every counter that belongs to the username whose key is
    /// `user` (its own and each of its [`ThrottleKeys::user_address`] ones,
    /// locked or not); how many were removed. An attempt still out when
    /// they go settles against fresh rows.
    async fn throttle_clear(&self, user: &str) -> Result<u64, StoreError>;
    /// Records a single-use value (a client assertion's `jti`, an Auth0
    /// event's id) until `expires_at`; false when it was already used.
    async fn use_assertion(&self, key: &str, expires_at: i64) -> Result<bool, StoreError>;
    /// Forgets a recorded value, so what failed to act on it can be retried.
    async fn forget_assertion(&self, key: &str) -> Result<(), StoreError>;
    /// Removes up to `batch` expired or revoked rows of each kind.
    async fn cleanup(&self, now: i64, batch: i64) -> Result<Cleaned, StoreError>;
    /// Stores a new login session of `subject`'s (`None`: nobody signed in
    /// yet); `false`, storing nothing, when its id is taken.
    async fn insert_session(
        &self,
        id: &str,
        data: &str,
        subject: Option<&str>,
        expires_at: i64,
    ) -> Result<bool, StoreError>;
    /// Saves a login session (tower-sessions record as JSON) and whose it is.
    async fn save_session(
        &self,
        id: &str,
        data: &str,
        subject: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// Loads a session that has not expired.
    async fn load_session(&self, id: &str, now: i64) -> Result<Option<String>, StoreError>;
    /// Deletes a session.
    async fn delete_session(&self, id: &str) -> Result<(), StoreError>;
    /// Write statements and transactions this instance has committed since
    /// it opened, where the backend counts them (SQLite does).
    fn commits(&self) -> Option<u64> {
        None
    }
}
