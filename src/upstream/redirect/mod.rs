//! The redirect adapters (`oidc` and `oauth2`): a legacy IdP with its own
//! login page, reached through the browser with the authorization code flow,
//! so the bridge never sees a password (RFC 9700 §2.4).
//!
//! [`RedirectIdp::start`] makes the legacy IdP's authorization URL with a
//! fresh `state`, `nonce` and PKCE S256 verifier ([`Flow`]), which the
//! browser side keeps sealed in a cookie; [`RedirectIdp::finish`] redeems
//! the code ([`token`]), verifies the ID token ([`id_token`]), reads
//! userinfo when asked, maps the claims ([`claims`]) and yields a
//! [`LegacyGrant`] whose access token is the legacy IdP's, verbatim.
//! Renewal is the legacy IdP's refresh grant, so refresh, token exchange and
//! the gateway work as with the password adapters. A renewal keeps the
//! sign-in's profile unless `refresh_profile` asks for userinfo again
//! ([`claims::renewed`]); whatever fails after the token call, the renewed
//! tokens are handed back, for the legacy IdP may have rotated the refresh
//! token.
//!
//! Discovery (`oidc`) happens at the first login, not at start, so the
//! bridge starts while the legacy IdP is down; it is kept for
//! `discovery_ttl_seconds` and read again at once when an ID token names a
//! key the JWKS lacks.

pub mod claims;
pub mod config;
pub mod discovery;
pub mod id_token;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use oauth2::TokenResponse as _;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracing::instrument;
use url::Url;

use self::config::{Protocol, RedirectConfig};
use self::discovery::Endpoints;
use self::id_token::{Expected, Rejected};
use self::token::{Credentials, TokenAnswer, TokenEndpoint};
use super::fetch::Fetcher;
use super::http::check_token;
use super::problem::UpstreamConfigError;
use super::{LegacyGrant, LegacyIdp, Profile, RenewedGrant, UpstreamError, profile_after_renewal};
use crate::clock::now_unix;
use crate::crypto::random_token;
use crate::secret::{LegacyAccessToken, LegacyRefreshToken, Password};

/// One sign-in's secrets, kept by the browser side until the callback.
#[derive(Clone, Serialize, Deserialize)]
pub struct Flow {
    /// The `state` sent to the legacy IdP.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flow([redacted])")
    }
}

/// What the Auth0-side request asks of the sign-in, passed upstream where
/// it means something there (OIDC Core §3.1.2.1).
#[derive(Debug, Default)]
pub struct Hints<'a> {
    /// `prompt` values other than `none` (`login`, `consent`, `select_account`).
    pub prompt: Option<String>,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// `login_hint`.
    pub login_hint: Option<&'a str>,
    /// `ui_locales`.
    pub ui_locales: Option<&'a str>,
}

/// The `oidc` or `oauth2` adapter.
pub struct RedirectIdp {
    config: RedirectConfig,
    fetch: Fetcher,
    credentials: Credentials,
    endpoints: tokio::sync::Mutex<Option<Arc<Endpoints>>>,
}

impl std::fmt::Debug for RedirectIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectIdp")
            .field("protocol", &self.config.protocol)
            .field("client_id", &self.config.client_id)
            .finish_non_exhaustive()
    }
}

impl RedirectIdp {
    /// Checks the settings (no network) and reads the secret or key.
    pub fn new(config: RedirectConfig) -> Result<Self, UpstreamConfigError> {
        config.check()?;
        let key = config.key();
        let credentials = Credentials::from_config(&config)
            .map_err(|e| UpstreamConfigError::new(format!("{key}.client_auth"), e))?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let fetch = Fetcher::new(timeout, timeout, config.max_response_bytes)
            .map_err(|e| UpstreamConfigError::new(key, e))?;
        Ok(Self {
            config,
            fetch,
            credentials,
            endpoints: tokio::sync::Mutex::new(None),
        })
    }

