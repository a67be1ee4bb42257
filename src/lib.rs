//! idp-bridge: an OpenID Connect provider that wraps a legacy identity
//! provider, so Auth0 can federate to it while the legacy IdP keeps checking
//! passwords and issuing the access tokens legacy APIs accept.
//!
//! Layout, following the design:
//! - [`config`]: the TOML file, `IDP_BRIDGE_*` overrides, secrets from env or files;
//! - [`secret`]: secret newtypes (redacted `Debug`, constant-time equality);
//! - [`legacy_token`]: the LT1 codec, the reference legacy token format;
//! - [`upstream`]: the `LegacyIdp` trait and its adapters (`http`, `oauth2-password`, `command`);
//! - [`app`]: startup, router, state; [`provider`]: the OIDC endpoints; [`login`]: pages;
//! - [`store`]: persistent state (SQLite or PostgreSQL); [`keys`]: ID token signing keys (RS256, ES256); [`crypto`]: sealing and hashing;
//! - [`audit`]: audit events; [`metrics`]: Prometheus metrics on their own listener;
//! - [`reference`]: a reference legacy IdP and legacy API, for the demo and the tests only;
//! - `fuzzing`: the entry points of the cargo-fuzz targets under `fuzz/` (not API).

pub mod app;
pub mod audit;
pub mod background;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
#[doc(hidden)]
pub mod fuzzing;
pub mod grant;
pub mod html;
pub mod keys;
pub mod legacy_token;
pub mod login;
pub mod metrics;
pub mod middleware;
pub mod net;
pub mod ops;
pub mod provider;
pub mod reference;
pub mod refusal;
pub mod secret;
pub mod server;
pub mod startup;
pub mod state;
pub mod store;
pub mod upstream;
