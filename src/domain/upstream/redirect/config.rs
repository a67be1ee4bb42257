//! `[upstream.oidc]` and `[upstream.oauth2]`: a legacy IdP the browser is
//! sent to. The keys follow Dex's `oidc` and `oauth` connectors where they
//! mean the same thing (`insecure_skip_email_verified`, `get_user_info`,
//! the claim mapping), so an operator coming from Dex finds them;
//! `refresh_profile` (what a renewal reads) is the bridge's own.
//!
//! ```toml
//! [upstream]
//! adapter = "oidc"                     # or "oauth2"
//! [upstream.oidc]
//! issuer = "https://legacy.example.com"
//! client_id = "idp-bridge"
//! client_secret = { env = "LEGACY_CLIENT_SECRET" }
//! [upstream.oidc.claims]
//! user_id = "sub"
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use crate::domain::upstream::defaults;
use crate::domain::upstream::problem::{UpstreamConfigError, check_http_url};
use crate::util::secret::SecretSource;

/// Which protocol the legacy IdP speaks at its authorization endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// OpenID Connect: discovery, an ID token, a nonce.
    #[default]
    Oidc,
    /// OAuth 2.0 only: no ID token; the profile comes from a userinfo
    /// endpoint.
    OAuth2,
}

impl Protocol {
    /// The adapter's name in `[upstream] adapter`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::OAuth2 => "oauth2",
        }
    }
}

/// How the bridge authenticates to the legacy IdP's token endpoint.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedirectClientAuth {
    /// `client_secret_basic` (the default, as in RFC 6749 §2.3.1).
    #[default]
    Basic,
    /// `client_secret_post`.
    Post,
    /// `private_key_jwt` (OIDC Core §9): a JWT signed with `private_key`.
    PrivateKeyJwt,
    /// A public client: only `client_id`, with PKCE.
    None,
}

