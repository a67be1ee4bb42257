//! idp-bridge: an OpenID Connect provider that wraps a legacy identity
//! provider, so Auth0 can federate to it while the legacy IdP keeps checking
//! passwords and issuing the access tokens legacy APIs accept.
//!
//! Data flows one way, from the HTTP edge down to the leaves (see
//! `docs/ARCHITECTURE.md` for each module's rules):
//! - the edge: [`cli`] (the commands), [`app`] (assembly), [`server`] (accept
//!   loop), [`middleware`], [`ops`] (health, readiness, stylesheets),
//!   [`admin`] (the admin API's listener, the Auth0 Event Streams webhook),
//!   [`state`], [`startup`] (store and storage key), [`background`], [`demo`];
//! - the browser: [`login`] (authorize page, form, CSRF, session, logout),
//!   which uses
//! - the protocol: [`provider`] (authorization rules, codes, token, refresh,
//!   token exchange, revocation, introspection, userinfo, discovery, ID
//!   tokens) and [`gateway`] (the reverse proxy swapping Auth0 tokens for
//!   legacy ones, on its own listener), which use
//! - the domain: [`auth0`] (verifying Auth0 access tokens),
//!   [`legacy_source`] (a user's legacy token for exchange and the gateway),
//!   [`user_revocation`] (revoking a user everywhere, or a grant by a token),
//!   [`grant`] (the legacy tokens at rest), [`upstream`] (the
//!   `LegacyIdp` trait and adapters), [`store`] (SQLite or PostgreSQL),
//!   [`keys`] (signing keys, JWKS), [`config`], [`audit`](mod@audit), [`metrics`];
//! - the leaves: [`crypto`] (sealing and hashing), [`legacy_token`] (LT1),
//!   [`secret`] (secret types), [`clock`], [`net`], [`html`], [`refusal`],
//!   [`request_id`], [`tls`] (certificates and their reload).
//!
//! [`reference`](mod@reference) is a legacy IdP and legacy API for the demo and the tests
//! only; `fuzzing` holds the cargo-fuzz entry points (not API).

pub mod admin;
pub mod app;
pub mod audit;
pub mod auth0;
pub mod background;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod grant;
pub mod html;
pub mod key_rotation;
pub mod keys;
pub mod legacy_source;
pub mod legacy_token;
pub mod login;
pub mod metrics;
pub mod middleware;
pub mod net;
pub mod ops;
pub mod ops_metrics;
pub mod provider;
pub mod reference;
pub mod refusal;
pub mod request_id;
pub mod secret;
pub mod server;
pub mod startup;
pub mod state;
pub mod storage_rotation;
pub mod store;
pub mod tls;
pub mod upstream;
pub mod user_revocation;
