//! The shared state every handler draws from: cheap clones of the
//! validated settings, the signing keys, the store, the legacy IdP adapter,
//! the storage key and the metrics. `FromRef` lets a handler ask for just the
//! part it uses (`State<Arc<dyn Store>>`), and tests build it without HTTP.
//! Handlers hand the protocol only what it uses ([`AppState::client_auth`],
//! [`AppState::token_issuer`], [`AppState::code_issuer`],
//! [`AppState::exchanger`]): nothing below the handlers takes an `AppState`.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::browser::attempt::Gate;
use crate::browser::transaction::Spend;
use crate::domain::auth0::Auth0Verifier;
use crate::domain::config::Settings;
use crate::domain::keys::SigningKeys;
use crate::domain::legacy_source::LegacySource;
use crate::domain::metrics::Metrics;
use crate::domain::store::Store;
use crate::domain::upstream::LegacyIdp;
use crate::domain::upstream::redirect::RedirectIdp;
use crate::protocol::provider::client_auth::ClientAuth;
use crate::protocol::provider::code::CodeIssuer;
use crate::protocol::provider::exchange::Exchanger;
use crate::protocol::provider::token::TokenIssuer;
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
}

impl AppState {
    /// What client authentication reads, over `store` (the state's own,
    /// borrowed once by the handler).
    pub fn client_auth<'a, S: ?Sized>(&'a self, store: &'a S) -> ClientAuth<'a, S> {
        ClientAuth {
            clients: &self.settings.clients,
            issuer: &self.settings.issuer,
            store,
            metrics: &self.metrics,
        }
    }

    /// What the `authorization_code` and `refresh_token` grants use.
    pub fn token_issuer<'a, S: ?Sized>(&'a self, store: &'a S) -> TokenIssuer<'a, S> {
        TokenIssuer {
            store,
            storage: &self.storage,
            keys: &self.keys,
            issuer: &self.settings.issuer,
            id_token_ttl: self.settings.tokens.id_token_ttl_seconds,
            upstream: &*self.upstream,
            metrics: &self.metrics,
        }
    }

    /// What token exchange uses.
    pub fn exchanger(&self) -> Exchanger<'_> {
        Exchanger {
            verifier: self.auth0.as_deref(),
            source: self.legacy.as_deref(),
            metrics: &self.metrics,
        }
    }

    /// What a password check uses (`login::submit`).
    pub fn login_gate(&self) -> Gate<'_, dyn Store> {
        Gate {
            store: &*self.store,
            settings: &self.settings.throttle,
            upstream: &*self.upstream,
            metrics: &self.metrics,
        }
    }

    /// What opening a redirect sign-in's callback uses (`login::transaction`).
    pub fn spend(&self) -> Spend<'_, dyn Store> {
        Spend {
            storage: &self.storage,
            store: &*self.store,
            branding: &self.settings.branding,
            metrics: &self.metrics,
        }
    }

    /// What issuing an authorization code uses.
    pub fn code_issuer(&self) -> CodeIssuer<'_, dyn Store> {
        CodeIssuer {
            store: &*self.store,
            storage: &self.storage,
            keys: &self.keys,
            issuer: &self.settings.issuer,
            tokens: &self.settings.tokens,
            clients: &self.settings.clients,
            exchange_session_seconds: self
                .settings
                .token_exchange
                .as_ref()
                .filter(|_| self.upstream.can_renew())
                .map(|exchange| exchange.max_session_seconds),
        }
    }
}