/// `[upstream.oidc]` / `[upstream.oauth2]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)] // the file's own switches, one key each
pub struct RedirectConfig {
    /// Set from `adapter`, not from the section.
    #[serde(skip)]
    pub protocol: Protocol,
    /// The legacy IdP's issuer identifier, kept as written (`https://idp`
    /// and `https://idp/` are different issuers). OIDC: required; discovery
    /// starts here and ID tokens must carry it exactly. Both: the callback's
    /// `iss` (RFC 9207) must be it. For oauth2 it is optional and only that
    /// (no discovery is read there); a callback carrying `iss` without it is
    /// refused, since the mix-up defence could not check it.
    pub issuer: Option<String>,
    /// Refuse a callback without `iss` (RFC 9207 §2.4). Needs `issuer`.
    /// `oidc` refuses it anyway when discovery advertises
    /// `authorization_response_iss_parameter_supported`; this makes it so
    /// for a legacy IdP that sends `iss` without advertising it, and for
    /// oauth2, which has no discovery to advertise it.
    #[serde(default)]
    pub require_iss: bool,
    /// Overrides discovery's `authorization_endpoint` (required for oauth2).
    pub authorization_endpoint: Option<Url>,
    /// Overrides discovery's `token_endpoint` (required for oauth2).
    pub token_endpoint: Option<Url>,
    /// Overrides discovery's `userinfo_endpoint` (required for oauth2).
    pub userinfo_endpoint: Option<Url>,
    /// Overrides discovery's `end_session_endpoint`.
    pub end_session_endpoint: Option<Url>,
    /// The bridge's client id at the legacy IdP.
    pub client_id: String,
    /// Its secret (`client_secret_basic` or `client_secret_post`).
    pub client_secret: Option<SecretSource>,
    /// `basic` (default), `post`, `private_key_jwt` or `none`.
    #[serde(default)]
    pub client_auth: RedirectClientAuth,
    /// PEM private key (RSA or P-256) for `private_key_jwt`.
    pub private_key: Option<SecretSource>,
    /// The `kid` put in the assertion's header, if the legacy IdP needs one.
    pub private_key_id: Option<String>,
    /// Scopes asked for (OIDC default: `openid profile email offline_access`).
    pub scopes: Option<Vec<String>>,
    /// When the scopes ask for `offline_access`, add `consent` to `prompt`
    /// (default true): OIDC Core §11 has the OP ignore `offline_access`
    /// without it, and the sign-in then yields no refresh token. Off for a
    /// legacy IdP that grants offline access without asking.
    #[serde(default = "defaults::enabled")]
    pub prompt_consent_for_offline_access: bool,
    /// Also read the userinfo endpoint after the ID token (Dex's
    /// `getUserInfo`); always done for oauth2.
    #[serde(default)]
    pub get_user_info: bool,
    /// Read userinfo again at each renewal and update the profile from it
    /// (userinfo wins where it carries a claim; the last known profile
    /// stands in for the ID token). Off (the default), a renewal renews the
    /// tokens and keeps the profile of the sign-in. Either way a renewal
    /// never fails after the legacy IdP's token call.
    #[serde(default)]
    pub refresh_profile: bool,
    /// Treat a missing `email_verified` as verified (Dex's
    /// `insecureSkipEmailVerified`). Without it a login whose profile has an
    /// email but no `email_verified` fails, naming the claim.
    #[serde(default)]
    pub insecure_skip_email_verified: bool,
    /// On RP-initiated logout, send the browser on to the legacy IdP's
    /// `end_session_endpoint` so its own session ends too.
    #[serde(default)]
    pub upstream_logout: bool,
    /// ID token signature algorithms accepted (default RS256).
    #[serde(default = "defaults::algs")]
    pub id_token_signing_algs: Vec<String>,
    /// Which claims make the profile.
    #[serde(default)]
    pub claims: RedirectClaims,
    /// Whole-request timeout, milliseconds (default 5000).
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Largest answer read, bytes (default 65536).
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: usize,
    /// Token lifetime when the answer has no `expires_in`, seconds (default 3600).
    #[serde(default = "defaults::expires_in")]
    pub default_expires_in: i64,
    /// How long a sign-in at the legacy IdP may take, seconds (default and
    /// most 600: the callback is refused after it).
    #[serde(default = "defaults::transaction_seconds")]
    pub transaction_seconds: i64,
    /// How long discovery and the JWKS are kept before being read again,
    /// seconds (default 3600; an ID token whose key is unknown or whose
    /// signature fails reads them again sooner, see
    /// `jwks_min_refresh_seconds`).
    #[serde(default = "defaults::discovery_ttl")]
    pub discovery_ttl_seconds: u64,
    /// An ID token naming an unknown `kid`, or whose signature fails under
    /// the known key (a legacy IdP that re-keys under the same `kid`),
    /// reads discovery and the JWKS again at most this often, seconds
    /// (default 30, at least 1), so a broken legacy IdP is not asked again
    /// at every sign-in.
    #[serde(default = "defaults::jwks_min_refresh")]
    pub jwks_min_refresh_seconds: u64,
}

/// Dex's claim mapping: each value names a claim of the ID token or the
/// userinfo answer (userinfo wins where both have it), or a JSON pointer
/// when it starts with `/` (`/address/country`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedirectClaims {
    /// The stable user id (default `sub`); numbers become strings.
    #[serde(default = "defaults::user_id")]
    pub user_id: String,
    /// Display name (default `name`, else `preferred_username`).
    #[serde(default = "defaults::name")]
    pub name: String,
    /// Email address (default `email`).
    #[serde(default = "defaults::email")]
    pub email: String,
    /// Whether the email is verified (default `email_verified`).
    #[serde(default = "defaults::email_verified")]
    pub email_verified: String,
    /// Group memberships, released as the `groups` claim (default `groups`).
    #[serde(default = "defaults::groups")]
    pub groups: String,
    /// Further attributes: released claim name = upstream claim.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

impl Default for RedirectClaims {
    fn default() -> Self {
        Self {
            user_id: defaults::user_id(),
            name: defaults::name(),
            email: defaults::email(),
            email_verified: defaults::email_verified(),
            groups: defaults::groups(),
            extra: BTreeMap::new(),
        }
    }
}

impl RedirectConfig {
    /// The `upstream.<adapter>` key prefix, for messages.
    pub fn key(&self) -> String {
        format!("upstream.{}", self.protocol.name())
    }