    /// `oidc` or `oauth2`.
    pub fn protocol(&self) -> Protocol {
        self.config.protocol
    }

    /// How long a sign-in may take before its callback is refused, seconds.
    pub fn transaction_seconds(&self) -> i64 {
        self.config.transaction_seconds
    }

    /// The endpoints, read again when older than the TTL or when `fresh`.
    /// A failed re-read keeps serving the old ones (logged), so a blip at
    /// the legacy IdP's discovery does not stop logins.
    async fn endpoints(&self, fresh: bool) -> Result<Arc<Endpoints>, UpstreamError> {
        let mut cached = self.endpoints.lock().await;
        let ttl = Duration::from_secs(self.config.discovery_ttl_seconds);
        if let Some(e) = cached.as_ref() {
            if self.config.protocol == Protocol::OAuth2 || (!fresh && e.read_at.elapsed() < ttl) {
                return Ok(e.clone());
            }
        }
        match discovery::read(&self.config, &self.fetch).await {
            Ok(e) => {
                let e = Arc::new(e);
                *cached = Some(e.clone());
                Ok(e)
            }
            Err(error) => match cached.as_ref() {
                Some(old) if !fresh => {
                    tracing::warn!(error = %error, "cannot read the legacy IdP's discovery again; keeping the last one");
                    Ok(old.clone())
                }
                _ => Err(error),
            },
        }
    }

