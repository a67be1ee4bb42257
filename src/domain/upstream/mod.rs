//! The legacy side: what the bridge needs from any legacy IdP, and the
//! adapters that reach one.
//!
//! [`LegacyIdp`] is the whole contract: check a username and password and
//! yield a [`LegacyGrant`]; renew a grant with its refresh token; optionally
//! fetch a profile for a token. A renewal that the legacy IdP has answered
//! succeeds, whatever fails after its token call
//! ([`profile_after_renewal`]): the IdP may have rotated the refresh token,
//! and a retry with the old one would burn the grant.
//!
//! Adapters are chosen by configuration (`[upstream] adapter = ...`):
//! [`http`] reaches a password API by configuration alone,
//! [`oauth2_password`] speaks the OAuth 2.0 password grant, [`command`]
//! runs a program for anything else. The [`redirect`]
//! adapters (`oidc`, `oauth2`) never see a password: the browser signs in on
//! the legacy IdP's own page, and [`LegacyIdp::authenticate`] is refused.
//!
//! Nothing here assumes a token is LT1: legacy access tokens are opaque
//! strings, passed on verbatim. Only the optional "expiry from the token"
//! setting asks the LT1 codec, and only for LT1-shaped tokens.

pub mod command;
pub mod config;
pub mod defaults;
pub mod fetch;
pub mod http;
pub mod oauth2_password;
pub mod pointer;
pub mod problem;
pub mod redirect;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::types::Subject;
use crate::util::legacy_token::Lt1Keys;
use crate::util::secret::{LegacyAccessToken, LegacyRefreshToken, Password};

pub use config::UpstreamConfig;

/// What the legacy IdP says about a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The stable legacy user id, parsed where the adapter's answer is
    /// read (an answer without one is a protocol error).
    pub subject: Subject,
    /// The user's email address, when known.
    pub email: Option<String>,
    /// Whether the legacy IdP verified the email, when it says (the
    /// redirect adapters' `email_verified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The user's display name, when known.
    pub name: Option<String>,
    /// Any further mapped attributes (roles, department, ...).
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// What a successful login at the legacy IdP yields.
#[derive(Debug, Clone)]
pub struct LegacyGrant {
    /// The legacy access token, verbatim.
    pub access_token: LegacyAccessToken,
    /// When the access token expires, unix seconds.
    pub expires_at: i64,
    /// The legacy refresh token, if the IdP issues one.
    pub refresh_token: Option<LegacyRefreshToken>,
    /// The user.
    pub profile: Profile,
}

/// What a renewal yields: a new access token, perhaps a new refresh token
/// (`None` means keep the old one), perhaps a fresh profile (`None` means
/// keep the last known one).
#[derive(Debug, Clone)]
pub struct RenewedGrant {
    /// The new legacy access token, verbatim.
    pub access_token: LegacyAccessToken,
    /// When it expires, unix seconds.
    pub expires_at: i64,
    /// A replacement refresh token, when the IdP rotates them.
    pub refresh_token: Option<LegacyRefreshToken>,
    /// The profile, when the renewal answer carries one.
    pub profile: Option<Profile>,
}

/// Why the legacy IdP did not give what was asked. The classes are kept
/// apart because each gets a different answer: a form message, a lockout
/// message, `temporarily_unavailable`, or an operator alert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Wrong username or password, or (for renewal) a refresh token the IdP
    /// refused. Deliberately does not say which.
    #[error("the legacy IdP refused the credentials")]
    InvalidCredentials,
    /// The account exists but is locked or disabled.
    #[error("the account is locked or disabled at the legacy IdP")]
    Locked,
    /// Timeout, connection refused, 5xx, throttled: try again later.
    #[error("the legacy IdP is unavailable: {0}")]
    Unavailable(String),
    /// The IdP answered something we cannot use: unparseable body, missing
    /// token, unexpected status, a redirect, an oversized answer.
    #[error("the legacy IdP answered unexpectedly: {0}")]
    Protocol(String),
    /// The adapter has no path for this operation (for example no renew
    /// endpoint is configured).
    #[error("the legacy IdP adapter does not support {0}")]
    Unsupported(&'static str),
}

