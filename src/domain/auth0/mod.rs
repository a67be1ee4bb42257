//! Verifying Auth0 access tokens for token exchange and the gateway, and
//! mapping an Auth0 user to a legacy subject.
//!
//! A token is accepted only when, in this order: it passes the JOSE rules
//! of [`jose`] (a compact JWS of JSON objects with no member name twice,
//! no `crit` or `b64`, `alg` RS256 or PS256, `typ` `JWT` or `at+jwt`, a
//! `kid`); its `iss` is one of the configured Auth0 issuers, exactly
//! (`https://TENANT/` with the slash); its `kid` is in that tenant's JWKS —
//! fetched on first use and fetched again, at most once per
//! `jwks_min_refresh_seconds`, when an unknown `kid` appears, so a key
//! rotation at Auth0 needs no restart — and that key may verify its `alg`
//! ([`key_allows`]); the signature verifies; `exp` and `nbf` hold with 60 s
//! of leeway; and it is a user's token, not a machine-to-machine one (`gty`
//! of `client-credentials` in any case, a `sub` ending in `@clients`, a
//! `sub` equal to `azp` or `client_id`), nor an ID token. Audiences and
//! the `scope` claim are the caller's policy, checked against it by
//! [`caller`] (one check for token exchange and the gateway); `permissions`
//! is not a scope (see [`Auth0Token::scopes`]). The JWKS is read through
//! the bounded HTTP client of `upstream::fetch` (no redirects, timeouts,
//! a size cap enforced while the answer streams in).
//!
//! Token exchange asks through [`Auth0Verifier::verify_cached`]: a token that
//! verified is kept, by its SHA-256, with what a caller check reads (its
//! legacy subject, audiences, scopes, `exp`) until its `exp` and the same
//! leeway, so an app presenting the token it holds again costs one hash
//! and one map read instead of an RS256 verification and two strict JSON
//! parses. Nothing that changes while a token lives decides its
//! verification but the tenant's keys: when a JWKS fetch drops or changes
//! a key, every kept token is forgotten (a verification that raced the
//! fetch is not kept). Refusals are never kept.

pub mod caller;
mod jose;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::domain::config::TokenExchange;
use crate::domain::types::Subject;
use crate::domain::upstream::fetch::Fetcher;
use crate::util::clock::now_unix;
use crate::util::crypto::sha256;

/// Leeway on `exp` and `nbf`, seconds (clock skew with Auth0).
const LEEWAY: i64 = 60;
/// The most verified tokens kept ([`Auth0Verifier::verify_cached`]): a few
/// hundred bytes each.
const VERIFIED_MAX_ENTRIES: usize = 16_384;

/// Why an Auth0 token was refused; the variants follow the checks' order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Auth0Error {
    /// Not a JWT, or a claim is missing or of the wrong type.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// A member name twice in the header or the claims set.
    #[error("malformed token: {0}")]
    Duplicate(&'static str),
    /// An extension header parameter the bridge does not understand.
    #[error("extension not understood: {0}")]
    Extension(&'static str),
    /// An algorithm other than RS256 or PS256, or one its key does not allow.
    #[error("algorithm not accepted")]
    Algorithm,
    /// No `typ`, or one other than `JWT` or `at+jwt`.
    #[error("token type not accepted")]
    Type,
    /// An issuer that is not configured.
    #[error("issuer not accepted")]
    Issuer,
    /// A `kid` the tenant's JWKS does not have.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("signature does not verify")]
    Signature,
    /// Past `exp` (with leeway).
    #[error("expired")]
    Expired,
    /// Before `nbf` (with leeway).
    #[error("not yet valid")]
    NotYetValid,
    /// A machine-to-machine token, by the marker named.
    #[error("machine-to-machine token ({0})")]
    MachineToMachine(&'static str),
    /// The tenant's JWKS could not be fetched.
    #[error("the Auth0 JWKS is unavailable: {0}")]
    JwksUnavailable(String),
}

impl Auth0Error {
    /// A fixed class for metrics and audit labels.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Duplicate(_) => "duplicate_member",
            Self::Extension(_) => "extension",
            Self::Algorithm => "algorithm",
            Self::Type => "type",
            Self::Issuer => "issuer",
            Self::UnknownKey => "unknown_key",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::MachineToMachine(_) => "machine_to_machine",
            Self::JwksUnavailable(_) => "jwks_unavailable",
        }
    }
}

