//! `[token_exchange]` (RFC 8693): which Auth0 tenants' access tokens the
//! bridge accepts, how an Auth0 user maps to a legacy subject, and whether
//! legacy tokens may be minted for users without a live grant; and a
//! client's `token_exchange`: the Auth0 audiences and scopes it may present.

use serde::Deserialize;

use crate::util::net::is_loopback;

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
    /// Whether Auth0 database users (`auth0|ID`) are users migrated through
    /// the bridge's custom database scripts (`[migration]`), whose `ID` is
    /// the legacy subject. Auth0's `sub` for a database user does not name
    /// its connection, so set this only when no other database connection
    /// of the tenant has users who may exchange (docs/migration.md).
    #[serde(default)]
    pub migrated_users: bool,
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

/// The longest claims template (`scope` and `claims`, form-encoded), so a
/// minted token stays far below LT1's 8192 characters whatever the subject.
pub const MAX_MINT_TEMPLATE_LEN: usize = 4096;

/// Minting's rules: one way to mint, through an adapter that can, and a
/// claims template that can never put a claim in a token twice.
fn check_minting(config: &TokenExchangeConfig, adapter_mints: bool, problems: &mut Vec<String>) {
    if config.mint_upstream && config.mint_lt1.is_some() {
        // Ask-then-mint would hand an LT1 token to a user the legacy IdP
        // has just said it does not know or has locked: choose one.
        problems.push(
            "token_exchange: mint_upstream and [token_exchange.mint_lt1] are exclusive: mint_upstream asks the legacy IdP (a user it refuses gets nothing), mint_lt1 mints without it (to retire it)"
                .into(),
        );
    }
    if config.mint_upstream && !adapter_mints {
        problems.push(
            "token_exchange.mint_upstream: the adapter cannot mint: use the command adapter (its `mint` action) or add an [upstream.http.mint] section"
                .into(),
        );
    }
    let Some(mint) = &config.mint_lt1 else {
        return;
    };
    let mut template = form_urlencoded::Serializer::new(String::new());
    for (name, value) in &mint.claims {
        if name.is_empty() {
            problems.push("token_exchange.mint_lt1.claims: a claim name is empty".into());
        } else if crate::util::legacy_token::RESERVED_CLAIMS.contains(&name.as_str()) {
            problems.push(format!(
                "token_exchange.mint_lt1.claims.{name}: reserved: LT1 writes sub, iat, exp and scope itself (scope is mint_lt1.scope)"
            ));
        }
        template.append_pair(name, value);
    }
    if let Some(scope) = &mint.scope {
        template.append_pair("scope", scope);
    }
    if template.finish().len() > MAX_MINT_TEMPLATE_LEN {
        problems.push(format!(
            "token_exchange.mint_lt1: scope and claims come to more than {MAX_MINT_TEMPLATE_LEN} characters encoded"
        ));
    }
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
    /// Whether `auth0|ID` users are migrated users with legacy subject `ID`.
    pub migrated_users: bool,
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
    /// can mint, `adapter_mints` whether the legacy IdP's adapter can
    /// (`command`, or `http` with `[upstream.http.mint]`).
    pub fn validate(
        &self,
        has_mint_key: bool,
        adapter_mints: bool,
    ) -> Result<TokenExchange, Vec<String>> {
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
        if self.connections.is_empty() && self.subject_claim.is_none() && !self.migrated_users {
            problems.push(
                "token_exchange: name the Auth0 `connections`, a `subject_claim` or `migrated_users = true` that carry the legacy subject"
                    .into(),
            );
        }
        check_minting(self, adapter_mints, &mut problems);
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
            migrated_users: self.migrated_users,
            jwks_min_refresh: std::time::Duration::from_secs(self.jwks_min_refresh_seconds),
            jwks_timeout: std::time::Duration::from_millis(self.jwks_timeout_ms.max(100)),
            max_session_seconds: self.max_session_seconds,
            renew_skew_seconds: self.renew_skew_seconds,
            mint_upstream: self.mint_upstream,
            mint_lt1: self.mint_lt1.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(extra: &str) -> TokenExchangeConfig {
        toml::from_str(&format!(
            "issuers = [\"https://tenant.example.com/\"]\nconnections = [\"legacy\"]\n{extra}"
        ))
        .expect("section")
    }

    fn problems(extra: &str, adapter_mints: bool) -> Vec<String> {
        section(extra)
            .validate(true, adapter_mints)
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn a_claims_template_may_not_name_what_lt1_writes_itself() {
        for name in ["sub", "exp", "iat", "scope"] {
            let found = problems(
                &format!("[mint_lt1]\nclaims = {{ {name} = \"x\", realm = \"corp\" }}\n"),
                false,
            );
            assert!(
                found
                    .iter()
                    .any(|p| p.contains(&format!("claims.{name}: reserved"))),
                "{name}: {found:?}"
            );
        }
        assert!(problems("[mint_lt1]\nclaims = { \"\" = \"x\" }\n", false)[0].contains("empty"));
        assert!(problems("[mint_lt1]\nclaims = { realm = \"corp\" }\n", false).is_empty());
        let long = "x".repeat(MAX_MINT_TEMPLATE_LEN);
        assert!(problems(&format!("[mint_lt1]\nscope = \"{long}\"\n"), false)[0].contains("4096"));
    }

    #[test]
    fn mint_upstream_needs_an_adapter_that_mints_and_excludes_mint_lt1() {
        let found = problems("mint_upstream = true\n", false);
        assert!(found[0].contains("[upstream.http.mint]"), "{found:?}");
        assert!(problems("mint_upstream = true\n", true).is_empty());
        let both = problems(
            "mint_upstream = true\n[mint_lt1]\nttl_seconds = 600\n",
            true,
        );
        assert!(both[0].contains("exclusive"), "{both:?}");
    }
}