impl UpstreamError {
    /// A short, stable, secret-free name for logs and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::Locked => "locked",
            Self::Unavailable(_) => "unavailable",
            Self::Protocol(_) => "protocol",
            Self::Unsupported(_) => "unsupported",
        }
    }
}

/// The contract every legacy IdP adapter fulfils.
#[async_trait]
pub trait LegacyIdp: Send + Sync + std::fmt::Debug {
    /// Checks a username and password; on success yields the legacy token,
    /// its expiry, an optional refresh token and the user's profile.
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
    ) -> Result<LegacyGrant, UpstreamError>;

    /// Renews a grant with its legacy refresh token; `known` is the profile
    /// the grant holds. An error means the token call itself failed
    /// ([`UpstreamError::InvalidCredentials`]: the refresh token was
    /// refused). Once the legacy IdP has answered it, the renewal succeeds:
    /// a profile that cannot be read or mapped is left out
    /// ([`profile_after_renewal`]), so the caller stores the new tokens and
    /// keeps `known`.
    async fn renew(
        &self,
        refresh_token: &LegacyRefreshToken,
        known: Option<&Profile>,
    ) -> Result<RenewedGrant, UpstreamError>;

    /// Fetches the profile belonging to an access token.
    async fn profile(&self, access_token: &LegacyAccessToken) -> Result<Profile, UpstreamError>;

    /// Whether [`LegacyIdp::renew`] can work at all with this configuration.
    fn can_renew(&self) -> bool;

    /// Issues a legacy token for `subject` without a password, for token
    /// exchange when the user has no live grant (a legacy "token for user"
    /// operation). [`UpstreamError::InvalidCredentials`] means no such user.
    async fn mint(&self, subject: &Subject) -> Result<RenewedGrant, UpstreamError> {
        let _ = subject;
        Err(UpstreamError::Unsupported("minting"))
    }

    /// Looks a user up by email address without a password, for Auth0's
    /// `get_user` migration script: `Ok(None)` when there is no such user.
    /// Most legacy IdPs offer no such call; only the `http` adapter with
    /// `[upstream.http.lookup]` makes one.
    async fn lookup(&self, email: &str) -> Result<Option<Profile>, UpstreamError> {
        let _ = email;
        Err(UpstreamError::Unsupported("user lookup"))
    }
}

/// The profile read after a renewal's token call, or `None` to keep the
/// grant's `known` one. A failure never fails the renewal, whose refresh
/// token the legacy IdP may already have rotated; it is logged here, once,
/// by class and a secret-free cause. A profile of another user is not taken.
pub fn profile_after_renewal(
    read: Result<Profile, UpstreamError>,
    known: Option<&Profile>,
) -> Option<Profile> {
    match read {
        Ok(fresh) if known.is_some_and(|k| k.subject != fresh.subject) => {
            tracing::warn!(
                "the profile read at renewal is another user's; keeping the last known profile"
            );
            None
        }
        Ok(fresh) => Some(fresh),
        Err(e) => {
            tracing::warn!(reason = e.class(), error = %e, "cannot refresh the profile at renewal; keeping the renewed tokens and the last known profile");
            None
        }
    }
}

/// Builds the configured adapter. `lt1` is the LT1 key set, used only when
/// the adapter is told to read a token's expiry from the token itself.
pub fn build(
    config: &UpstreamConfig,
    lt1: Option<Lt1Keys>,
) -> Result<Arc<dyn LegacyIdp>, config::UpstreamConfigError> {
    Ok(match config {
        UpstreamConfig::Http(c) => Arc::new(http::HttpIdp::new((**c).clone(), lt1)?),
        UpstreamConfig::OAuth2Password(c) => {
            Arc::new(oauth2_password::OAuth2PasswordIdp::new(c.clone())?)
        }
        UpstreamConfig::Command(c) => Arc::new(command::CommandIdp::new(c.clone())),
        UpstreamConfig::Redirect(c) => Arc::new(redirect::RedirectIdp::new((**c).clone())?),
    })
}
