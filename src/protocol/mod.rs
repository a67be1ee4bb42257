//! The protocol layer: the OpenID Connect provider's RFC rules
//! ([`provider`]) and the gateway that swaps Auth0 tokens for legacy ones
//! ([`gateway`]). No cookies, no pages; neither imports the other, and
//! nothing here imports the browser or the edge (`tests/layers.rs`).

pub mod gateway;
pub mod provider;
