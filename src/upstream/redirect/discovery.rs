//! Where the legacy IdP's endpoints are: OpenID Connect discovery (with
//! its JWKS) from the issuer, with the configured overrides on top, or the
//! configured endpoints alone for `oauth2`.

use std::time::Instant;

use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::{IssuerUrl, ProviderMetadataWithLogout};
use url::Url;

use super::config::RedirectConfig;
use crate::upstream::UpstreamError;
use crate::upstream::fetch::Fetcher;

/// The legacy IdP's endpoints, from discovery and the configured overrides.
#[derive(Debug)]
pub struct Endpoints {
    pub issuer: Option<IssuerUrl>,
    pub authorization: Url,
    pub token: Url,
    pub userinfo: Option<Url>,
    pub end_session: Option<Url>,
    pub jwks: CoreJsonWebKeySet,
    pub read_at: Instant,
}

/// Reads the endpoints (and for OIDC the discovery document and JWKS).
pub async fn read(c: &RedirectConfig, fetch: &Fetcher) -> Result<Endpoints, UpstreamError> {
    let Some(issuer) = &c.issuer else {
        // oauth2: everything is configured (checked in `new`).
        let required = |u: &Option<Url>| {
            u.clone().ok_or(UpstreamError::Unsupported(
                "an endpoint that is not configured",
            ))
        };
        return Ok(Endpoints {
            issuer: None,
            authorization: required(&c.authorization_endpoint)?,
            token: required(&c.token_endpoint)?,
            userinfo: c.userinfo_endpoint.clone(),
            end_session: c.end_session_endpoint.clone(),
            jwks: CoreJsonWebKeySet::new(Vec::new()),
            read_at: Instant::now(),
        });
    };
    let issuer = IssuerUrl::new(issuer.clone())
        .map_err(|_| UpstreamError::Protocol("the issuer is not a URL".into()))?;
    let metadata = ProviderMetadataWithLogout::discover_async(issuer.clone(), fetch)
        .await
        .map_err(discovery_error)?;
    let token = c
        .token_endpoint
        .clone()
        .or_else(|| metadata.token_endpoint().map(|u| u.url().clone()))
        .ok_or_else(|| UpstreamError::Protocol("discovery names no token_endpoint".into()))?;
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
            metadata
                .additional_metadata()
                .end_session_endpoint
                .as_ref()
                .map(|u| u.url().clone())
        }),
        jwks: metadata.jwks().clone(),
        issuer: Some(issuer),
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
