//! ID tokens (OIDC Core §2, §3.1.3.6): RS256 (or ES256 for a client that
//! registered it) with the current `kid`, `iss`
//! exactly the issuer, `aud` the client, `nonce` only if one was sent, a
//! correct `at_hash`, and profile claims by scope.

use serde::Serialize;
use serde_json::{Map, Value};

use super::profile_claims;
use crate::domain::keys::{SigningAlg, SigningKeys};
use crate::domain::types::UnixTime;
use crate::domain::upstream::Profile;
use crate::util::crypto::{b64url, sha256};

/// ID token claims (OIDC Core §2, §3.1.3.6).
#[derive(Serialize)]
pub struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: UnixTime,
    iat: UnixTime,
    auth_time: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    #[serde(flatten)]
    profile: Map<String, Value>,
}

/// `at_hash`: base64url of the left half of SHA-256 of the access token
/// (SHA-256 is the hash of both RS256 and ES256).
pub fn at_hash(access_token: &str) -> String {
    b64url(&sha256(access_token.as_bytes())[..16])
}

/// What an ID token is minted from.
pub struct IdTokenInput<'a> {
    /// How the client wants it signed.
    pub alg: SigningAlg,
    /// The issuer.
    pub issuer: &'a str,
    /// The client (audience).
    pub client_id: &'a str,
    /// The user.
    pub profile: &'a Profile,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// Claims asked for one by one for the ID token (`claims` parameter).
    pub requested: &'a [String],
    /// When the user authenticated.
    pub auth_time: UnixTime,
    /// The nonce, only if the client sent one.
    pub nonce: Option<&'a str>,
    /// The access token it accompanies (for `at_hash`).
    pub access_token: &'a str,
    /// Now.
    pub now: UnixTime,
    /// Lifetime, seconds.
    pub ttl: i64,
}

/// Signs an ID token.
pub fn mint(
    keys: &SigningKeys,
    input: &IdTokenInput<'_>,
) -> Result<String, jsonwebtoken::errors::Error> {
    keys.sign(
        input.alg,
        &IdTokenClaims {
            iss: input.issuer,
            sub: input.profile.subject.as_str(),
            aud: input.client_id,
            exp: input.now.plus(input.ttl),
            iat: input.now,
            auth_time: input.auth_time,
            nonce: input.nonce,
            at_hash: at_hash(input.access_token),
            profile: profile_claims(input.profile, input.scopes, input.requested),
        },
    )
}
