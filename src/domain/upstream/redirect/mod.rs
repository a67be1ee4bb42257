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
//! `discovery_ttl_seconds` and read again sooner when an ID token names a
//! key the JWKS lacks or fails its signature under the known one (a legacy
//! IdP that re-keys under the same `kid`), at most once per
//! `jwks_min_refresh_seconds`.
//!
//! The sign-in's `auth_time` is the legacy IdP's (the ID token's, or for
//! `oauth2` userinfo's), never later than now, so a reused upstream session
//! is not presented to Auth0 as a fresh authentication.

pub mod authorization;
pub mod claims;
pub mod config;
pub mod discovery;
pub mod id_token;
pub mod token;

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use oauth2::TokenResponse as _;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde_json::{Map, Value};
use tracing::instrument;
use url::Url;

pub use self::authorization::{Flow, Hints};
use self::config::{Protocol, RedirectConfig};
use self::discovery::Endpoints;
use self::id_token::{Expected, Rejected};
use self::token::{Credentials, TokenAnswer, TokenEndpoint};
use super::fetch::Fetcher;
use super::http::check_token;
use super::problem::UpstreamConfigError;
use super::{LegacyGrant, LegacyIdp, Profile, RenewedGrant, UpstreamError, profile_after_renewal};
use crate::domain::types::UnixTime;
use crate::util::clock::now_unix;
use crate::util::crypto::random_token;
use crate::util::secret::{LegacyAccessToken, LegacyRefreshToken, Password};

/// A sign-in the legacy IdP completed.
#[derive(Debug)]
pub struct SignedIn {
    /// The legacy tokens and the profile.
    pub grant: LegacyGrant,
    /// When the user authenticated there (OIDC Core §2 `auth_time`), never
    /// later than now.
    pub auth_time: UnixTime,
}

/// The `oidc` or `oauth2` adapter.
pub struct RedirectIdp {
    config: RedirectConfig,
    fetch: Fetcher,
    credentials: Credentials,
    endpoints: tokio::sync::Mutex<Option<Arc<Endpoints>>>,
    /// When an ID token last made the JWKS be read again.
    keys_reread_at: std::sync::Mutex<Option<Instant>>,
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
            keys_reread_at: std::sync::Mutex::new(None),
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
        let url = authorization::request_url(
            &self.config,
            &endpoints.authorization,
            callback,
            hints,
            &flow,
            challenge.as_str(),
        );
        Ok((url, flow))
    }

    /// Checks the authorization response's `iss` (RFC 9207, see
    /// [`authorization::check_iss`]), so a response from another IdP (a
    /// mix-up) is refused before its code is sent anywhere.
    pub async fn check_response_issuer(&self, iss: Option<&str>) -> Result<(), UpstreamError> {
        let advertised = if iss.is_none() && self.config.protocol == Protocol::Oidc {
            self.endpoints(false).await?.iss_parameter_supported
        } else {
            false
        };
        authorization::check_iss(&self.config, iss, advertised)
    }

    /// Redeems the code of a sign-in started by [`Self::start`]: the token
    /// answer, the ID token verified against `flow`, the profile mapped,
    /// the legacy IdP's `auth_time`.
    #[instrument(skip_all, fields(adapter = self.config.protocol.name()))]
    pub async fn finish(
        &self,
        callback: &Url,
        flow: &Flow,
        code: &str,
    ) -> Result<SignedIn, UpstreamError> {
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
        if answer.refresh_token().is_none() && self.config.asks_offline_access() {
            // Auth0 would silently get no refresh token: say so, once per
            // sign-in. Nothing secret: no token, no code.
            tracing::warn!(
                consent_added = self.config.prompt_consent_for_offline_access,
                "the legacy IdP issued no refresh token though the sign-in asked for offline_access; this grant cannot be refreshed or renewed (OIDC Core §11: the OP grants offline_access only with prompt=consent, see prompt_consent_for_offline_access)"
            );
        }
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
        // OIDC Core §2: the ID token states it; an oauth2 IdP may put it in
        // userinfo. Absent, the sign-in happened now.
        let stated = match self.config.protocol {
            Protocol::Oidc => id_claims.as_ref(),
            Protocol::OAuth2 => userinfo.as_ref(),
        };
        let grant = LegacyGrant {
            access_token: LegacyAccessToken::new(access.clone()),
            expires_at: self.expires_at(&answer),
            refresh_token: answer
                .refresh_token()
                .map(|r| LegacyRefreshToken::new(r.secret().clone())),
            profile,
        };
        Ok(SignedIn {
            grant,
            auth_time: UnixTime::from_secs(claims::auth_time(stated, now_unix())),
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
        let mut reread = false;
        loop {
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
            let why = match id_token::verify(raw, access, &expected) {
                Ok(claims) => return Ok(claims),
                Err(Rejected::Invalid(e)) => return Err(e),
                Err(Rejected::KeysMayBeStale(why)) => why,
            };
            if !reread {
                if let Some(newer) = self.newer_keys(&endpoints).await? {
                    endpoints = newer;
                    reread = true;
                    continue;
                }
            }
            let note = if reread {
                "even with the JWKS read again"
            } else {
                "and the JWKS was read again less than jwks_min_refresh_seconds ago"
            };
            return Err(UpstreamError::Protocol(format!("{why}, {note}")));
        }
    }

    /// Endpoints with a newer JWKS than `used`, for an ID token that failed
    /// under its keys: the cached ones when another sign-in has read them
    /// again meanwhile, else a fresh read, at most once per
    /// `jwks_min_refresh_seconds`; `None` when neither.
    async fn newer_keys(
        &self,
        used: &Arc<Endpoints>,
    ) -> Result<Option<Arc<Endpoints>>, UpstreamError> {
        if let Some(cached) = self.endpoints.lock().await.as_ref() {
            if !Arc::ptr_eq(cached, used) {
                return Ok(Some(cached.clone()));
            }
        }
        {
            let mut last = self
                .keys_reread_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let min = Duration::from_secs(self.config.jwks_min_refresh_seconds);
            if last.is_some_and(|at| at.elapsed() < min) {
                return Ok(None);
            }
            *last = Some(Instant::now());
        }
        self.endpoints(true).await.map(Some)
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
