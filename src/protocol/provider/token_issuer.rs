//! What the `authorization_code` and `refresh_token` grants take instead of
//! the application state (`token` answers the first, `refresh` the second;
//! both read this, so it is neither's).

use crate::domain::config::Settings;
use crate::domain::keys::SigningKeys;
use crate::domain::metrics::Metrics;
use crate::domain::upstream::LegacyIdp;
use crate::util::crypto::StorageKey;

/// What the `authorization_code` and `refresh_token` grants use: grants
/// and refresh families, the storage key, the signing keys, the issuer and
/// ID token lifetime, the legacy IdP (renewals) and the audit counters.
#[derive(Debug)]
pub struct TokenIssuer<'a, S: ?Sized> {
    /// Grants, codes and refresh families.
    pub store: &'a S,
    /// Opens and seals the legacy tokens, ID tokens and successors.
    pub storage: &'a StorageKey,
    /// Signs refreshed ID tokens.
    pub keys: &'a SigningKeys,
    /// The issuer, without a trailing slash.
    pub issuer: &'a str,
    /// ID token lifetime, seconds.
    pub id_token_ttl: i64,
    /// The legacy IdP: renews legacy tokens.
    pub upstream: &'a dyn LegacyIdp,
    /// Audit counters.
    pub metrics: &'a Metrics,
}

impl<'a, S: ?Sized> TokenIssuer<'a, S> {
    /// Over the configured issuer and lifetimes and the parts named.
    pub fn new(
        settings: &'a Settings,
        store: &'a S,
        storage: &'a StorageKey,
        keys: &'a SigningKeys,
        upstream: &'a dyn LegacyIdp,
        metrics: &'a Metrics,
    ) -> Self {
        Self {
            store,
            storage,
            keys,
            issuer: &settings.issuer,
            id_token_ttl: settings.tokens.id_token_ttl_seconds,
            upstream,
            metrics,
        }
    }
}
