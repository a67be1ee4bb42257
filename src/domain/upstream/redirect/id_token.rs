//! Verifying the legacy IdP's ID token with the `openidconnect` crate: the
//! signature against its JWKS (only the configured asymmetric algorithms),
//! `iss` exactly, `aud` containing the bridge's client id (and `azp` when
//! there are several), `exp`, the transaction's `nonce`, and `at_hash`
//! against the access token when present (OIDC Core §3.1.3.7, §3.1.3.8).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AccessTokenHash, ClaimsVerificationError, ClientId, IssuerUrl, Nonce,
    SignatureVerificationError,
};
use serde_json::{Map, Value};

use crate::domain::upstream::UpstreamError;

/// Why an ID token was not accepted.
pub enum Rejected {
    /// No key of the JWKS matches the token's `kid`, or the signature
    /// fails under the key that does (a legacy IdP that re-keyed under the
    /// same `kid`): the JWKS may be stale, so read it again and retry once.
    KeysMayBeStale(String),
    /// Anything else: refused.
    Invalid(UpstreamError),
}

/// What a verification needs.
pub struct Expected<'a> {
    /// The legacy IdP's issuer.
    pub issuer: &'a IssuerUrl,
    /// The bridge's client id there.
    pub client_id: &'a str,
    /// The legacy IdP's keys.
    pub jwks: &'a CoreJsonWebKeySet,
    /// Accepted algorithms.
    pub algs: &'a [String],
    /// The transaction's nonce.
    pub nonce: &'a str,
}

/// Verifies `raw` and returns its payload as JSON, for the claim mapping.
pub fn verify(
    raw: &str,
    access_token: &str,
    expected: &Expected<'_>,
) -> Result<Map<String, Value>, Rejected> {
    let invalid = |why: String| Rejected::Invalid(UpstreamError::Protocol(why));
    let token: CoreIdToken = raw
        .parse()
        .map_err(|_| invalid("the ID token does not parse".into()))?;
    let algs: Vec<CoreJwsSigningAlgorithm> = expected
        .algs
        .iter()
        .filter_map(|a| serde_json::from_value(Value::String(a.clone())).ok())
        .collect();
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(expected.client_id.to_owned()),
        expected.issuer.clone(),
        expected.jwks.clone(),
    )
    .set_allowed_algs(algs);
    let claims = match token.claims(&verifier, &Nonce::new(expected.nonce.to_owned())) {
        Ok(claims) => claims,
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            return Err(Rejected::KeysMayBeStale(
                "the ID token is signed with a key the legacy IdP's JWKS does not have".into(),
            ));
        }
        Err(ClaimsVerificationError::SignatureVerification(
            e @ (SignatureVerificationError::CryptoError(_)
            | SignatureVerificationError::InvalidKey(_)),
        )) => {
            return Err(Rejected::KeysMayBeStale(format!(
                "the ID token failed verification: {e}"
            )));
        }
        Err(e) => return Err(invalid(format!("the ID token failed verification: {e}"))),
    };
    if let Some(expected_hash) = claims.access_token_hash() {
        let alg = token
            .signing_alg()
            .map_err(|e| invalid(format!("the ID token's algorithm: {e}")))?;
        let key = token
            .signing_key(&verifier)
            .map_err(|e| invalid(format!("the ID token's key: {e}")))?;
        let actual =
            AccessTokenHash::from_token(&AccessToken::new(access_token.to_owned()), alg, key)
                .map_err(|e| invalid(format!("cannot compute at_hash: {e}")))?;
        if actual != *expected_hash {
            return Err(invalid(
                "the ID token's at_hash does not match the access token".into(),
            ));
        }
    }
    // The signature holds over exactly these bytes, so the payload can be
    // read whole for the claim mapping (the typed claims drop unknown ones).
    let payload = raw
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .ok_or_else(|| invalid("the ID token's payload is not a JSON object".into()))?;
    Ok(payload)
}