/// A verified Auth0 access token.
#[derive(Debug, Clone)]
pub struct Auth0Token {
    /// The Auth0 user id.
    pub sub: String,
    /// `aud`, as a list.
    pub audiences: Vec<String>,
    /// `scope`, split at spaces. Never `permissions`: Auth0 lists there
    /// every permission assigned to the user, whether or not the
    /// application asked for it, while `scope` holds what the application
    /// asked for and the user may have (Auth0, "Enable Role-Based Access
    /// Control for APIs"); a policy is about what this token was issued for.
    pub scopes: Vec<String>,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Every claim.
    pub claims: Value,
}

/// What a verified token stands for, as [`Auth0Verifier::verify_cached`]
/// keeps it: everything the caller check reads, and no other claim.
#[derive(Debug)]
pub struct VerifiedToken {
    /// The legacy subject ([`Auth0Verifier::legacy_subject`]), `None` when
    /// the user maps to none.
    pub legacy_subject: Option<Subject>,
    /// `aud`, as a list.
    pub audiences: Vec<String>,
    /// `scope`, split at spaces (never `permissions`).
    pub scopes: Vec<String>,
    /// Expiry, unix seconds.
    pub exp: i64,
}

impl VerifiedToken {
    /// Whether the token is still within `exp` and the leeway at `now`
    /// (the rule `verify` applies).
    fn live_at(&self, now: i64) -> bool {
        now <= self.exp.saturating_add(LEEWAY)
    }
}

/// Verified tokens by SHA-256: a map read under a shared lock. At most
/// [`VERIFIED_MAX_ENTRIES`]: when full, the expired go, and if that is not
/// enough, all of them (a verification is only ever redone, never wrong).
/// No LRU: a hit takes a read lock and nothing else.
#[derive(Default)]
struct Kept(RwLock<HashMap<[u8; 32], Arc<VerifiedToken>>>);

impl Kept {
    fn get(&self, key: &[u8; 32]) -> Option<Arc<VerifiedToken>> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn insert(&self, key: [u8; 32], value: Arc<VerifiedToken>) {
        let mut entries = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= VERIFIED_MAX_ENTRIES {
            let now = now_unix();
            entries.retain(|_, v| v.live_at(now));
            if entries.len() >= VERIFIED_MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, value);
    }

