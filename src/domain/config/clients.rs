//! `[[clients]]`: the relying parties (Auth0 connections) and their
//! validation: secrets reduced to hashes, `private_key_jwt` keys parsed,
//! redirect URIs checked, refresh policy and ID token algorithm.

use std::fmt;

use serde::Deserialize;

use super::exchange::ExchangePolicy;
use super::signing_alg::SigningAlg;
use crate::domain::types::{ClientId, RedirectUri};
use crate::util::net::is_loopback;
use crate::util::secret::SecretSource;

/// `[[clients]]`: one relying party.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    // Read through `ClientId`'s constructor, so a bad one is reported at
    // its position; a string in the schema.
    /// The client id.
    #[schemars(with = "String")]
    pub id: ClientId,
    /// The secret, from env or a file (or literal, for tests).
    pub secret: Option<SecretSource>,
    /// Or only its hash: `sha256:<hex>` (for high-entropy generated secrets).
    pub secret_hash: Option<String>,
    // Each read through `RedirectUri`'s constructor.
    /// Exact redirect URIs.
    #[schemars(with = "Vec<String>")]
    pub redirect_uris: Vec<RedirectUri>,
    /// Scopes the client may be granted (default openid, profile, email).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Refuse authorization requests without PKCE (default false: Auth0's
    /// `oauth2` strategy does not always send it).
    #[serde(default)]
    pub require_pkce: bool,
    /// Token endpoint authentication methods (default both secret methods).
    #[serde(default = "default_auth_methods")]
    pub token_endpoint_auth_methods: Vec<String>,
    /// Refresh tokens (issued when `offline_access` is in `scopes` and asked for).
    #[serde(default)]
    pub refresh_tokens: RefreshPolicy,
    /// Exact URIs the client may send users to after logout.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// For `private_key_jwt`: the client's public keys as a JWK Set (JSON text).
    pub jwks: Option<String>,
    /// For `private_key_jwt`: the client's public key as PEM (RSA or EC P-256).
    pub public_key_pem: Option<String>,
    /// How this client's ID tokens are signed: `RS256` (default) or `ES256`
    /// (the OIDC Dynamic Client Registration metadata name).
    #[serde(default = "default_id_token_alg")]
    pub id_token_signed_response_alg: String,
    /// Token exchange (RFC 8693): the Auth0 audiences and scopes this
    /// client may exchange for legacy tokens; absent: it may not.
    pub token_exchange: Option<ExchangePolicy>,
    /// May ask `POST /legacy/introspect` whether a legacy token is live
    /// (the Auth0 Custom Token Exchange Action's client); default false.
    #[serde(default)]
    pub validate_legacy_tokens: bool,
}

fn default_id_token_alg() -> String {
    "RS256".into()
}

/// `[clients.refresh_tokens]`: how this client's refresh tokens behave.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshPolicy {
    /// Each use returns a new refresh token and spends the old one (default
    /// true). Auth0 Token Vault asks upstream providers not to rotate: set
    /// false for a Token Vault connection.
    #[serde(default = "default_true")]
    pub rotation: bool,
    /// A spent token used again within this many seconds gets the same
    /// answer as the first use (concurrent refreshes); after it, reuse
    /// revokes the whole family (default 5).
    #[serde(default = "default_grace")]
    pub reuse_grace_seconds: i64,
    /// A family ends this long after the login, seconds (default 30 days).
    #[serde(default = "default_absolute")]
    pub absolute_lifetime_seconds: i64,
    /// A family ends when unused this long, seconds (default 14 days).
    #[serde(default = "default_idle")]
    pub idle_lifetime_seconds: i64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            rotation: true,
            reuse_grace_seconds: default_grace(),
            absolute_lifetime_seconds: default_absolute(),
            idle_lifetime_seconds: default_idle(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_grace() -> i64 {
    5
}
fn default_absolute() -> i64 {
    30 * 86_400
}
fn default_idle() -> i64 {
    14 * 86_400
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
fn default_auth_methods() -> Vec<String> {
    vec!["client_secret_post".into(), "client_secret_basic".into()]
}

/// How a client authenticates at the token, revocation and introspection
/// endpoints (OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// The secret in the form body.
    ClientSecretPost,
    /// The secret in a Basic `Authorization` header (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// A JWT signed with the client's key (RFC 7523).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// Every method, in the order discovery lists them.
    pub const ALL: [Self; 3] = [
        Self::ClientSecretPost,
        Self::ClientSecretBasic,
        Self::PrivateKeyJwt,
    ];

    /// The registered name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// The method of a registered name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether it authenticates with a shared secret.
    pub const fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretPost | Self::ClientSecretBasic)
    }
}

