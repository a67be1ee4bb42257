//! The store's values: rows as the backends read and write them, what a
//! caller claims or changes in one call, and what an operation reports.
//! Plain data; the traits that move them are `traits`.

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
/// user, so [`crate::domain::store::ThrottleStore::throttle_clear`] finds them).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleKeys<'a> {
    /// The username from this client address: belongs to `user`.
    pub user_address: &'a str,
    /// The client address, across usernames: belongs to nobody (unless
    /// `address_is_users`).
    pub address: &'a str,
    /// The username, across addresses: belongs to itself.
    pub user: &'a str,
    /// The address counter is the username's own (the migration script's,
    /// whose client is always Auth0): it belongs to `user`, so clearing the
    /// username clears it too.
    pub address_is_users: bool,
}

/// Reserved login attempts given back after a login that was not a wrong
/// password (see [`crate::domain::store::ThrottleStore::throttle_release`]).
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
