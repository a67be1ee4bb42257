//! The OpenID Connect provider: discovery, JWKS, authorization, token and
//! userinfo. Handlers are thin; the protocol rules live in plain functions.

pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod code;
pub mod discovery;
pub mod error;
pub mod exchange;
pub mod form;
pub mod id_token;
pub mod introspection;
pub mod legacy_introspect;
pub mod messages;
pub mod refresh;
pub mod response;
pub mod revocation;
pub mod token;
pub mod token_issuer;
#[cfg(test)]
pub(crate) mod unit_tests;
pub mod userinfo;

use axum::Router;
use axum::routing::{get, post};
use serde_json::{Map, Value};

use crate::app::state::AppState;
use crate::domain::upstream::Profile;

/// The provider's routes that need no browser session: discovery, JWKS,
/// token, revocation, introspection (also of legacy tokens) and userinfo.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::discovery_get),
        )
        .route("/jwks", get(discovery::jwks_get))
        .route("/token", post(token::token_post))
        .route("/revoke", post(revocation::revoke_post))
        .route("/introspect", post(introspection::introspect_post))
        .route(
            legacy_introspect::PATH,
            post(legacy_introspect::legacy_introspect_post),
        )
        .route(
            "/userinfo",
            get(userinfo::userinfo_get).post(userinfo::userinfo_post),
        )
}

/// Splits a `scope` parameter on spaces and commas (Auth0 sends either),
/// dropping empties and duplicates, keeping order.
pub fn split_scope(scope: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in scope.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_owned());
        }
    }
    out
}

/// The claims a profile yields for the granted scopes (`profile` gives the
/// name and further attributes, `email` the email) plus those asked for
/// one by one with the `claims` parameter (already limited to what the
/// client may get, see [`claims`]).
pub fn profile_claims(
    profile: &Profile,
    scopes: &[String],
    requested: &[String],
) -> Map<String, Value> {
    let mut claims = Map::new();
    let has = |s: &str| scopes.iter().any(|g| g == s);
    if has("profile") {
        if let Some(name) = &profile.name {
            claims.insert("name".into(), Value::String(name.clone()));
        }
        for (k, v) in &profile.attributes {
            if !RESERVED_CLAIMS.contains(&k.as_str()) {
                claims.insert(k.clone(), v.clone());
            }
        }
    }
    if has("email") {
        if let Some(email) = &profile.email {
            claims.insert("email".into(), Value::String(email.clone()));
            if let Some(verified) = profile.email_verified {
                claims.insert("email_verified".into(), Value::Bool(verified));
            }
        }
    }
    for name in requested {
        let value = match name.as_str() {
            "name" => profile.name.clone().map(Value::String),
            "email" => profile.email.clone().map(Value::String),
            "email_verified" => profile.email_verified.map(Value::Bool),
            other if RESERVED_CLAIMS.contains(&other) => None,
            other => profile.attributes.get(other).cloned(),
        };
        if let Some(value) = value {
            claims.insert(name.clone(), value);
        }
    }
    claims
}

/// Claims a legacy attribute may never override.
const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "auth_time",
    "nonce",
    "at_hash",
    "c_hash",
    "azp",
    "acr",
    "amr",
    "sid",
    "user_id",
    "email",
    "email_verified",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_splits_on_spaces_and_commas() {
        assert_eq!(
            split_scope("openid,profile email  openid"),
            ["openid", "profile", "email"]
        );
        assert!(split_scope(" , ").is_empty());
    }
}
