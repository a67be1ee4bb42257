//! `[token_exchange]` (RFC 8693): which Auth0 tenants' access tokens the
//! bridge accepts, how an Auth0 user maps to a legacy subject, and whether
//! legacy tokens may be minted for users without a live grant; and a
//! client's `token_exchange`: the Auth0 audiences and scopes it may present.

use serde::Deserialize;

use crate::net::is_loopback;

/// `[token_exchange]` as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenExchangeConfig {
    /// Auth0 issuers, exactly as their tokens' `iss`: `https://TENANT/` with
    /// the trailing slash (the tenant domain and any custom domain).
    pub issuers: Vec<String>,
    /// Auth0 connection names whose user ids (`oauth2|NAME|ID`,
    /// `oidc|NAME|ID`) carry the legacy subject.
    #[serde(default)]
    pub connections: Vec<String>,
    /// A namespaced claim that carries the legacy subject (set by an Auth0
    /// Action), for linked accounts and other connections.
    pub subject_claim: Option<String>,
    /// The least time between two fetches of a tenant's JWKS caused by an
    /// unknown `kid` (default 30).
    #[serde(default = "default_jwks_min_refresh")]
    pub jwks_min_refresh_seconds: u64,
    /// How long after a sign-in its legacy token may still be renewed for
    /// exchanges (default 43200, 12 hours): a login nobody uses any more
    /// is not kept alive by exchanges for ever.
    #[serde(default = "default_max_session")]
    pub max_session_seconds: i64,
    /// A legacy token with less left than this is renewed before it is
    /// handed out, when it can be (default 10).
    #[serde(default = "default_renew_skew")]
    pub renew_skew_seconds: i64,
    /// Timeout of a JWKS fetch (default 5000).
    #[serde(default = "default_jwks_timeout")]
    pub jwks_timeout_ms: u64,
    /// Ask the legacy IdP's adapter for a token for a user without a live
    /// grant (the `command` adapter's `mint` action) before minting LT1.
    #[serde(default)]
    pub mint_upstream: bool,
    /// Mint an LT1 token (with `[legacy_token]`'s mint key) for a user
    /// without a live grant.
    #[serde(default)]
    pub mint_lt1: Option<MintLt1Config>,
}

/// `[token_exchange.mint_lt1]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MintLt1Config {
    /// Lifetime of a minted token (default 3600).
    #[serde(default = "default_mint_ttl")]
    pub ttl_seconds: i64,
    /// The `scope` written into minted tokens.
    pub scope: Option<String>,
    /// Further claims written into every minted token (the claims
    /// template), such as `{ aud = "orders", realm = "corp" }`.
    #[serde(default)]
    pub claims: std::collections::BTreeMap<String, String>,
}

/// A client's `token_exchange`: what it may exchange.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangePolicy {
    /// Auth0 API audiences whose access tokens it may present.
    pub audiences: Vec<String>,
    /// Scopes the Auth0 token must carry (all of them).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The legacy APIs this client may name as `audience` or `resource`
    /// (RFC 8693 §2.1); a request naming any other is `invalid_target`.
    #[serde(default)]
    pub targets: Vec<String>,
}

fn default_jwks_min_refresh() -> u64 {
    30
}
fn default_jwks_timeout() -> u64 {
    5000
}
fn default_renew_skew() -> i64 {
    10
}
fn default_max_session() -> i64 {
    43_200
}
fn default_mint_ttl() -> i64 {
    3600
}

/// `[token_exchange]` validated.
#[derive(Debug, Clone)]
pub struct TokenExchange {
    /// Accepted `iss` values, each ending in `/`.
    pub issuers: Vec<String>,
    /// Connection names.
    pub connections: Vec<String>,
    /// The claim carrying the legacy subject, if any.
    pub subject_claim: Option<String>,
    /// Least time between JWKS refetches.
    pub jwks_min_refresh: std::time::Duration,
    /// JWKS fetch timeout.
    pub jwks_timeout: std::time::Duration,
    /// How long after a sign-in its token may be renewed for exchanges.
    pub max_session_seconds: i64,
    /// Renew a token with less than this left.
    pub renew_skew_seconds: i64,
    /// Minting through the adapter, if allowed.
    pub mint_upstream: bool,
    /// LT1 minting, if allowed.
    pub mint_lt1: Option<MintLt1Config>,
}

impl TokenExchangeConfig {
    /// Validates the section; `has_mint_key` says whether `[legacy_token]`
    /// can mint.
    pub fn validate(&self, has_mint_key: bool) -> Result<TokenExchange, Vec<String>> {
        let mut problems = Vec::new();
        if self.issuers.is_empty() {
            problems.push("token_exchange.issuers: at least one Auth0 issuer is required".into());
        }
        for (i, issuer) in self.issuers.iter().enumerate() {
            let key = format!("token_exchange.issuers[{i}]");
            match url::Url::parse(issuer) {
                Ok(u) if u.scheme() != "https" && !(u.scheme() == "http" && is_loopback(&u)) => {
                    problems.push(format!(
                        "{key}: must be https (plain http only on loopback, for tests)"
                    ));
                }
                Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                    problems.push(format!("{key}: must not have a query or fragment"));
                }
                Ok(_) if !issuer.ends_with('/') => problems.push(format!(
                    "{key}: must end with `/`, exactly as Auth0's `iss` (`https://TENANT/`)"
                )),
                Ok(_) => {}
                Err(e) => problems.push(format!("{key}: not a URL ({e})")),
            }
        }
        if self.connections.is_empty() && self.subject_claim.is_none() {
            problems.push(
                "token_exchange: name the Auth0 `connections` or a `subject_claim` that carry the legacy subject"
                    .into(),
            );
        }
        if self.mint_lt1.is_some() && !has_mint_key {
            problems.push("token_exchange.mint_lt1: needs [legacy_token] keys to mint with".into());
        }
        if self
            .mint_lt1
            .as_ref()
            .is_some_and(|m| !(60..=7 * 86_400).contains(&m.ttl_seconds))
        {
            problems
                .push("token_exchange.mint_lt1.ttl_seconds: must be between 60 and 604800".into());
        }
        if self.jwks_min_refresh_seconds == 0 {
            problems.push(
                "token_exchange.jwks_min_refresh_seconds: must be at least 1 (it bounds fetches forged tokens can cause)"
                    .into(),
            );
        }
        if !(0..=300).contains(&self.renew_skew_seconds) {
            problems.push("token_exchange.renew_skew_seconds: must be between 0 and 300".into());
        }
        if self.max_session_seconds < 60 {
            problems.push("token_exchange.max_session_seconds: must be at least 60".into());
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(TokenExchange {
            issuers: self.issuers.clone(),
            connections: self.connections.clone(),
            subject_claim: self.subject_claim.clone(),
            jwks_min_refresh: std::time::Duration::from_secs(self.jwks_min_refresh_seconds),
            jwks_timeout: std::time::Duration::from_millis(self.jwks_timeout_ms.max(100)),
            max_session_seconds: self.max_session_seconds,
            renew_skew_seconds: self.renew_skew_seconds,
            mint_upstream: self.mint_upstream,
            mint_lt1: self.mint_lt1.clone(),
        })
    }
}
