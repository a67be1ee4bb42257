//! The domain layer: what the protocol works on. Auth0 tokens
//! ([`auth0`]), a user's legacy token ([`legacy_source`]), revoking a user
//! ([`user_revocation`]), the legacy tokens at rest ([`sealed_grant`]), the
//! legacy IdP and its adapters ([`upstream`]), the store ([`store`]), signing
//! keys ([`keys`]), the settings ([`config`]), the protocol's values as types
//! ([`types`]: times, client ids, subjects, redirect URIs), audit lines
//! ([`audit`](mod@audit)) and metrics ([`metrics`]). Within the layer a
//! module imports only those listed after it in `docs/ARCHITECTURE.md`'s
//! table (`tests/layers.rs` checks it).

pub mod audit;
pub mod auth0;
pub mod config;
pub mod key_rotation;
pub mod keys;
pub mod legacy_source;
pub mod legacy_validation;
pub mod metrics;
pub mod ops_metrics;
pub mod sealed_grant;
pub mod storage_rotation;
pub mod store;
pub mod types;
pub mod upstream;
pub mod user_revocation;