/// A client after validation: the secret reduced to its SHA-256.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client id.
    pub id: ClientId,
    /// SHA-256 of the secret (absent for a `private_key_jwt`-only client).
    pub secret_sha256: Option<[u8; 32]>,
    /// Public keys for `private_key_jwt`.
    pub assertion_keys: Vec<AssertionKey>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<RedirectUri>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// PKCE required.
    pub require_pkce: bool,
    /// Allowed token endpoint auth methods.
    pub auth_methods: Vec<AuthMethod>,
    /// Refresh token behaviour.
    pub refresh: RefreshPolicy,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// How its ID tokens are signed.
    pub id_token_alg: SigningAlg,
    /// What it may exchange, if anything (RFC 8693).
    pub exchange: Option<ExchangePolicy>,
    /// May ask whether a legacy token is live (`/legacy/introspect`).
    pub validate_legacy_tokens: bool,
}

/// A client's public key for `private_key_jwt`.
#[derive(Clone)]
pub struct AssertionKey {
    /// Its `kid`, if the JWK had one.
    pub kid: Option<String>,
    /// Whether it is an EC key (ES256) rather than RSA (RS256, PS256).
    pub ec: bool,
    /// The verification key.
    pub key: jsonwebtoken::DecodingKey,
}

impl fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionKey")
            .field("kid", &self.kid)
            .field("ec", &self.ec)
            .finish_non_exhaustive()
    }
}

/// Parses a client's `jwks` and `public_key_pem` into verification keys.
fn assertion_keys(c: &ClientConfig) -> Result<Vec<AssertionKey>, String> {
    let mut keys = Vec::new();
    if let Some(text) = &c.jwks {
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(text).map_err(|e| format!("jwks: not a JWK Set: {e}"))?;
        for jwk in &set.keys {
            let ec = matches!(
                jwk.algorithm,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_)
            );
            let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| format!("jwks: {e}"))?;
            keys.push(AssertionKey {
                kid: jwk.common.key_id.clone(),
                ec,
                key,
            });
        }
    }
    if let Some(pem) = &c.public_key_pem {
        let (key, ec) = match jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) {
            Ok(k) => (k, false),
            Err(_) => (
                jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes())
                    .map_err(|_| "public_key_pem: not an RSA or EC public key".to_owned())?,
                true,
            ),
        };
        keys.push(AssertionKey { kid: None, ec, key });
    }
    Ok(keys)
}

/// The client's secret reduced to its SHA-256, or the problems with it.
fn client_secret(
    c: &ClientConfig,
    key: &str,
    wants_secret: bool,
    problems: &mut Vec<String>,
) -> Option<[u8; 32]> {
    match (&c.secret, &c.secret_hash) {
        (Some(s), None) => match s.resolve() {
            Ok(v) if v.secret().len() >= 16 => {
                Some(crate::util::crypto::sha256(v.secret().as_bytes()))
            }
            Ok(_) => {
                problems.push(format!("{key}.secret: must be at least 16 characters"));
                None
            }
            Err(e) => {
                problems.push(format!("{key}.secret: {e}"));
                None
            }
        },
        (None, Some(h)) => {
            let digest = h
                .strip_prefix("sha256:")
                .and_then(|h| hex::decode(h).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok());
            match digest {
                None => {
                    problems.push(format!("{key}.secret_hash: must be sha256:<64 hex digits>"));
                    None
                }
                // The hash of a word anyone can try (sha256 of "test" is in
                // every tutorial): the hash hides nothing.
                Some(d) if crate::util::secret::guessable_hash(&d) => {
                    problems.push(format!(
                        "{key}.secret_hash: is the hash of a published or guessable secret, not a secret: `idp-bridge hash-secret --generate` makes a random one"
                    ));
                    None
                }
                Some(d) => Some(d),
            }
        }
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{key}: give one of secret or secret_hash, not both"
            ));
            None
        }
        (None, None) => {
            if wants_secret {
                problems.push(format!(
                    "{key}: a client_secret_* method needs secret or secret_hash"
                ));
            }
            None
        }
    }
}