    /// The legacy IdP's authorization URL for a new sign-in, and the secrets
    /// the callback will need. `callback` is the bridge's redirect URI there.
    pub async fn start(
        &self,
        callback: &Url,
        hints: &Hints<'_>,
    ) -> Result<(Url, Flow), UpstreamError> {
        let endpoints = self.endpoints(false).await?;
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        let flow = Flow {
            state: random_token(),
            nonce: random_token(),
            pkce_verifier: verifier.into_secret(),
        };
        let mut url = endpoints.authorization.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("redirect_uri", callback.as_str())
                .append_pair("state", &flow.state)
                .append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", "S256");
            let scopes = self.config.scopes();
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(" "));
            }
            if self.config.protocol == Protocol::Oidc {
                q.append_pair("nonce", &flow.nonce);
                if let Some(max_age) = hints.max_age {
                    q.append_pair("max_age", &max_age.to_string());
                }
                if let Some(locales) = hints.ui_locales {
                    q.append_pair("ui_locales", locales);
                }
            }
            if let Some(prompt) = &hints.prompt {
                q.append_pair("prompt", prompt);
            }
            if let Some(hint) = hints.login_hint {
                q.append_pair("login_hint", hint);
            }
        }
        Ok((url, flow))
    }

    /// Checks the authorization response's `iss` (RFC 9207): when the legacy
    /// IdP sends one, it must be its own issuer, so a response from another
    /// IdP (a mix-up) is refused before its code is sent anywhere.
    pub fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), UpstreamError> {
        let (Some(iss), Some(issuer)) = (iss, &self.config.issuer) else {
            return Ok(());
        };
        if iss == issuer {
            Ok(())
        } else {
            Err(UpstreamError::Protocol(
                "the authorization response's iss is not the legacy IdP's issuer (RFC 9207 mix-up defence)".into(),
            ))
        }
    }

    /// Redeems the code of a sign-in started by [`Self::start`]: the token
    /// answer, the ID token verified against `flow`, the profile mapped.
    #[instrument(skip_all, fields(adapter = self.config.protocol.name()))]
    pub async fn finish(
        &self,
        callback: &Url,
        flow: &Flow,
        code: &str,
    ) -> Result<LegacyGrant, UpstreamError> {
        let endpoints = self.endpoints(false).await?;
        let answer = self
            .token_endpoint(&endpoints)
            .redeem(code, &flow.pkce_verifier, callback)
            .await
            .map_err(|e| match e {
                UpstreamError::InvalidCredentials => UpstreamError::Protocol(
                    "the legacy IdP refused the authorization code (invalid_grant)".into(),
                ),
                other => other,
            })?;
        let access = answer.access_token().secret();
        check_token(access)?;
        let id_claims = match self.config.protocol {
            Protocol::Oidc => Some(
                self.verify_id_token(&answer, &flow.nonce, endpoints)
                    .await?,
            ),
            Protocol::OAuth2 => None,
        };
        let userinfo = if self.config.protocol == Protocol::OAuth2 || self.config.get_user_info {
            Some(self.userinfo(access).await?)
        } else {
            None
        };
        let profile = claims::profile(
            &self.config.claims,
            &claims::Sources {
                id_token: id_claims.as_ref(),
                userinfo: userinfo.as_ref(),
            },
            self.config.insecure_skip_email_verified,
        )?;
        Ok(LegacyGrant {
            access_token: LegacyAccessToken::new(access.clone()),
            expires_at: self.expires_at(&answer),
            refresh_token: answer
                .refresh_token()
                .map(|r| LegacyRefreshToken::new(r.secret().clone())),
            profile,
        })
    }

    async fn verify_id_token(
        &self,
        answer: &TokenAnswer,
        nonce: &str,
        mut endpoints: Arc<Endpoints>,
    ) -> Result<Map<String, Value>, UpstreamError> {
        let raw = answer.extra_fields().id_token.as_deref().ok_or_else(|| {
            UpstreamError::Protocol(
                "the token answer has no id_token (is `openid` among the scopes?)".into(),
            )
        })?;
        let access = answer.access_token().secret();
        for attempt in 0..2 {
            let issuer = endpoints
                .issuer
                .as_ref()
                .ok_or(UpstreamError::Unsupported("ID tokens without an issuer"))?;
            let expected = Expected {
                issuer,
                client_id: &self.config.client_id,
                jwks: &endpoints.jwks,
                algs: &self.config.id_token_signing_algs,
                nonce,
            };
            match id_token::verify(raw, access, &expected) {
                Ok(claims) => return Ok(claims),
                Err(Rejected::Invalid(e)) => return Err(e),
                Err(Rejected::UnknownKey) if attempt == 0 => {
                    endpoints = self.endpoints(true).await?;
                }
                Err(Rejected::UnknownKey) => {}
            }
        }
        Err(UpstreamError::Protocol(
            "the ID token is signed with a key the legacy IdP's JWKS does not have".into(),
        ))
    }

    fn token_endpoint<'a>(&'a self, endpoints: &'a Endpoints) -> TokenEndpoint<'a> {
        TokenEndpoint {
            client_id: &self.config.client_id,
            url: &endpoints.token,
            credentials: &self.credentials,
            fetch: &self.fetch,
        }
    }

    fn expires_at(&self, answer: &TokenAnswer) -> i64 {
        let ttl = answer
            .expires_in()
            .map_or(self.config.default_expires_in, |d| {
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
            });
        now_unix().saturating_add(ttl)
    }

    /// The userinfo answer for an access token, as a JSON object.
    async fn userinfo(&self, access_token: &str) -> Result<Map<String, Value>, UpstreamError> {
        let endpoints = self.endpoints(false).await?;
        let url = endpoints
            .userinfo
            .clone()
            .ok_or(UpstreamError::Unsupported(
                "userinfo (no userinfo_endpoint is known)",
            ))?;
        let mut value = HeaderValue::try_from(format!("Bearer {access_token}"))
            .map_err(|_| UpstreamError::Protocol("the token cannot be sent in a header".into()))?;
        value.set_sensitive(true);
        let request = self
            .fetch
            .client()
            .get(url)
            .header(AUTHORIZATION, value)
            .header(reqwest::header::ACCEPT, "application/json")
            .build()
            .map_err(super::fetch::classify)?;
        let answer = self.fetch.send(request).await?;
        let status = answer.status.as_u16();
        if answer.status.is_server_error() || status == 429 {
            return Err(UpstreamError::Unavailable(format!(
                "userinfo status {status}"
            )));
        }
        if status == 401 {
            return Err(UpstreamError::InvalidCredentials);
        }
        if !answer.status.is_success() {
            return Err(UpstreamError::Protocol(format!(
                "userinfo answered {status}"
            )));
        }
        serde_json::from_slice(&answer.body)
            .map_err(|_| UpstreamError::Protocol("the userinfo answer is not a JSON object".into()))
    }

    /// Where to send the browser to end the legacy IdP's own session
    /// (OIDC RP-Initiated Logout 1.0 §2, with `client_id` since the bridge
    /// keeps no upstream ID token), when `upstream_logout` is on and the
    /// legacy IdP has an end-session endpoint.
    pub async fn logout_url(&self, post_logout_redirect_uri: Option<&str>) -> Option<Url> {
        if !self.config.upstream_logout {
            return None;
        }
        let endpoints = match self.endpoints(false).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "cannot find the legacy IdP's end_session_endpoint; ending only the bridge's session");
                return None;
            }
        };
        let mut url = endpoints.end_session.clone()?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.config.client_id);
            if let Some(uri) = post_logout_redirect_uri {
                q.append_pair("post_logout_redirect_uri", uri);
            }
        }
        Some(url)
    }
}

