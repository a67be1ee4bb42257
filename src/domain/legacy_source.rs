//! A user's legacy token, for whoever presents a verified Auth0 token on
//! the user's behalf: token exchange (`provider::exchange`) and the gateway
//! (`gateway`). One owner for "where does the user's legacy token come
//! from", so the two can never disagree.
//!
//! In order: the user's live grant (renewed upstream when its token expires
//! within the skew, once however many callers ask at the same moment on any
//! instance; the renewed tokens are stored before anything else may fail,
//! so a refresh token the legacy IdP rotated is never lost); else, unless
//! the user's newest grant was revoked or the user was revoked as a whole
//! and has not signed in since, a token minted by the adapter
//! (`mint_upstream`) or as LT1 (`mint_lt1`); else
//! [`SourceError::NoSession`]. Only a grant whose code its client redeemed,
//! not revoked, is a source: an abandoned sign-in's token reached no client,
//! and nobody could name it to revoke it.
//!
//! It decides nothing about who may ask: the caller has checked the Auth0
//! token and its own policy first.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::config::TokenExchange;
use crate::domain::metrics::Metrics;
use crate::domain::sealed_grant;
use crate::domain::store::{GrantRow, Store, StoreError};
use crate::domain::types::Subject;
use crate::domain::upstream::{LegacyIdp, Profile, UpstreamError};
use crate::util::clock::now_unix;
use crate::util::crypto::StorageKey;
use crate::util::legacy_token::{Lt1Claims, Lt1Keys};
use crate::util::secret::LegacyAccessToken;

/// How long a caller waits for a concurrent renewal of the same grant.
const WAIT_FOR_RENEWAL: Duration = Duration::from_secs(15);
/// How long a renewal claim holds (longer than any upstream timeout).
const RENEWAL_LEASE_SECONDS: i64 = 30;

/// Where a legacy token came from (an audit label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The user's live grant, as it was.
    Grant,
    /// The user's grant, renewed through the legacy IdP.
    Renewed,
    /// Minted for a user without a live grant.
    Minted,
}

impl Origin {
    /// A fixed label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Renewed => "renewed",
            Self::Minted => "minted",
        }
    }
}

/// A user's legacy token and when it expires.
#[derive(Debug, Clone)]
pub struct Sourced {
    /// The token, verbatim.
    pub token: LegacyAccessToken,
    /// Expiry, unix seconds.
    pub expires_at: i64,
    /// Where it came from.
    pub origin: Origin,
}

/// Why no legacy token could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// The user has no live grant and none may be minted (or their newest
    /// grant was revoked).
    #[error("the user has no legacy session")]
    NoSession,
    /// The legacy IdP or the store cannot answer now; try again.
    #[error("{what}: {cause}")]
    Unavailable {
        /// What could not answer, for the response.
        what: &'static str,
        /// Why, for the log.
        cause: String,
    },
    /// The user's legacy id cannot be minted for (too long, a control
    /// or bidi character, spaces at an end: `crate::util::legacy_subject`).
    #[error("the user's legacy id cannot be minted for ({})", .0.as_str())]
    UnfitSubject(crate::util::legacy_subject::Unfit),
    /// A fault of the bridge's own (a sealed value that does not open).
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for SourceError {
    fn from(e: StoreError) -> Self {
        Self::Unavailable {
            what: "the bridge's store is unavailable",
            cause: e.to_string(),
        }
    }
}

/// Finds a user's legacy token.
#[derive(Clone)]
pub struct LegacySource {
    store: Arc<dyn Store>,
    storage: StorageKey,
    upstream: Arc<dyn LegacyIdp>,
    metrics: Arc<Metrics>,
    config: TokenExchange,
    lt1: Option<Lt1Keys>,
    /// One renewal per grant at a time in this process: the others wait
    /// here, not by polling the store.
    renewing: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl std::fmt::Debug for LegacySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacySource").finish_non_exhaustive()
    }
}

/// What a renewal came to.
enum Renewal {
    /// A token: renewed here, or by the caller that held the claim.
    Renewed(Sourced),
    /// The legacy IdP ended the session: the grant is revoked.
    Refused,
    /// Nothing to renew with (no refresh token, the adapter cannot).
    Impossible,
}

impl LegacySource {
    /// A source over the bridge's store, adapter and `[token_exchange]`.
    pub fn new(
        store: Arc<dyn Store>,
        storage: StorageKey,
        upstream: Arc<dyn LegacyIdp>,
        metrics: Arc<Metrics>,
        config: TokenExchange,
        lt1: Option<Lt1Keys>,
    ) -> Self {
        Self {
            store,
            storage,
            upstream,
            metrics,
            config,
            lt1,
            renewing: Arc::default(),
        }
    }