/// Whether a browser may be sent to `u`: https, or http on loopback.
fn web_address(u: &url::Url) -> bool {
    u.scheme() == "https" || (u.scheme() == "http" && is_loopback(u))
}

/// Ids are compared exactly, but two that differ only by case (`Auth0`,
/// `auth0`) are one client to a person reading a log or a dashboard: each
/// later one is a problem.
pub(super) fn ids_differing_only_by_case(clients: &[ClientConfig]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut folded: std::collections::BTreeMap<String, &ClientConfig> =
        std::collections::BTreeMap::new();
    for (i, c) in clients.iter().enumerate() {
        let id = c.id.as_str();
        match folded.get(&id.to_ascii_lowercase()) {
            Some(other) if other.id.as_str() != id => problems.push(format!(
                "clients[{i}].id: `{id}` differs from `{}` only by case",
                other.id
            )),
            Some(_) => {}
            None => {
                folded.insert(id.to_ascii_lowercase(), c);
            }
        }
    }
    problems
}

pub(super) fn validate_client(c: &ClientConfig, i: usize) -> Result<Client, Vec<String>> {
    let key = format!("clients[{i}]");
    let mut problems = Vec::new();
    let wants_secret = c
        .token_endpoint_auth_methods
        .iter()
        .any(|m| m.starts_with("client_secret_"));
    let wants_keys = c
        .token_endpoint_auth_methods
        .iter()
        .any(|m| m == "private_key_jwt");
    let secret_sha256 = client_secret(c, &key, wants_secret, &mut problems);
    let keys = match assertion_keys(c) {
        Ok(k) => k,
        Err(e) => {
            problems.push(format!("{key}.{e}"));
            Vec::new()
        }
    };
    if wants_keys && keys.is_empty() && c.jwks.is_none() && c.public_key_pem.is_none() {
        problems.push(format!(
            "{key}: private_key_jwt needs jwks or public_key_pem"
        ));
    }
    if c.redirect_uris.is_empty() {
        problems.push(format!("{key}.redirect_uris: at least one is required"));
    }
    // Both lists: a browser is sent there, so https (http only on
    // loopback); never `javascript:`, `data:` or another scheme on a
    // loopback host (`javascript://localhost/%0a…`).
    for (list, uris) in [
        ("redirect_uris", &c.redirect_uris),
        ("post_logout_redirect_uris", &c.post_logout_redirect_uris),
    ] {
        for (j, uri) in uris.iter().enumerate() {
            if !uri.to_url().is_some_and(|u| web_address(&u)) {
                problems.push(format!(
                    "{key}.{list}[{j}]: must be https (http only on loopback)"
                ));
            }
        }
    }
    let r = &c.refresh_tokens;
    if !(0..=60).contains(&r.reuse_grace_seconds) {
        problems.push(format!(
            "{key}.refresh_tokens.reuse_grace_seconds: must be between 0 and 60"
        ));
    }
    if r.absolute_lifetime_seconds < 60 || r.idle_lifetime_seconds < 60 {
        problems.push(format!(
            "{key}.refresh_tokens: lifetimes must be at least 60 seconds"
        ));
    }
    let mut auth_methods = Vec::new();
    for m in &c.token_endpoint_auth_methods {
        match AuthMethod::parse(m) {
            Some(method) => auth_methods.push(method),
            None => problems.push(format!(
                "{key}.token_endpoint_auth_methods: `{m}` is not supported"
            )),
        }
    }
    let id_token_alg = SigningAlg::parse(&c.id_token_signed_response_alg).unwrap_or_else(|| {
        problems.push(format!(
            "{key}.id_token_signed_response_alg: `{}` is not supported (RS256 or ES256)",
            c.id_token_signed_response_alg
        ));
        SigningAlg::RS256
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Client {
        id: c.id.clone(),
        secret_sha256,
        assertion_keys: keys,
        redirect_uris: c.redirect_uris.clone(),
        scopes: c.scopes.clone(),
        require_pkce: c.require_pkce,
        auth_methods,
        refresh: c.refresh_tokens.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        id_token_alg,
        exchange: c.token_exchange.clone(),
        validate_legacy_tokens: c.validate_legacy_tokens,
    })
}