#[async_trait]
impl LegacyIdp for RedirectIdp {
    async fn authenticate(
        &self,
        _username: &str,
        _password: &Password,
    ) -> Result<LegacyGrant, UpstreamError> {
        Err(UpstreamError::Unsupported(
            "password login (this adapter signs users in on the legacy IdP's own page)",
        ))
    }

    #[instrument(skip_all, fields(adapter = self.config.protocol.name()))]
    async fn renew(
        &self,
        refresh_token: &LegacyRefreshToken,
        known: Option<&Profile>,
    ) -> Result<RenewedGrant, UpstreamError> {
        let endpoints = self.endpoints(false).await?;
        let answer = self
            .token_endpoint(&endpoints)
            .refresh(refresh_token.secret())
            .await?;
        let access = answer.access_token().secret();
        check_token(access)?;
        // From here on the legacy IdP may have rotated the refresh token:
        // nothing fails the renewal. A refreshed ID token carries no nonce
        // to check, so the profile comes from userinfo, when asked for.
        let profile = if self.config.refresh_profile {
            profile_after_renewal(self.profile_at_renewal(access, known).await, known)
        } else {
            None
        };
        Ok(RenewedGrant {
            access_token: LegacyAccessToken::new(access.clone()),
            expires_at: self.expires_at(&answer),
            refresh_token: answer
                .refresh_token()
                .map(|r| LegacyRefreshToken::new(r.secret().clone())),
            profile,
        })
    }

    async fn profile(&self, access_token: &LegacyAccessToken) -> Result<Profile, UpstreamError> {
        self.profile_for(access_token.secret()).await
    }

    fn can_renew(&self) -> bool {
        true
    }
}

impl RedirectIdp {
    /// Userinfo mapped over the grant's profile (`refresh_profile`).
    async fn profile_at_renewal(
        &self,
        access_token: &str,
        known: Option<&Profile>,
    ) -> Result<Profile, UpstreamError> {
        let info = self.userinfo(access_token).await?;
        claims::renewed(
            &self.config.claims,
            &info,
            known,
            self.config.insecure_skip_email_verified,
        )
    }

    async fn profile_for(&self, access_token: &str) -> Result<Profile, UpstreamError> {
        let info = self.userinfo(access_token).await?;
        claims::profile(
            &self.config.claims,
            &claims::Sources {
                id_token: None,
                userinfo: Some(&info),
            },
            self.config.insecure_skip_email_verified,
        )
    }
}
