//! The store's narrow traits, one per seam of the data. A function names
//! the traits it uses (`S: GrantStore + RefreshStore + ?Sized`); [`Store`]
//! is their union for the state that holds the one backend, and every type
//! implementing all of them is a `Store`.

use async_trait::async_trait;

use super::rows::{
    Cleaned, CodeClaim, CodeRow, GrantRenewal, GrantRow, Redeemed, RefreshRow, Rotation,
    StoreError, StoredKey, ThrottleCount, ThrottleKeys, ThrottleRelease, UserRevoked,
};

/// Signing keys as stored (sealed by `keys`, never opened here).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// All signing keys, oldest first.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Adds the first signing key, only if there is none yet: of instances
    /// starting together on an empty database, one key wins and all load it.
    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Adds a signing key (rotation).
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Removes a signing key that no longer signs and whose tokens expired.
    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError>;
}

/// Grants and their single-use codes: issuing, redeeming, finding, renewing a grant's legacy token, revoking a grant.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a grant and its code together, in one row; `false`, storing
    /// nothing, when the code's login form already yielded a code. `settle`
    /// gives back the login attempts reserved for this login in the same
    /// write (settled even when the form already yielded a code), so a
    /// password login costs one write here, not two. A user who signs in
    /// again is no longer marked revoked ([`RevocationStore::revoke_user`]).
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
}

/// Refresh-token families: one per grant, rotated under a claim.
#[async_trait]
pub trait RefreshStore: Send + Sync {
    /// Stores a new refresh token.
    async fn insert_refresh(&self, row: &RefreshRow) -> Result<(), StoreError>;
    /// A refresh token by hash.
    async fn refresh(&self, token_hash: &[u8]) -> Result<Option<RefreshRow>, StoreError>;
    /// Claims an active refresh token for a renewal (active → rotating), or
    /// takes over a claim older than [`crate::domain::store::STALE_CLAIM_SECONDS`]. Of concurrent
    /// claims exactly one returns true.
    async fn claim_refresh(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError>;
    /// Gives a claimed token back (rotating → active) after a failed renewal.
    async fn release_refresh(&self, token_hash: &[u8]) -> Result<(), StoreError>;
    /// Applies a successful renewal in one transaction.
    async fn complete_rotation(&self, rotation: &Rotation) -> Result<(), StoreError>;
}

/// Revoking a user as a whole and the revocation events the gateways poll, stamped by the database's clock.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Revokes a user as a whole, in one transaction: every grant of
    /// `subject` (redeemed or not), every refresh token of them, every login
    /// session of the user; marks the user revoked at `now` (nothing is
    /// minted for them until they sign in again) and records the event for
    /// the gateways (`revocations_since`).
    async fn revoke_user(&self, subject: &str, now: i64) -> Result<UserRevoked, StoreError>;
    /// When `subject` was last revoked as a whole ([`RevocationStore::revoke_user`]).
    async fn user_revoked_at(&self, subject: &str) -> Result<Option<i64>, StoreError>;
    /// The subjects whose grants were revoked at or after `since` (unix
    /// seconds by the database's clock), each with the id of its latest
    /// revocation event, and the database's time now. Events are kept an
    /// hour.
    async fn revocations_since(&self, since: i64) -> Result<(Vec<(String, i64)>, i64), StoreError>;
    /// The database's clock, unix seconds (revocation events are stamped
    /// with it, so gateways never compare two instances' clocks).
    async fn database_now(&self) -> Result<i64, StoreError>;
}

/// Login-throttle counters (their keys are `login::throttle`'s).
#[async_trait]
pub trait ThrottleStore: Send + Sync {
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
}

/// Single-use values: client assertion `jti`s, Auth0 event ids, redirect transactions.
#[async_trait]
pub trait OnceStore: Send + Sync {
    /// Records a single-use value (a client assertion's `jti`, an Auth0
    /// event's id) until `expires_at`; false when it was already used.
    async fn use_assertion(&self, key: &str, expires_at: i64) -> Result<bool, StoreError>;
    /// Forgets a recorded value, so what failed to act on it can be retried.
    async fn forget_assertion(&self, key: &str) -> Result<(), StoreError>;
}

/// Login sessions (tower-sessions records as JSON) and whose they are.
#[async_trait]
pub trait SessionStore: Send + Sync {
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
}

/// Health, cleanup and counters of the database as a whole.
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// Is the database reachable?
    async fn ping(&self) -> Result<(), StoreError>;
    /// Up to `batch` sealed values of `column` after the row key `after`, in
    /// key order (`keys rotate-storage-key`).
    async fn sealed_values(
        &self,
        column: super::sealed::SealedColumn,
        after: &super::sealed::RowKey,
        batch: i64,
    ) -> Result<Vec<(super::sealed::RowKey, Vec<u8>)>, StoreError> {
        let _ = (column, after, batch);
        Err(StoreError("this store cannot list sealed values".into()))
    }
    /// Replaces a sealed value with `new` if it is still `old`; whether it was.
    async fn replace_sealed(
        &self,
        column: super::sealed::SealedColumn,
        key: &super::sealed::RowKey,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let _ = (column, key, old, new);
        Err(StoreError("this store cannot replace sealed values".into()))
    }
    /// Removes up to `batch` expired or revoked rows of each kind.
    async fn cleanup(&self, now: i64, batch: i64) -> Result<Cleaned, StoreError>;
    /// Write statements and transactions this instance has committed since
    /// it opened, where the backend counts them (SQLite does).
    fn commits(&self) -> Option<u64> {
        None
    }
}

/// Everything the bridge persists: the union of the narrow traits, for the
/// state that holds one backend (`Arc<dyn Store>`); implemented by every
/// type that implements them all.
pub trait Store:
    KeyStore
    + GrantStore
    + RefreshStore
    + RevocationStore
    + ThrottleStore
    + OnceStore
    + SessionStore
    + Housekeeping
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: KeyStore
        + GrantStore
        + RefreshStore
        + RevocationStore
        + ThrottleStore
        + OnceStore
        + SessionStore
        + Housekeeping
        + std::fmt::Debug
        + ?Sized
{
}