    /// The store it reads (the gateway polls it for revocations).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// `subject`'s legacy token: from a live grant (renewed once when it
    /// expires within the skew), else minted, else `NoSession`. A grant the
    /// legacy IdP refuses to renew is revoked and yields nothing, not a
    /// minted token.
    pub async fn token_for(&self, subject: &Subject) -> Result<Sourced, SourceError> {
        let sourced = self.source(subject).await?;
        // Passed through (a grant, renewed or not) or minted: the share
        // minted tells an operator how far the legacy IdP is from retiring.
        self.metrics.legacy_token(sourced.origin.as_str());
        Ok(sourced)
    }

    /// [`Self::token_for`] without the count.
    async fn source(&self, subject: &Subject) -> Result<Sourced, SourceError> {
        let now = now_unix();
        if let Some(grant) = self.store.live_grant(subject.as_str(), now).await? {
            if let Some(fresh) = self.live(&grant, now + self.config.renew_skew_seconds)? {
                return Ok(fresh);
            }
            let renewable = self.upstream.can_renew()
                && grant.legacy_refresh_sealed.is_some()
                && now - grant.auth_time <= self.config.max_session_seconds;
            if renewable {
                match self.renew(&grant).await? {
                    Renewal::Renewed(renewed) => return Ok(renewed),
                    Renewal::Refused => return Err(SourceError::NoSession),
                    Renewal::Impossible => {}
                }
            }
            // Not renewable now, but not expired yet either.
            if let Some(still) = self.live(&grant, now)? {
                return Ok(still);
            }
        }
        // Revocation stops minting too: a user whose newest redeemed grant
        // was revoked (by the legacy IdP refusing a renewal, a replayed code,
        // a revocation), or who was revoked as a whole and has not signed in
        // since, is not minted for; only one who never signed in, or whose
        // grants merely expired, is.
        let newest = self.store.newest_grant(subject.as_str()).await?;
        if newest.as_ref().is_some_and(|g| g.revoked) {
            return Err(SourceError::NoSession);
        }
        if let Some(revoked_at) = self.store.user_revoked_at(subject.as_str()).await? {
            if newest.is_none_or(|g| g.created_at <= revoked_at) {
                return Err(SourceError::NoSession);
            }
        }
        if self.config.mint_upstream || self.config.mint_lt1.is_some() {
            // Before any token is made, by either way of minting.
            crate::util::legacy_subject::check(subject.as_str())
                .map_err(SourceError::UnfitSubject)?;
        }
        if let Some(minted) = self.mint_upstream(subject).await? {
            return Ok(minted);
        }
        if let Some(minted) = self.mint_lt1(subject, now)? {
            return Ok(minted);
        }
        Err(SourceError::NoSession)
    }

    /// The grant's token when it is valid past `by`.
    fn live(&self, g: &GrantRow, by: i64) -> Result<Option<Sourced>, SourceError> {
        if g.token_expires_at <= by {
            return Ok(None);
        }
        let token = sealed_grant::access_token(&self.storage, g)
            .ok_or_else(|| SourceError::Internal("a sealed legacy token does not open".into()))?;
        Ok(Some(Sourced {
            token,
            expires_at: g.token_expires_at,
            origin: Origin::Grant,
        }))
    }

    /// Renews a grant's legacy token, or waits for the caller that is
    /// renewing it: in this process behind a per-grant lock, across
    /// instances through the store's claim.
    async fn renew(&self, grant: &GrantRow) -> Result<Renewal, SourceError> {
        let lock = self
            .renewing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(grant.id.clone())
            .or_default()
            .clone();
        let held = tokio::time::timeout(WAIT_FOR_RENEWAL, lock.lock()).await;
        let result = match held {
            Ok(_guard) => self.renew_once(grant).await,
            Err(_) => Err(SourceError::Unavailable {
                what: "the user's legacy token is being renewed",
                cause: "waited too long for a renewal in this process".into(),
            }),
        };
        // The last one out removes the lock (the map holds one reference).
        let mut renewing = self
            .renewing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if Arc::strong_count(&lock) <= 2 {
            renewing.remove(&grant.id);
        }
        result
    }

