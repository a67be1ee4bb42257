//! The `oauth2-password` adapter: a legacy IdP that speaks the OAuth 2.0
//! resource owner password grant (RFC 6749 §4.3) and the refresh grant
//! (§6), with the profile from a userinfo endpoint. The protocol is the
//! `oauth2` crate's; transport goes through the bounded [`Fetcher`] so
//! timeouts, redirects and oversized answers are handled as for `http`.

use std::time::Duration;

use async_trait::async_trait;
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RefreshToken, RequestTokenError,
    ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse, TokenUrl,
};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::Value;
use tracing::instrument;

use super::config::{ClientAuth, OAuth2PasswordConfig, UpstreamConfigError};
use super::fetch::Fetcher;
use super::http::check_token;
use super::{
    LegacyGrant, LegacyIdp, Profile, RenewedGrant, UpstreamError, pointer, profile_after_renewal,
};
use crate::util::clock::now_unix;
use crate::util::secret::{LegacyAccessToken, LegacyRefreshToken, Password};

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The `oauth2-password` adapter.
#[derive(Debug)]
pub struct OAuth2PasswordIdp {
    config: OAuth2PasswordConfig,
    client: TokenClient,
    fetch: Fetcher,
}

impl OAuth2PasswordIdp {
    /// Checks the settings, resolves the client secret and builds the client.
    pub fn new(config: OAuth2PasswordConfig) -> Result<Self, UpstreamConfigError> {
        let key = "upstream.oauth2-password";
        super::config::check_http_url(&config.token_url, &format!("{key}.token_url"))?;
        super::config::check_http_url(&config.userinfo_url, &format!("{key}.userinfo_url"))?;
        let mut client = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_token_uri(TokenUrl::from_url(config.token_url.clone()))
            .set_auth_type(match config.client_auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::Post => AuthType::RequestBody,
            });
        if let Some(secret) = &config.client_secret {
            let secret = secret
                .resolve()
                .map_err(|e| UpstreamConfigError::new(format!("{key}.client_secret"), e))?;
            client = client.set_client_secret(ClientSecret::new(secret.secret().to_owned()));
        }
        let timeout = Duration::from_millis(config.timeout_ms);
        let fetch = Fetcher::new(timeout, timeout, config.max_response_bytes)
            .map_err(|e| UpstreamConfigError::new(key, e))?;
        Ok(Self {
            config,
            client,
            fetch,
        })
    }

    fn map_error(
        &self,
        error: RequestTokenError<UpstreamError, BasicErrorResponse>,
    ) -> UpstreamError {
        match error {
            RequestTokenError::Request(e) => e,
            RequestTokenError::ServerResponse(response) => {
                let description = response
                    .error_description()
                    .map(|d| d.to_lowercase())
                    .unwrap_or_default();
                let locked_word = self
                    .config
                    .locked_description_contains
                    .iter()
                    .any(|w| description.contains(&w.to_lowercase()));
                match response.error() {
                    BasicErrorResponseType::Extension(code)
                        if self.config.locked_error_codes.contains(code) =>
                    {
                        UpstreamError::Locked
                    }
                    BasicErrorResponseType::InvalidGrant if locked_word => UpstreamError::Locked,
                    BasicErrorResponseType::InvalidGrant => UpstreamError::InvalidCredentials,
                    BasicErrorResponseType::InvalidClient
                    | BasicErrorResponseType::UnauthorizedClient => UpstreamError::Protocol(
                        "the legacy IdP refused the bridge's client credentials".into(),
                    ),
                    other => UpstreamError::Protocol(format!(
                        "the legacy IdP answered the OAuth error {}",
                        other.as_ref()
                    )),
                }
            }
            RequestTokenError::Parse(_, _) => {
                UpstreamError::Protocol("the token answer does not parse".into())
            }
            RequestTokenError::Other(_) => {
                UpstreamError::Protocol("the token answer is not usable".into())
            }
        }
    }

    async fn userinfo(&self, token: &LegacyAccessToken) -> Result<Profile, UpstreamError> {
        let mut value = HeaderValue::try_from(format!("Bearer {}", token.secret()))
            .map_err(|_| UpstreamError::Protocol("the token cannot be sent in a header".into()))?;
        value.set_sensitive(true);
        let request = self
            .fetch
            .client()
            .get(self.config.userinfo_url.clone())
            .header(AUTHORIZATION, value)
            .header(reqwest::header::ACCEPT, "application/json")
            .build()
            .map_err(super::fetch::classify)?;
        let answer = self.fetch.send(request).await?;
        let status = answer.status;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(UpstreamError::Unavailable(format!(
                "userinfo status {}",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return Err(UpstreamError::Protocol(format!(
                "userinfo answered {}",
                status.as_u16()
            )));
        }
        let json: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| UpstreamError::Protocol("the userinfo answer is not JSON".into()))?;
        pointer::profile_from(&json, &self.config.claims)
    }

    fn expires_at(&self, expires_in: Option<Duration>) -> i64 {
        let ttl = expires_in.map_or(self.config.default_expires_in, |d| {
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
        });
        now_unix().saturating_add(ttl)
    }
}

#[async_trait]
impl LegacyIdp for OAuth2PasswordIdp {
    #[instrument(skip_all, fields(adapter = "oauth2-password"))]
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
    ) -> Result<LegacyGrant, UpstreamError> {
        let username = ResourceOwnerUsername::new(username.to_owned());
        let password = ResourceOwnerPassword::new(password.secret().to_owned());
        let answer = self
            .client
            .exchange_password(&username, &password)
            .add_scopes(self.config.scopes.iter().cloned().map(Scope::new))
            .request_async(&self.fetch)
            .await
            .map_err(|e| self.map_error(e))?;
        check_token(answer.access_token().secret())?;
        let access_token = LegacyAccessToken::new(answer.access_token().secret().clone());
        let profile = self.userinfo(&access_token).await?;
        Ok(LegacyGrant {
            access_token,
            expires_at: self.expires_at(answer.expires_in()),
            refresh_token: answer
                .refresh_token()
                .map(|r| LegacyRefreshToken::new(r.secret().clone())),
            profile,
        })
    }

    #[instrument(skip_all, fields(adapter = "oauth2-password"))]
    async fn renew(
        &self,
        refresh_token: &LegacyRefreshToken,
        known: Option<&Profile>,
    ) -> Result<RenewedGrant, UpstreamError> {
        let refresh = RefreshToken::new(refresh_token.secret().to_owned());
        let answer = self
            .client
            .exchange_refresh_token(&refresh)
            .request_async(&self.fetch)
            .await
            .map_err(|e| self.map_error(e))?;
        check_token(answer.access_token().secret())?;
        let access_token = LegacyAccessToken::new(answer.access_token().secret().clone());
        // The legacy IdP may have rotated the refresh token: userinfo
        // failing now must not fail the renewal.
        let profile = profile_after_renewal(self.userinfo(&access_token).await, known);
        Ok(RenewedGrant {
            access_token,
            expires_at: self.expires_at(answer.expires_in()),
            refresh_token: answer
                .refresh_token()
                .map(|r| LegacyRefreshToken::new(r.secret().clone())),
            profile,
        })
    }

    async fn profile(&self, access_token: &LegacyAccessToken) -> Result<Profile, UpstreamError> {
        self.userinfo(access_token).await
    }

    fn can_renew(&self) -> bool {
        true
    }
}