    /// Whether the scopes ask for `offline_access` (a refresh token).
    pub fn asks_offline_access(&self) -> bool {
        self.scopes().iter().any(|s| s == "offline_access")
    }

    /// Scopes asked for: the configured ones, with `openid` added for OIDC.
    pub fn scopes(&self) -> Vec<String> {
        let mut scopes = self.scopes.clone().unwrap_or_else(|| match self.protocol {
            Protocol::Oidc => ["openid", "profile", "email", "offline_access"]
                .map(String::from)
                .to_vec(),
            Protocol::OAuth2 => Vec::new(),
        });
        if self.protocol == Protocol::Oidc && !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        scopes
    }

    /// Every check that needs no network: URLs, the endpoints oauth2 must
    /// name, the key `private_key_jwt` needs.
    pub fn check(&self) -> Result<(), UpstreamConfigError> {
        let key = self.key();
        if let Some(issuer) = &self.issuer {
            let url = Url::parse(issuer).map_err(|e| {
                UpstreamConfigError::new(format!("{key}.issuer"), format!("is not a URL: {e}"))
            })?;
            check_http_url(&url, &format!("{key}.issuer"))?;
        }
        for (name, url) in [
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("userinfo_endpoint", &self.userinfo_endpoint),
            ("end_session_endpoint", &self.end_session_endpoint),
        ] {
            if let Some(url) = url {
                check_http_url(url, &format!("{key}.{name}"))?;
            }
        }
        match self.protocol {
            Protocol::Oidc if self.issuer.is_none() => {
                return Err(UpstreamConfigError::new(
                    format!("{key}.issuer"),
                    "is required: discovery starts at the issuer, and ID tokens must name it",
                ));
            }
            Protocol::OAuth2 => {
                for (name, url) in [
                    ("authorization_endpoint", &self.authorization_endpoint),
                    ("token_endpoint", &self.token_endpoint),
                    ("userinfo_endpoint", &self.userinfo_endpoint),
                ] {
                    if url.is_none() {
                        return Err(UpstreamConfigError::new(
                            format!("{key}.{name}"),
                            "is required: an OAuth 2.0 IdP has no discovery to find it",
                        ));
                    }
                }
            }
            Protocol::Oidc => {}
        }
        if self.require_iss && self.issuer.is_none() {
            return Err(UpstreamConfigError::new(
                format!("{key}.issuer"),
                "is required with require_iss = true: the callback's iss is compared with it",
            ));
        }
        if self.client_id.is_empty() {
            return Err(UpstreamConfigError::new(
                format!("{key}.client_id"),
                "must not be empty",
            ));
        }
        match self.client_auth {
            RedirectClientAuth::PrivateKeyJwt if self.private_key.is_none() => {
                return Err(UpstreamConfigError::new(
                    format!("{key}.private_key"),
                    "is required with client_auth = \"private_key_jwt\"",
                ));
            }
            RedirectClientAuth::Basic | RedirectClientAuth::Post
                if self.client_secret.is_none() =>
            {
                return Err(UpstreamConfigError::new(
                    format!("{key}.client_secret"),
                    "is required with client_auth = \"basic\" or \"post\" (use client_auth = \"none\" for a public client)",
                ));
            }
            _ => {}
        }
        for alg in &self.id_token_signing_algs {
            if !matches!(
                alg.as_str(),
                "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" | "ES256" | "ES384"
            ) {
                return Err(UpstreamConfigError::new(
                    format!("{key}.id_token_signing_algs"),
                    format!("`{alg}` is not an asymmetric JWS algorithm the bridge accepts"),
                ));
            }
        }
        if !(1..=600).contains(&self.transaction_seconds) {
            return Err(UpstreamConfigError::new(
                format!("{key}.transaction_seconds"),
                "must be between 1 and 600",
            ));
        }
        if self.jwks_min_refresh_seconds == 0 {
            return Err(UpstreamConfigError::new(
                format!("{key}.jwks_min_refresh_seconds"),
                "must be at least 1 (it bounds the JWKS reads failing ID tokens cause)",
            ));
        }
        if self.timeout_ms == 0 || self.default_expires_in <= 0 {
            return Err(UpstreamConfigError::new(
                key,
                "timeout_ms and default_expires_in must be positive",
            ));
        }
        Ok(())
    }
}
