//! Discovery (OpenID Connect Discovery 1.0 §3, RFC 8414) and the JWK Set.
//! The metadata lists only what is implemented, from the same enums the
//! endpoints check against, so it cannot promise more than they do.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;

use crate::app::state::AppState;
use crate::domain::config::AuthMethod;
use crate::domain::keys::SigningAlg;

/// The provider metadata, in the order of OpenID Connect Discovery §3.
#[allow(clippy::struct_excessive_bools)] // the metadata's own flags
#[derive(Debug, Serialize)]
pub struct ProviderMetadata {
    /// The issuer, exactly as in ID tokens.
    pub issuer: String,
    /// `/authorize`.
    pub authorization_endpoint: String,
    /// `/token`.
    pub token_endpoint: String,
    /// `/userinfo`.
    pub userinfo_endpoint: String,
    /// `/jwks`.
    pub jwks_uri: String,
    /// `/revoke` (RFC 7009).
    pub revocation_endpoint: String,
    /// `/logout` (RP-Initiated Logout).
    pub end_session_endpoint: String,
    /// `/introspect` (RFC 7662).
    pub introspection_endpoint: String,
    /// Client authentication at `/revoke`.
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Client authentication at `/introspect`.
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// `code` only.
    pub response_types_supported: [&'static str; 1],
    /// `query` and `form_post`.
    pub response_modes_supported: [&'static str; 2],
    /// `authorization_code`, `refresh_token`, and token exchange when
    /// configured.
    pub grant_types_supported: Vec<&'static str>,
    /// `public`.
    pub subject_types_supported: [&'static str; 1],
    /// The ID token algorithms.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// The scopes.
    pub scopes_supported: [&'static str; 4],
    /// Client authentication at `/token`.
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Algorithms accepted for `private_key_jwt`.
    pub token_endpoint_auth_signing_alg_values_supported: [&'static str; 3],
    /// `S256` only.
    pub code_challenge_methods_supported: [&'static str; 1],
    /// The claims the bridge may assert.
    pub claims_supported: [&'static str; 11],
    /// RFC 9207: `iss` in every authorization response.
    pub authorization_response_iss_parameter_supported: bool,
    /// OIDC Core §5.5.
    pub claims_parameter_supported: bool,
    /// Request objects are refused.
    pub request_parameter_supported: bool,
    /// `request_uri` is refused.
    pub request_uri_parameter_supported: bool,
}

/// The discovery document for `issuer`; `exchange` when token exchange is
/// configured.
pub fn metadata(issuer: &str, exchange: bool) -> ProviderMetadata {
    let mut grant_types = vec!["authorization_code", "refresh_token"];
    if exchange {
        grant_types.push(super::exchange::GRANT_TYPE);
    }
    let auth_methods: Vec<&'static str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    ProviderMetadata {
        issuer: issuer.to_owned(),
        authorization_endpoint: format!("{issuer}/authorize"),
        token_endpoint: format!("{issuer}/token"),
        userinfo_endpoint: format!("{issuer}/userinfo"),
        jwks_uri: format!("{issuer}/jwks"),
        revocation_endpoint: format!("{issuer}/revoke"),
        end_session_endpoint: format!("{issuer}/logout"),
        introspection_endpoint: format!("{issuer}/introspect"),
        revocation_endpoint_auth_methods_supported: auth_methods.clone(),
        introspection_endpoint_auth_methods_supported: auth_methods.clone(),
        response_types_supported: ["code"],
        response_modes_supported: ["query", "form_post"],
        grant_types_supported: grant_types,
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: SigningAlg::ALL.iter().map(|a| a.as_str()).collect(),
        scopes_supported: ["openid", "profile", "email", "offline_access"],
        token_endpoint_auth_methods_supported: auth_methods,
        token_endpoint_auth_signing_alg_values_supported: ["RS256", "PS256", "ES256"],
        code_challenge_methods_supported: ["S256"],
        claims_supported: [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "name",
            "email",
            "user_id",
        ],
        authorization_response_iss_parameter_supported: true,
        claims_parameter_supported: true,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
    }
}

/// `GET /.well-known/openid-configuration`.
pub async fn discovery_get(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(metadata(
            &state.settings.issuer,
            state.settings.token_exchange.is_some(),
        )),
    )
}

/// `GET /jwks`.
/// Cached no longer than a new key is published before it signs
/// (`KeySettings::jwks_max_age_seconds`), so a relying party that honours
/// the header never meets a token signed with a key it has not seen.
pub async fn jwks_get(State(state): State<AppState>) -> impl IntoResponse {
    let max_age = state.settings.keys.jwks_max_age_seconds();
    (
        [(header::CACHE_CONTROL, format!("public, max-age={max_age}"))],
        Json(state.keys.jwks()),
    )
}
