//! Where the legacy IdP's endpoints are: OpenID Connect discovery (with
//! its JWKS) from the issuer, with the configured overrides on top, or the
//! configured endpoints alone for `oauth2` (whose `issuer`, when set, is
//! only the callback's expected `iss`). Discovery also says whether the
//! legacy IdP sends `iss` in its authorization responses (RFC 9207 §3).

use std::time::Instant;

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, LogoutProviderMetadata};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::config::{Protocol, RedirectConfig};
use crate::domain::upstream::UpstreamError;
use crate::domain::upstream::fetch::Fetcher;

/// RFC 9207 §3's metadata. Read leniently: a value that is not `true`
/// means the legacy IdP does not promise `iss`, rather than failing
/// discovery.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IssParameterMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorization_response_iss_parameter_supported: Option<Value>,
}

impl AdditionalProviderMetadata for IssParameterMetadata {}

/// The discovery document: RP-Initiated Logout's `end_session_endpoint`
/// and RFC 9207's flag on top of the core fields.
type Metadata = openidconnect::ProviderMetadata<
    LogoutProviderMetadata<IssParameterMetadata>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The legacy IdP's endpoints, from discovery and the configured overrides.
#[derive(Debug)]
pub struct Endpoints {
    pub issuer: Option<IssuerUrl>,
    /// Discovery advertises `authorization_response_iss_parameter_supported`:
    /// a callback without `iss` is refused (RFC 9207 §2.4).
    pub iss_parameter_supported: bool,
    pub authorization: Url,
    pub token: Url,
    pub userinfo: Option<Url>,
    pub end_session: Option<Url>,
    pub jwks: CoreJsonWebKeySet,
    pub read_at: Instant,
}

/// Reads the endpoints (and for OIDC the discovery document and JWKS).
pub async fn read(c: &RedirectConfig, fetch: &Fetcher) -> Result<Endpoints, UpstreamError> {
    let (Some(issuer), Protocol::Oidc) = (&c.issuer, c.protocol) else {
        return configured(c);
    };
    let issuer = IssuerUrl::new(issuer.clone())
        .map_err(|_| UpstreamError::Protocol("the issuer is not a URL".into()))?;
    let metadata = Metadata::discover_async(issuer.clone(), fetch)
        .await
        .map_err(discovery_error)?;
    let token = c
        .token_endpoint
        .clone()
        .or_else(|| metadata.token_endpoint().map(|u| u.url().clone()))
        .ok_or_else(|| UpstreamError::Protocol("discovery names no token_endpoint".into()))?;
    let additional = metadata.additional_metadata();
    Ok(Endpoints {
        authorization: c
            .authorization_endpoint
            .clone()
            .unwrap_or_else(|| metadata.authorization_endpoint().url().clone()),
        token,
        userinfo: c
            .userinfo_endpoint
            .clone()
            .or_else(|| metadata.userinfo_endpoint().map(|u| u.url().clone())),
        end_session: c.end_session_endpoint.clone().or_else(|| {
            additional
                .end_session_endpoint
                .as_ref()
                .map(|u| u.url().clone())
        }),
        iss_parameter_supported: additional
            .additional_metadata
            .authorization_response_iss_parameter_supported
            == Some(Value::Bool(true)),
        jwks: metadata.jwks().clone(),
        issuer: Some(issuer),
        read_at: Instant::now(),
    })
}

/// oauth2: every endpoint is configured (checked in `new`).
fn configured(c: &RedirectConfig) -> Result<Endpoints, UpstreamError> {
    let required = |u: &Option<Url>| {
        u.clone().ok_or(UpstreamError::Unsupported(
            "an endpoint that is not configured",
        ))
    };
    Ok(Endpoints {
        issuer: None,
        iss_parameter_supported: false,
        authorization: required(&c.authorization_endpoint)?,
        token: required(&c.token_endpoint)?,
        userinfo: c.userinfo_endpoint.clone(),
        end_session: c.end_session_endpoint.clone(),
        jwks: CoreJsonWebKeySet::new(Vec::new()),
        read_at: Instant::now(),
    })
}

fn discovery_error(e: openidconnect::DiscoveryError<UpstreamError>) -> UpstreamError {
    use openidconnect::DiscoveryError as D;
    match e {
        D::Request(e) => e,
        D::Response(status, _, _) => {
            UpstreamError::Protocol(format!("discovery answered status {}", status.as_u16()))
        }
        D::Parse(_) => {
            UpstreamError::Protocol("the discovery document or its JWKS does not parse".into())
        }
        D::Validation(why) => UpstreamError::Protocol(format!("discovery: {why}")),
        other => UpstreamError::Protocol(format!("discovery failed: {other}")),
    }
}
