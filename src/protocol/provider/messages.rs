//! The provider's answers as types, serialized in the order the RFCs list
//! their members: the token response (RFC 6749 §5.1, OIDC Core §3.1.3.3)
//! and the introspection answer (RFC 7662 §2.2). A `Debug` of a token
//! response names no token.

use serde::Serialize;

use crate::domain::types::UnixTime;
use crate::util::secret::LegacyAccessToken;

/// A successful token response. The access token is the legacy token,
/// verbatim.
#[derive(Serialize)]
pub struct TokenResponse {
    /// The legacy access token.
    #[serde(serialize_with = "legacy_token")]
    pub access_token: LegacyAccessToken,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the legacy token expires (never negative).
    pub expires_in: i64,
    /// The granted scope.
    pub scope: String,
    /// A refresh token of the bridge's, when one was issued or kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The ID token, when `openid` was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// A Bearer answer for `access_token`, valid until `expires_at`.
    pub fn bearer(
        access_token: LegacyAccessToken,
        expires_at: UnixTime,
        now: UnixTime,
        scope: String,
    ) -> Self {
        Self {
            access_token,
            token_type: "Bearer",
            expires_in: expires_at.seconds_since(now).max(0),
            scope,
            refresh_token: None,
            id_token: None,
        }
    }
}

// The one place the legacy token leaves its wrapper on the way to a client.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn legacy_token<S: serde::Serializer>(token: &LegacyAccessToken, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(token.secret())
}

/// A token exchange answer (RFC 8693 §2.2.1): the legacy token as an
/// access token, no refresh token.
#[derive(Serialize)]
pub struct ExchangeResponse {
    /// The legacy access token.
    #[serde(serialize_with = "legacy_token")]
    pub access_token: LegacyAccessToken,
    /// Always `urn:ietf:params:oauth:token-type:access_token`.
    pub issued_token_type: &'static str,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the legacy token expires (never negative).
    pub expires_in: i64,
}

impl std::fmt::Debug for ExchangeResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeResponse")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl ExchangeResponse {
    /// The answer for `access_token`, valid until `expires_at`.
    pub fn new(access_token: LegacyAccessToken, expires_at: UnixTime, now: UnixTime) -> Self {
        Self {
            access_token,
            issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
            token_type: "Bearer",
            expires_in: expires_at.seconds_since(now).max(0),
        }
    }
}

/// An introspection answer (RFC 7662 §2.2): `{"active": false}` for
/// anything unknown, expired, revoked or not the caller's.
#[derive(Debug, Serialize)]
pub struct Introspection {
    /// Whether the token is live and the caller's.
    pub active: bool,
    /// `Bearer` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// The client it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The legacy subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The granted scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// When it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<UnixTime>,
    /// When it was issued (refresh tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<UnixTime>,
    /// The bridge's issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

impl Introspection {
    /// The answer for anything that is not a live token of the caller's.
    pub fn inactive() -> Self {
        Self {
            active: false,
            token_type: None,
            client_id: None,
            sub: None,
            scope: None,
            exp: None,
            iat: None,
            iss: None,
        }
    }
}
