//! Whether a legacy token is live and whose it is, for `POST
//! /legacy/introspect` (the Auth0 Custom Token Exchange Action asks it):
//! through the LT1 codec and `[legacy_token]`'s keys, or by asking the
//! legacy IdP (`remote`, its answers kept briefly in `cache`).
//!
//! Then the bridge's own word on top of the legacy IdP's: a token the
//! bridge revoked (a grant holding it was revoked: logout, `/revoke`, a
//! replayed code) is not live, and neither is any token of a user revoked
//! as a whole (`revoked_users`) that was issued before the revocation (or,
//! for a token that says nothing of when it was issued, unless the user
//! has signed in through the bridge since): "this user, everywhere, now"
//! holds even where the legacy IdP would still honour the token. Those
//! checks read the store on every call, after the cache, so a cached
//! answer is never served past a revocation.
//!
//! It decides nothing about who may ask (the endpoint has) and never logs
//! or keeps a token: the cache is keyed by its SHA-256.

pub mod cache;
pub mod remote;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::domain::config::{LegacyValidation, Remote};
use crate::domain::store::{Store, StoreError};
use crate::domain::upstream::fetch::Fetcher;
use crate::util::clock::now_unix;
use crate::util::crypto::sha256;
use crate::util::legacy_token::{Lt1Error, Lt1Keys};

/// The largest answer read from the legacy IdP.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A live token's facts.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// The legacy user id.
    pub sub: String,
    /// Expiry, unix seconds, when known.
    pub exp: Option<i64>,
    /// Issued at, unix seconds, when known.
    pub iat: Option<i64>,
    /// The token's scopes, when it says.
    pub scope: Option<String>,
    /// The configured claims the token carries.
    pub claims: Vec<(String, Value)>,
}

/// The answer about one token.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Live, and whose.
    Active(Live),
    /// Not live; why, as a fixed class for the audit line.
    Inactive(&'static str),
}

/// Why no answer could be had now (the legacy IdP or the store).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

impl From<StoreError> for Unavailable {
    fn from(e: StoreError) -> Self {
        Self(format!("the store: {e}"))
    }
}

/// Validates legacy tokens.
pub struct LegacyValidator {
    config: LegacyValidation,
    lt1: Option<Lt1Keys>,
    fetcher: Option<Fetcher>,
    cache: cache::AnswerCache,
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for LegacyValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyValidator")
            .field("source", &self.config.source)
            .field("cached", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl LegacyValidator {
    /// A validator over `[legacy_validation]`, the LT1 keys and the store.
    pub fn new(
        config: LegacyValidation,
        lt1: Option<Lt1Keys>,
        store: Arc<dyn Store>,
    ) -> Result<Self, String> {
        let fetcher = match config.source {
            Remote::Lt1 => None,
            _ => Some(Fetcher::new(
                config.timeout,
                config.timeout.min(Duration::from_secs(2)),
                MAX_ANSWER_BYTES,
            )?),
        };
        Ok(Self {
            cache: cache::AnswerCache::new(config.cache_entries),
            config,
            lt1,
            fetcher,
            store,
        })
    }

    /// How many answers the cache holds (approximately).
    pub fn cached(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Whether `token` is live and whose it is.
    pub async fn check(&self, token: &str) -> Result<Verdict, Unavailable> {
        // No legacy token is empty, huge or holds a control character: such
        // input is never sent anywhere (a newline could not even be a header).
        if token.is_empty()
            || token.len() > self.config.max_token_length
            || token.chars().any(char::is_control)
        {
            return Ok(Verdict::Inactive("malformed"));
        }
        let now = now_unix();
        let verdict = match &self.config.source {
            Remote::Lt1 => self.lt1_verdict(token, now),
            _ => self.remote_verdict(token, now).await?,
        };
        let Verdict::Active(live) = verdict else {
            return Ok(verdict);
        };
        if live.exp.is_some_and(|exp| exp < now) {
            return Ok(Verdict::Inactive("expired"));
        }
        self.bridge_verdict(token, live).await
    }

    fn lt1_verdict(&self, token: &str, now: i64) -> Verdict {
        let Some(keys) = &self.lt1 else {
            return Verdict::Inactive("no_keys");
        };
        match keys.validate(token, now) {
            Ok(claims) => {
                let wanted = |name: &str| self.config.claims.iter().any(|c| c == name);
                Verdict::Active(Live {
                    claims: claims
                        .attributes
                        .iter()
                        .filter(|(name, _)| wanted(name))
                        .map(|(name, value)| (name.clone(), lt1_value(name, value)))
                        .collect(),
                    sub: claims.sub,
                    exp: Some(claims.exp),
                    iat: Some(claims.iat),
                    scope: claims.scope,
                })
            }
            Err(e) => Verdict::Inactive(lt1_class(&e)),
        }
    }

    async fn remote_verdict(&self, token: &str, now: i64) -> Result<Verdict, Unavailable> {
        let fetcher = self
            .fetcher
            .as_ref()
            .ok_or_else(|| Unavailable("no HTTP client".into()))?;
        let ask = async {
            let verdict = remote::ask(
                fetcher,
                &self.config.source,
                &self.config.subject_field,
                &self.config.claims,
                token,
            )
            .await
            .map_err(Unavailable)?;
            let ttl = match &verdict {
                Verdict::Active(live) => {
                    let left = live.exp.map_or(u64::MAX, |exp| {
                        u64::try_from(exp.saturating_sub(now)).unwrap_or(0)
                    });
                    self.config.cache_ttl.min(Duration::from_secs(left))
                }
                Verdict::Inactive(_) => self.config.negative_ttl,
            };
            Ok((verdict, ttl))
        };
        self.cache.get_or_ask(sha256(token.as_bytes()), ask).await
    }

    /// The bridge's revocations over a live answer.
    async fn bridge_verdict(&self, token: &str, live: Live) -> Result<Verdict, Unavailable> {
        let held = self
            .store
            .grants_by_token_hash(&crate::domain::sealed_grant::token_hash(token))
            .await?;
        if held.iter().any(|g| g.revoked) {
            return Ok(Verdict::Inactive("token_revoked"));
        }
        if let Some(revoked_at) = self.store.user_revoked_at(&live.sub).await? {
            let issued = match live.iat {
                Some(iat) => Some(iat),
                None => self
                    .store
                    .newest_grant(&live.sub)
                    .await?
                    .map(|g| g.created_at),
            };
            if issued.is_none_or(|at| at <= revoked_at) {
                return Ok(Verdict::Inactive("user_revoked"));
            }
        }
        Ok(Verdict::Active(live))
    }
}

/// An LT1 attribute as JSON: `email_verified` is a boolean when it reads
/// as one (LT1 carries only text).
fn lt1_value(name: &str, value: &str) -> Value {
    match (name, value) {
        ("email_verified", "true") => Value::Bool(true),
        ("email_verified", "false") => Value::Bool(false),
        _ => Value::String(value.to_owned()),
    }
}

/// A fixed class for each way an LT1 token fails.
fn lt1_class(e: &Lt1Error) -> &'static str {
    match e {
        Lt1Error::Expired => "expired",
        Lt1Error::IssuedInFuture => "issued_in_future",
        Lt1Error::UnknownKid => "unknown_kid",
        Lt1Error::BadTag => "bad_tag",
        _ => "malformed",
    }
}