    fn remove(&self, key: &[u8; 32]) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }

    fn clear(&self) {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// A tenant's keys by `kid`.
type Keys = HashMap<String, TenantKey>;

/// One key of a tenant's JWKS.
struct TenantKey {
    /// The algorithm the JWKS names for it, if any.
    alg: Option<Algorithm>,
    key: DecodingKey,
    /// The RSA modulus and exponent as published, to tell a changed key.
    material: (String, String),
}

/// One tenant (an accepted issuer) and its cached keys.
struct Tenant {
    issuer: String,
    jwks_uri: String,
    keys: RwLock<Keys>,
    /// When the JWKS was last fetched; also serializes fetches.
    fetched: tokio::sync::Mutex<Option<Instant>>,
}

/// Verifies Auth0 access tokens against the configured tenants.
pub struct Auth0Verifier {
    tenants: Vec<Tenant>,
    connections: Vec<String>,
    subject_claim: Option<String>,
    migrated_users: bool,
    min_refresh: Duration,
    http: Fetcher,
    /// Verified tokens by SHA-256 ([`Self::verify_cached`]).
    verified: Kept,
    /// Bumped whenever a JWKS fetch drops or changes a key, so a
    /// verification that started before is not kept.
    keys_changed: AtomicU64,
}

impl std::fmt::Debug for Auth0Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth0Verifier")
            .field(
                "issuers",
                &self.tenants.iter().map(|t| &t.issuer).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Largest JWKS document read (Auth0's is about 3 KiB).
const MAX_JWKS_BYTES: usize = 256 * 1024;

impl Auth0Verifier {
    /// A verifier for the configured tenants.
    pub fn new(config: &TokenExchange) -> Result<Self, String> {
        // The one bounded HTTP client (`upstream::fetch`): no redirects,
        // timeouts, and a JWKS larger than the cap is never read whole.
        let http = Fetcher::new(config.jwks_timeout, config.jwks_timeout, MAX_JWKS_BYTES)
            .map_err(|e| format!("cannot build the JWKS client: {e}"))?;
        Ok(Self {
            tenants: config
                .issuers
                .iter()
                .map(|issuer| Tenant {
                    issuer: issuer.clone(),
                    jwks_uri: format!("{issuer}.well-known/jwks.json"),
                    keys: RwLock::new(HashMap::new()),
                    fetched: tokio::sync::Mutex::new(None),
                })
                .collect(),
            connections: config.connections.clone(),
            subject_claim: config.subject_claim.clone(),
            migrated_users: config.migrated_users,
            min_refresh: config.jwks_min_refresh,
            http,
            verified: Kept::default(),
            keys_changed: AtomicU64::new(0),
        })
    }

    /// [`Self::verify`], kept until the token's `exp` (see the module doc):
    /// what the caller check reads.
    pub async fn verify_cached(&self, token: &str) -> Result<Arc<VerifiedToken>, Auth0Error> {
        let key = sha256(token.as_bytes());
        if let Some(kept) = self.verified.get(&key) {
            if kept.live_at(now_unix()) {
                return Ok(kept);
            }
            self.verified.remove(&key);
            return Err(Auth0Error::Expired);
        }
        let keys_seen = self.keys_changed.load(Ordering::Acquire);
        let verified = self.verify(token).await?;
        let kept = Arc::new(VerifiedToken {
            legacy_subject: self.legacy_subject(&verified),
            audiences: verified.audiences,
            scopes: verified.scopes,
            exp: verified.exp,
        });
        if self.keys_changed.load(Ordering::Acquire) == keys_seen {
            self.verified.insert(key, kept.clone());
        }
        Ok(kept)
    }

    /// Verifies `token` (see the module doc for the checks).
    pub async fn verify(&self, token: &str) -> Result<Auth0Token, Auth0Error> {
        let jose::Unverified { alg, kid, claims } = jose::parse(token).map_err(|e| match e {
            jose::JoseError::Malformed(what) => Auth0Error::Malformed(what),
            jose::JoseError::Duplicate(what) => Auth0Error::Duplicate(what),
            jose::JoseError::Extension(what) => Auth0Error::Extension(what),
            jose::JoseError::Algorithm => Auth0Error::Algorithm,
            jose::JoseError::Type => Auth0Error::Type,
        })?;
        // Read before the signature only to pick the tenant whose keys
        // must verify it.
        let issuer = claims["iss"]
            .as_str()
            .ok_or(Auth0Error::Malformed("no iss"))?;
        let tenant = self
            .tenants
            .iter()
            .find(|t| t.issuer == issuer)
            .ok_or(Auth0Error::Issuer)?;
        let (key_alg, key) = self.key(tenant, &kid).await?;
        if !key_allows(key_alg, alg) {
            return Err(Auth0Error::Algorithm);
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&tenant.issuer]);
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY.unsigned_abs();
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        // The signature, `exp`, `nbf` and `iss`; the claims themselves are
        // the strict parse's, which refused what a lenient parse could read
        // otherwise.
        jsonwebtoken::decode::<serde::de::IgnoredAny>(token, &key, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => Auth0Error::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => Auth0Error::NotYetValid,
                jsonwebtoken::errors::ErrorKind::InvalidSignature => Auth0Error::Signature,
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => Auth0Error::Issuer,
                _ => Auth0Error::Malformed("claims"),
            },
        )?;
        let sub = claims["sub"]
            .as_str()
            .ok_or(Auth0Error::Malformed("sub"))?
            .to_owned();
        machine_markers(&claims, &sub)?;
        if claims.get("nonce").is_some() || claims.get("at_hash").is_some() {
            // An ID token (typ JWT too): never an access token to exchange.
            return Err(Auth0Error::Malformed("an ID token, not an access token"));
        }
        Ok(Auth0Token {
            audiences: strings(&claims["aud"]),
            scopes: claims["scope"]
                .as_str()
                .unwrap_or("")
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            exp: claims["exp"].as_i64().unwrap_or(0),
            sub,
            claims,
        })
    }

    /// The legacy subject of a verified token: the configured claim, else
    /// the user id mapped by [`subject_from_user_id`].
    pub fn legacy_subject(&self, token: &Auth0Token) -> Option<Subject> {
        if let Some(claim) = &self.subject_claim {
            match &token.claims[claim] {
                Value::Null => {}
                // An empty one is refused by `Subject::new`.
                Value::String(s) => return Subject::new(s.as_str()).ok(),
                // Integers only: a float or a rounded large number would
                // name another user.
                Value::Number(n) if n.is_u64() || n.is_i64() => {
                    return Subject::new(n.to_string()).ok();
                }
                // Present but unusable: refused, never a fallback.
                _ => return None,
            }
        }
        subject_from_user_id(&token.sub, &self.connections, self.migrated_users)
    }

    /// The tenant's key `kid`, fetching the JWKS on first use, or again
    /// for an unknown `kid` once the least refresh interval has passed.
    async fn key(
        &self,
        tenant: &Tenant,
        kid: &str,
    ) -> Result<(Option<Algorithm>, DecodingKey), Auth0Error> {
        if let Some(found) = cached(tenant, kid) {
            return Ok(found);
        }
        let mut fetched = tenant.fetched.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(found) = cached(tenant, kid) {
            return Ok(found);
        }
        if fetched.is_some_and(|at| at.elapsed() < self.min_refresh) {
            return Err(Auth0Error::UnknownKey);
        }
        // The attempt counts, success or not: a failing JWKS endpoint is
        // asked at most once per interval, not once per forged token.
        *fetched = Some(Instant::now());
        let keys = self.fetch(tenant).await?;
        tracing::info!(issuer = %tenant.issuer, keys = keys.len(), "Auth0 JWKS fetched");
        let dropped = {
            let mut current = tenant
                .keys
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let dropped = keys_dropped(&current, &keys);
            *current = keys;
            dropped
        };
        if dropped {
            // A token verified by a key that is gone, or changed, must not
            // be accepted from memory either.
            self.keys_changed.fetch_add(1, Ordering::AcqRel);
            self.verified.clear();
        }
        cached(tenant, kid).ok_or(Auth0Error::UnknownKey)
    }

    async fn fetch(&self, tenant: &Tenant) -> Result<Keys, Auth0Error> {
        let unavailable = |why: String| Auth0Error::JwksUnavailable(why);
        let request = self
            .http
            .client()
            .get(&tenant.jwks_uri)
            .build()
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        // Read through the cap: a larger answer fails as it streams in.
        let answer = self
            .http
            .send(request)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !answer.status.is_success() {
            return Err(unavailable(format!("status {}", answer.status)));
        }
        let set: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| unavailable(format!("not JSON: {e}")))?;
        let keys = set["keys"]
            .as_array()
            .ok_or_else(|| unavailable("no `keys` array".into()))?;
        // Each key on its own: one of a kind this crate cannot read (an
        // encryption key, another curve) must not hide the others.
        let keys: Vec<Jwk> = keys
            .iter()
            .filter(|k| k["use"].is_null() || k["use"] == "sig")
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        Ok(keys
            .iter()
            .filter_map(|k| {
                let AlgorithmParameters::RSA(rsa) = &k.algorithm else {
                    return None;
                };
                let kid = k.common.key_id.clone()?;
                let alg = match k.common.key_algorithm {
                    Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
                    Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
                    None => None,
                    // A key meant for another algorithm verifies nothing here.
                    Some(_) => return None,
                };
                let key = TenantKey {
                    alg,
                    key: DecodingKey::from_jwk(k).ok()?,
                    material: (rsa.n.clone(), rsa.e.clone()),
                };
                Some((kid, key))
            })
            .collect())
    }
}

