//! The gateway's token cache: an incoming Auth0 token (by its SHA-256) →
//! the user's legacy token and what the Auth0 token allows, so a cached
//! request costs one hash and one map read instead of a signature check and
//! a store query.
//!
//! - An entry lives until the earlier of the Auth0 token's and the legacy
//!   token's expiry, less `cache_skew_seconds`; the cache holds at most
//!   `cache_max_entries`, least recently used out first (moka, made for
//!   exactly this: bounded, per-entry expiry, and loads of one key joined).
//! - Concurrent misses for one token make one lookup ([`TokenCache::load`]).
//! - Revocation: every gateway polls the store's revocation events
//!   (`RevocationStore::revocations_since`, stamped and read with the database's own
//!   clock, so instances' clocks never meet) each `revocation_poll_ms` and
//!   drops the revoked users' entries, so a revocation at any bridge
//!   instance reaches every gateway within one poll interval plus one
//!   query. An entry is compared with the moment *this* gateway saw the
//!   revocation, by this gateway's clock: whatever was loaded before then
//!   (including a lookup that raced the revocation) is never served again.
//!   While the store cannot be read, the cache is emptied at every poll
//!   (fail closed).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use moka::Expiry;

use crate::domain::legacy_source::{LegacySource, SourceError};
use crate::domain::metrics::GatewayCacheMetrics;
use crate::domain::types::Subject;
use crate::util::clock::now_unix;
use crate::util::secret::LegacyAccessToken;

/// How long a seen revocation is remembered for racing lookups (seconds);
/// longer than any lookup can take.
const REMEMBER_REVOCATION: i64 = 600;

/// What a cached Auth0 token stands for.
#[derive(Debug)]
pub struct Entry {
    /// The legacy subject.
    pub subject: Subject,
    /// The Auth0 token's audiences.
    pub audiences: Vec<String>,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// The user's legacy token.
    pub legacy: LegacyAccessToken,
    /// When the entry stops being served (unix seconds).
    pub cache_until: i64,
    /// When its lookup started (unix seconds, this instance's clock).
    pub loaded_at: i64,
    /// The legacy token as a header value, with the scheme it was made
    /// for: made on the first request, then cloned (a reference count), so
    /// a cached request copies no token. Marked sensitive; like the
    /// token, it lives as long as the entry.
    pub header: std::sync::OnceLock<(String, http::HeaderValue)>,
}

/// Per-entry lifetime: until `cache_until`.
struct UntilExpiry;

impl Expiry<[u8; 32], Arc<Entry>> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        let left = value.cache_until - now_unix();
        Some(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
    }
}

/// What the Auth0 token verified to, for a lookup.
#[derive(Debug)]
pub struct Verified {
    /// The legacy subject.
    pub subject: Subject,
    /// Audiences.
    pub audiences: Vec<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// The Auth0 token's expiry.
    pub exp: i64,
}

