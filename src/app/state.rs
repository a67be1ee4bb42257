//! The shared state every handler draws from: cheap clones of the
//! validated settings, the signing keys, the store, the legacy IdP adapter,
//! the storage key and the metrics. `FromRef` lets a handler ask for just the
//! part it uses (`State<Arc<dyn Store>>`), and tests build it without HTTP.
//! Handlers hand the protocol and the browser's bodies only what they use
//! (`ClientAuth`, `TokenIssuer`, `CodeIssuer`, `Exchanger`; `Authorize`,
//! `PasswordSignIn`, `Logout`, `Callback`, `Gate`; each built from the
//! settings and the parts it names): nothing below the handlers takes an
//! `AppState`, and this module imports none of the modules that use it.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::domain::auth0::Auth0Verifier;
use crate::domain::config::Settings;
use crate::domain::keys::SigningKeys;
use crate::domain::legacy_source::LegacySource;
use crate::domain::legacy_validation::LegacyValidator;
use crate::domain::metrics::Metrics;
use crate::domain::store::Store;
use crate::domain::upstream::LegacyIdp;
use crate::domain::upstream::redirect::RedirectIdp;
use crate::util::crypto::StorageKey;

/// Shared, cheaply cloned state; handlers take the parts they need.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Signing keys.
    pub keys: Arc<SigningKeys>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The legacy IdP adapter.
    pub upstream: Arc<dyn LegacyIdp>,
    /// The same adapter when it signs users in on the legacy IdP's own page
    /// (`oidc`, `oauth2`): `/authorize` redirects there instead of showing
    /// the password form.
    pub redirect: Option<Arc<RedirectIdp>>,
    /// Seals secrets at rest.
    pub storage: Arc<StorageKey>,
    /// Counters and latencies for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Verifies Auth0 access tokens, when token exchange is configured.
    pub auth0: Option<Arc<Auth0Verifier>>,
    /// Finds a user's legacy token, when token exchange is configured.
    pub legacy: Option<Arc<LegacySource>>,
    /// Says whether a legacy token is live, when `[legacy_validation]` is
    /// configured (`POST /legacy/introspect`).
    pub legacy_validator: Option<Arc<LegacyValidator>>,
}