/// The legacy subject inside an Auth0 user id: `ID` of `oauth2|CONN|ID` or
/// `oidc|CONN|ID` for a configured connection `CONN`; with
/// `migrated_users`, `ID` of `auth0|ID` too — a user the bridge's migration
/// endpoint answered for, whose `user_id` Auth0 prefixes with `auth0|`
/// (Auth0's `sub` for a database user carries no connection name, so the
/// setting says every database user of the tenant is a migrated one).
pub fn subject_from_user_id(
    user_id: &str,
    connections: &[String],
    migrated_users: bool,
) -> Option<Subject> {
    if let Some(id) = user_id.strip_prefix("auth0|") {
        return migrated_users.then(|| Subject::new(id).ok()).flatten();
    }
    let mut parts = user_id.splitn(3, '|');
    let (strategy, connection, id) = (parts.next()?, parts.next()?, parts.next()?);
    (matches!(strategy, "oauth2" | "oidc") && connections.iter().any(|c| c == connection))
        .then(|| Subject::new(id).ok())
        .flatten()
}

/// Whether a key of `old` is not in `new` as it was.
fn keys_dropped(old: &Keys, new: &Keys) -> bool {
    old.iter().any(|(kid, was)| {
        new.get(kid)
            .is_none_or(|k| k.alg != was.alg || k.material != was.material)
    })
}

fn cached(tenant: &Tenant, kid: &str) -> Option<(Option<Algorithm>, DecodingKey)> {
    tenant
        .keys
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(kid)
        .map(|k| (k.alg, k.key.clone()))
}

