//! The legacy grant's secrets. The legacy access token and the legacy
//! refresh token are held at rest only here: sealed under the storage key
//! (each with its own [`Purpose`]), looked up by SHA-256, and opened back
//! into their secret types. Nothing else touches their bytes, so the rule
//! "a legacy token is stored sealed and found by hash" has one owner.
//!
//! It knows rows and secrets, not protocols: which grant a request may use
//! is the provider's business.

use crate::domain::store::{GrantRenewal, GrantRow};
use crate::domain::upstream::{LegacyGrant, RenewedGrant};
use crate::util::crypto::{Purpose, StorageKey, sha256};
use crate::util::secret::{LegacyAccessToken, LegacyRefreshToken};

/// The lookup hash of a presented or stored legacy access token.
pub fn token_hash(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

/// What a grant stores of its legacy tokens: the access token's hash and
/// sealed value, its expiry, and the sealed refresh token (if any).
#[derive(Debug, Clone)]
pub struct SealedTokens {
    /// SHA-256 of the access token.
    pub token_hash: Vec<u8>,
    /// The access token, sealed.
    pub token_sealed: Vec<u8>,
    /// The refresh token, sealed.
    pub refresh_sealed: Option<Vec<u8>>,
}

impl SealedTokens {
    /// Seals an access token and, when given, a refresh token.
    pub fn seal(
        storage: &StorageKey,
        access: &LegacyAccessToken,
        refresh: Option<&LegacyRefreshToken>,
    ) -> Self {
        Self {
            token_hash: token_hash(access.secret()).to_vec(),
            token_sealed: storage.seal(Purpose::LegacyToken, access.secret().as_bytes()),
            refresh_sealed: refresh
                .map(|r| storage.seal(Purpose::LegacyRefreshToken, r.secret().as_bytes())),
        }
    }

    /// The tokens of a fresh login.
    pub fn of_login(storage: &StorageKey, grant: &LegacyGrant) -> Self {
        Self::seal(storage, &grant.access_token, grant.refresh_token.as_ref())
    }

    /// The tokens of a renewal (no refresh token: keep the old one).
    pub fn of_renewal(storage: &StorageKey, renewed: &RenewedGrant) -> Self {
        Self::seal(
            storage,
            &renewed.access_token,
            renewed.refresh_token.as_ref(),
        )
    }
}

/// What a renewal changes on its grant: the new tokens sealed, their
/// expiry, and a fresh profile when the answer carried one.
pub fn renewal(storage: &StorageKey, renewed: &RenewedGrant) -> GrantRenewal {
    let sealed = SealedTokens::of_renewal(storage, renewed);
    GrantRenewal {
        token_hash: sealed.token_hash,
        token_sealed: sealed.token_sealed,
        token_expires_at: renewed.expires_at,
        legacy_refresh_sealed: sealed.refresh_sealed,
        profile_json: renewed
            .profile
            .as_ref()
            .and_then(|p| serde_json::to_string(p).ok()),
    }
}

/// The grant's legacy access token, or `None` if it does not open (a
/// storage key that changed, a tampered row).
pub fn access_token(storage: &StorageKey, grant: &GrantRow) -> Option<LegacyAccessToken> {
    storage
        .open(Purpose::LegacyToken, &grant.token_sealed)
        .and_then(|t| String::from_utf8(t).ok())
        .map(LegacyAccessToken::new)
}

/// The grant's legacy refresh token, if it has one that opens. One that is
/// stored but does not open is logged (its caller answers as if there were
/// none, which would hide a storage key removed too early).
pub fn refresh_token(storage: &StorageKey, grant: &GrantRow) -> Option<LegacyRefreshToken> {
    let sealed = grant.legacy_refresh_sealed.as_ref()?;
    let opened = storage
        .open(Purpose::LegacyRefreshToken, sealed)
        .and_then(|s| String::from_utf8(s).ok())
        .map(LegacyRefreshToken::new);
    if opened.is_none() {
        tracing::error!(grant = %grant.id, "a grant's sealed legacy refresh token opens under no configured storage key");
    }
    opened
}
