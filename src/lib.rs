//! idp-bridge: an OpenID Connect provider that wraps a legacy identity
//! provider, so Auth0 can federate to it while the legacy IdP keeps checking
//! passwords and issuing the access tokens legacy APIs accept.
//!
//! The folders are the layers, and data flows one way, from the HTTP edge
//! down to the leaves (see `docs/ARCHITECTURE.md` for each module's rules;
//! `tests/layers.rs` fails on an import that runs up the table):
//! - the edge: [`cli`] (the commands) and [`app`] (assembly, the accept
//!   loop, middleware, health and assets, the admin API and the Auth0 Event
//!   Streams webhook, the shared state, opening the store and storage key,
//!   background work, the demo);
//! - the browser: [`browser`] (the login: authorize page, form, CSRF,
//!   session, logout), which uses
//! - the protocol: [`protocol`] (the provider's RFC rules, and the gateway
//!   swapping Auth0 tokens for legacy ones on its own listener), which uses
//! - the domain: [`domain`] (Auth0 tokens, a user's legacy token, revoking a
//!   user, the legacy tokens at rest, the legacy IdP's adapters, the store,
//!   signing keys, settings, audit, metrics), which uses
//! - the leaves: [`util`] (sealing and hashing, LT1, secret types, clock,
//!   addresses, templates, refusals, request ids, TLS).
//!
//! [`reference`](mod@reference) is a legacy IdP and legacy API for the demo and the tests
//! only; `fuzzing` holds the cargo-fuzz entry points (not API).

pub mod app;
pub mod browser;
pub mod cli;
pub mod domain;
#[doc(hidden)]
pub mod fuzzing;
pub mod protocol;
pub mod reference;
pub mod util;