/// Whether a key the tenant's JWKS publishes with `key_alg` verifies a
/// token signed with `alg` (RS256 or PS256, [`jose`] allows no other).
///
/// RFC 7517 §4.4 makes a JWK's `alg` the algorithm *intended* for the key,
/// and optional. Auth0 publishes its tenant key with `"alg": "RS256"`
/// (Auth0, "JSON Web Key Set Properties"), signs every token of the tenant
/// with that one key (Auth0, "JSON Web Key Sets": one signing key at a
/// time), and signs with PS256 the tokens of an API set to PS256, verified
/// with the public key from the same metadata (Auth0, "Signing
/// Algorithms"). Reading `RS256` as "RS256 only" would refuse every PS256
/// token Auth0 issues, so a key named RS256, or not named, verifies both
/// RSA signature schemes of the same key; a key named PS256 verifies PS256
/// only, never the older padding its publisher ruled out. A key named for
/// any other algorithm is not kept at all (see `fetch`).
fn key_allows(key_alg: Option<Algorithm>, alg: Algorithm) -> bool {
    match key_alg {
        None | Some(Algorithm::RS256) => matches!(alg, Algorithm::RS256 | Algorithm::PS256),
        Some(key_alg) => key_alg == alg,
    }
}

/// Auth0's machine-to-machine markers (client-credentials grants).
fn machine_markers(claims: &Value, sub: &str) -> Result<(), Auth0Error> {
    // Auth0 writes `client-credentials`; case is no way around the check,
    // and a `gty` that is neither a string nor a list of strings is not
    // Auth0's.
    let gty = match &claims["gty"] {
        Value::Null => Vec::new(),
        Value::String(g) => vec![g.as_str()],
        Value::Array(items) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .ok_or(Auth0Error::Malformed("gty"))?,
        _ => return Err(Auth0Error::Malformed("gty")),
    };
    if gty
        .iter()
        .any(|g| g.eq_ignore_ascii_case("client-credentials"))
    {
        return Err(Auth0Error::MachineToMachine("gty"));
    }
    if sub.ends_with("@clients") {
        return Err(Auth0Error::MachineToMachine("sub@clients"));
    }
    if [&claims["azp"], &claims["client_id"]]
        .iter()
        .any(|c| c.as_str() == Some(sub))
    {
        return Err(Auth0Error::MachineToMachine("sub is the client"));
    }
    Ok(())
}

/// A claim that is a string or an array of strings, as a list.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_key_named_rs256_or_unnamed_verifies_both_rsa_schemes_and_ps256_only_itself() {
        use Algorithm::{PS256, RS256};
        for key_alg in [None, Some(RS256)] {
            assert!(key_allows(key_alg, RS256) && key_allows(key_alg, PS256));
        }
        assert!(key_allows(Some(PS256), PS256));
        assert!(
            !key_allows(Some(PS256), RS256),
            "no downgrade of the padding"
        );
    }

    #[test]
    fn gty_is_read_without_case_and_must_be_strings() {
        let gty = |v: Value| machine_markers(&json!({ "gty": v }), "auth0|u");
        for m2m in [
            json!("client-credentials"),
            json!("Client-Credentials"),
            json!(["password", "CLIENT-CREDENTIALS"]),
        ] {
            assert_eq!(gty(m2m), Err(Auth0Error::MachineToMachine("gty")));
        }
        for bad in [json!(1), json!({}), json!([true]), json!(false)] {
            assert_eq!(gty(bad), Err(Auth0Error::Malformed("gty")));
        }
        for user in [
            json!("password"),
            json!("refresh_token"),
            Value::Null,
            json!([]),
        ] {
            assert_eq!(gty(user), Ok(()));
        }
    }

    #[test]
    fn migrated_database_users_map_only_when_configured() {
        let connections = ["legacy".to_owned()];
        let map =
            |id: &str, migrated| subject_from_user_id(id, &connections, migrated).map(String::from);
        assert_eq!(map("oidc|legacy|alice", false).as_deref(), Some("alice"));
        assert_eq!(map("oauth2|legacy|a|b", false).as_deref(), Some("a|b"));
        assert_eq!(map("oidc|other|alice", true), None);
        assert_eq!(map("auth0|alice", false), None);
        assert_eq!(map("auth0|alice", true).as_deref(), Some("alice"));
        // The id keeps its own bars: a legacy subject may have them.
        assert_eq!(map("auth0|uid=a|b", true).as_deref(), Some("uid=a|b"));
        assert_eq!(map("auth0|", true), None);
        assert_eq!(map("google-oauth2|123", true), None);
        assert_eq!(map("", true), None);
    }
}