/// The cache and the revocations seen.
pub struct TokenCache {
    entries: moka::future::Cache<[u8; 32], Arc<Entry>>,
    /// Subject → (the id of its latest revocation event; when this gateway
    /// saw it, by its own clock).
    revoked: RwLock<HashMap<String, (i64, i64)>>,
    skew: i64,
    metrics: GatewayCacheMetrics,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.entry_count())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache of at most `max_entries`, dropping entries `skew` seconds
    /// before they expire.
    pub fn new(max_entries: u64, skew: i64, metrics: GatewayCacheMetrics) -> Self {
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(max_entries)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .expire_after(UntilExpiry)
                .support_invalidation_closures()
                .build(),
            revoked: RwLock::new(HashMap::new()),
            skew,
            metrics,
        }
    }

    /// The live entry for `key`, unless its user was revoked after it was
    /// loaded.
    pub async fn get(&self, key: &[u8; 32]) -> Option<Arc<Entry>> {
        let entry = self.entries.get(key).await?;
        if self.is_revoked(&entry) {
            self.entries.invalidate(key).await;
            return None;
        }
        self.metrics.hit.inc();
        Some(entry)
    }

    /// Looks the user's legacy token up once for however many requests
    /// missed `key` at the same moment, and caches it.
    pub async fn load(
        &self,
        key: [u8; 32],
        verified: Verified,
        source: &LegacySource,
    ) -> Result<Arc<Entry>, Arc<SourceError>> {
        self.metrics.miss.inc();
        let skew = self.skew;
        let lookup = async {
            self.metrics.lookup.inc();
            let loaded_at = now_unix();
            let sourced = source.token_for(&verified.subject).await?;
            Ok::<_, SourceError>(Arc::new(Entry {
                cache_until: verified.exp.min(sourced.expires_at) - skew,
                subject: verified.subject,
                audiences: verified.audiences,
                scopes: verified.scopes,
                legacy: sourced.token,
                loaded_at,
                header: std::sync::OnceLock::new(),
            }))
        };
        let entry = self.entries.try_get_with(key, lookup).await?;
        if !self.is_revoked(&entry) {
            return Ok(entry);
        }
        // Loaded before a revocation this gateway has since seen (by a
        // request that joined an older lookup): look again, past the cache.
        self.entries.invalidate(&key).await;
        let loaded_at = now_unix();
        let sourced = source.token_for(&entry.subject).await?;
        Ok(Arc::new(Entry {
            cache_until: loaded_at,
            subject: entry.subject.clone(),
            audiences: entry.audiences.clone(),
            scopes: entry.scopes.clone(),
            legacy: sourced.token,
            loaded_at,
            header: std::sync::OnceLock::new(),
        }))
    }

    /// Whether `entry`'s user was revoked after it was loaded (as far as
    /// this gateway has seen), or it has expired.
    pub fn is_revoked(&self, entry: &Entry) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(entry.subject.as_str())
            .is_some_and(|&(_, seen)| entry.loaded_at <= seen)
    }

    /// Whether `entry` may still be used (a tunnel asks, while it lasts).
    pub fn still_valid(&self, entry: &Entry) -> bool {
        now_unix() < entry.cache_until.max(entry.loaded_at + 1) && !self.is_revoked(entry)
    }

    /// Drops the entry for `key` (the legacy API refused its token).
    pub async fn forget(&self, key: &[u8; 32]) {
        self.entries.invalidate(key).await;
    }

    /// Takes in revocations read from the store (subject, the id of its
    /// latest revocation event); those already taken in are skipped.
    pub fn revoke(&self, revocations: &[(String, i64)]) {
        let seen = now_unix();
        let mut fresh = std::collections::HashSet::new();
        {
            let mut revoked = self.revoked.write().unwrap_or_else(PoisonError::into_inner);
            revoked.retain(|_, (_, at)| *at > seen - REMEMBER_REVOCATION);
            for (subject, event) in revocations {
                let known = revoked.get(subject).is_some_and(|(id, _)| id >= event);
                if !known {
                    revoked.insert(subject.clone(), (*event, seen));
                    fresh.insert(subject.clone());
                }
            }
        }
        if fresh.is_empty() {
            return;
        }
        // Existing entries go now, with one predicate for the whole poll (a
        // hit checks the map as well, so an entry inserted after this by a
        // lookup that started before is caught too).
        if let Err(e) = self.entries.invalidate_entries_if(move |_, e| {
            fresh.contains(e.subject.as_str()) && e.loaded_at <= seen
        }) {
            tracing::warn!(error = %e, "cannot invalidate the gateway's cached tokens");
        }
    }
}

/// Polls the store for revocations every `every`, for ever. The cursor is
/// the database's own clock, less a margin for transactions that commit a
/// little after they stamped their row (re-reading a revocation is a no-op).
pub async fn watch_revocations(cache: Arc<TokenCache>, source: Arc<LegacySource>, every: Duration) {
    const OVERLAP: i64 = 10;
    let mut since: Option<i64> = None;
    let mut failing = false;
    loop {
        let read = match since {
            Some(since) => source.store().revocations_since(since).await,
            None => source
                .store()
                .database_now()
                .await
                .map(|now| (Vec::new(), now)),
        };
        match read {
            Ok((rows, database_now)) => {
                if failing {
                    tracing::info!("the gateway reads revocations again");
                    failing = false;
                }
                cache.revoke(&rows);
                since = Some(database_now - OVERLAP);
            }
            Err(e) => {
                // Unable to see revocations, the cache cannot promise its
                // bound: drop it, so each token is looked up afresh (or
                // refused, if the store is down for lookups as well).
                cache.entries.invalidate_all();
                if !failing {
                    tracing::warn!(error = %e, "the gateway cannot read revocations; its token cache is emptied at each poll until it can");
                    failing = true;
                }
            }
        }
        tokio::time::sleep(every).await;
    }
}