    /// With the process's lock held: the renewal a predecessor finished, or
    /// one of its own (claimed across instances), or the one another
    /// instance makes.
    async fn renew_once(&self, grant: &GrantRow) -> Result<Renewal, SourceError> {
        let started = std::time::Instant::now();
        let mut grant = grant.clone();
        // Waiters back off (25 ms doubling to 400 ms): each claim attempt is
        // a write, and many waiters must not starve the claim holder's own
        // write on SQLite's single writer.
        let mut pause = Duration::from_millis(25);
        loop {
            let now = now_unix();
            if self
                .store
                .claim_grant_renewal(
                    &grant.id,
                    &grant.token_hash,
                    now,
                    now + RENEWAL_LEASE_SECONDS,
                )
                .await?
            {
                // On its own task: a client that hangs up must not drop a
                // renewal the legacy IdP has already answered (it may have
                // rotated the refresh token).
                let (source, id) = (self.clone(), grant.id.clone());
                return tokio::spawn(async move { source.renew_claimed(&id).await })
                    .await
                    .map_err(|e| SourceError::Internal(e.to_string()))?;
            }
            // Claimed elsewhere, renewed meanwhile, or revoked: look again.
            // A token other than the one seen is the renewal's, however
            // short.
            match self.store.grant(&grant.id).await? {
                Some(g)
                    if !g.revoked
                        && g.token_hash != grant.token_hash
                        && g.token_expires_at <= now =>
                {
                    // Renewed meanwhile, but that token has expired too (a
                    // very short-lived one, or a long wait): renew from it
                    // rather than wait for a renewal no one else will make.
                    grant = g;
                    continue;
                }
                Some(g) if !g.revoked && g.token_hash != grant.token_hash => {
                    let token = sealed_grant::access_token(&self.storage, &g).ok_or_else(|| {
                        SourceError::Internal("a sealed legacy token does not open".into())
                    })?;
                    return Ok(Renewal::Renewed(Sourced {
                        token,
                        expires_at: g.token_expires_at,
                        origin: Origin::Renewed,
                    }));
                }
                Some(g) if !g.revoked => {}
                _ => return Ok(Renewal::Refused),
            }
            if started.elapsed() > WAIT_FOR_RENEWAL {
                return Err(SourceError::Unavailable {
                    what: "the user's legacy token is being renewed",
                    cause: "waited too long for a concurrent renewal".into(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(400));
        }
    }

    /// Renews with the claim held, from the grant as it is now.
    async fn renew_claimed(&self, id: &str) -> Result<Renewal, SourceError> {
        let grant = match self.store.grant(id).await {
            Ok(Some(g)) if !g.revoked => g,
            Ok(_) => return Ok(Renewal::Refused),
            Err(e) => {
                let _ = self.store.finish_grant_renewal(id, None).await;
                return Err(e.into());
            }
        };
        let Some(refresh) = sealed_grant::refresh_token(&self.storage, &grant) else {
            self.store.finish_grant_renewal(id, None).await?;
            return Ok(Renewal::Impossible);
        };
        let known: Option<Profile> = serde_json::from_str(&grant.profile_json).ok();
        match self.upstream.renew(&refresh, known.as_ref()).await {
            Ok(renewed) => {
                let row = sealed_grant::renewal(&self.storage, &renewed);
                if !self.store.finish_grant_renewal(id, Some(&row)).await? {
                    // Revoked while the legacy IdP answered: nothing to hand out.
                    return Ok(Renewal::Refused);
                }
                Ok(Renewal::Renewed(Sourced {
                    token: renewed.access_token,
                    expires_at: renewed.expires_at,
                    origin: Origin::Renewed,
                }))
            }
            Err(e) => match e {
                // The legacy IdP ended the session: so does the bridge, as
                // the refresh grant does.
                UpstreamError::InvalidCredentials | UpstreamError::Locked => {
                    self.store.revoke_grant(id).await?;
                    self.store.finish_grant_renewal(id, None).await?;
                    crate::audit!(self.metrics, "token_refresh_failure", reason = e.class());
                    Ok(Renewal::Refused)
                }
                UpstreamError::Unsupported(_) => {
                    self.store.finish_grant_renewal(id, None).await?;
                    Ok(Renewal::Impossible)
                }
                UpstreamError::Unavailable(_) | UpstreamError::Protocol(_) => {
                    self.store.finish_grant_renewal(id, None).await?;
                    Err(SourceError::Unavailable {
                        what: "the legacy IdP cannot renew the user's token now",
                        cause: e.to_string(),
                    })
                }
            },
        }
    }

    /// Asks the adapter for a token for `subject` when `mint_upstream` is
    /// set; `None` when it has no such user or cannot mint.
    async fn mint_upstream(&self, subject: &Subject) -> Result<Option<Sourced>, SourceError> {
        if !self.config.mint_upstream {
            return Ok(None);
        }
        match self.upstream.mint(subject).await {
            Ok(minted) => Ok(Some(Sourced {
                token: minted.access_token,
                expires_at: minted.expires_at,
                origin: Origin::Minted,
            })),
            Err(
                UpstreamError::InvalidCredentials
                | UpstreamError::Locked
                | UpstreamError::Unsupported(_),
            ) => Ok(None),
            Err(e) => Err(SourceError::Unavailable {
                what: "the legacy IdP cannot issue the user's token now",
                cause: e.to_string(),
            }),
        }
    }

    /// Mints an LT1 token for `subject` when `[token_exchange.mint_lt1]` is set.
    fn mint_lt1(&self, subject: &Subject, now: i64) -> Result<Option<Sourced>, SourceError> {
        let (Some(config), Some(keys)) = (&self.config.mint_lt1, &self.lt1) else {
            return Ok(None);
        };
        let exp = now + config.ttl_seconds;
        let token = keys
            .mint(&Lt1Claims {
                sub: subject.as_str().to_owned(),
                iat: now,
                exp,
                scope: config.scope.clone(),
                attributes: config
                    .claims
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })
            .map_err(|e| SourceError::Internal(e.to_string()))?;
        Ok(Some(Sourced {
            token: LegacyAccessToken::new(token),
            expires_at: exp,
            origin: Origin::Minted,
        }))
    }
}
