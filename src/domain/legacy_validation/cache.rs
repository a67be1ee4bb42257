//! The short cache of the legacy IdP's answers (moka, as the gateway's
//! token cache): keyed by the SHA-256 of the token — never the token
//! itself, so a memory dump or a debug print holds no usable token —,
//! bounded in entries (least recently used out first), each kept no
//! longer than its own deadline (a live answer: the configured seconds and
//! never past the token's `exp`; a "not live" one: its shorter time, or
//! not at all). Concurrent misses for one token make one call to the
//! legacy IdP, and share its answer or its failure; a failure is never
//! kept.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

use super::{Unavailable, Verdict};

/// An answer and how long it may be kept.
#[derive(Debug, Clone)]
struct Kept {
    verdict: Verdict,
    ttl: Duration,
}

struct OwnDeadline;

impl Expiry<[u8; 32], Kept> for OwnDeadline {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Kept,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// A bounded map from token hashes to answers with deadlines.
pub struct AnswerCache {
    entries: moka::future::Cache<[u8; 32], Kept>,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnswerCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl AnswerCache {
    /// An empty cache of at most `capacity` answers.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(u64::try_from(capacity.max(1)).unwrap_or(u64::MAX))
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .expire_after(OwnDeadline)
                .build(),
        }
    }

    /// The answer for `key`: kept, or from `ask` — once for however many
    /// callers miss `key` at the same moment — kept for the time it names.
    pub async fn get_or_ask<F>(&self, key: [u8; 32], ask: F) -> Result<Verdict, Unavailable>
    where
        F: Future<Output = Result<(Verdict, Duration), Unavailable>>,
    {
        let load = async {
            let (verdict, ttl) = ask.await?;
            Ok::<_, Unavailable>(Kept { verdict, ttl })
        };
        self.entries
            .try_get_with(key, load)
            .await
            .map(|kept| kept.verdict)
            .map_err(|e: Arc<Unavailable>| (*e).clone())
    }

    /// How many answers are held (approximately: moka counts lazily).
    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn ask(
        calls: &Arc<AtomicUsize>,
        verdict: &'static str,
        ttl: Duration,
    ) -> impl Future<Output = Result<(Verdict, Duration), Unavailable>> + Send + 'static {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok((Verdict::Inactive(verdict), ttl))
        }
    }

    #[tokio::test]
    async fn concurrent_misses_ask_once_and_each_answer_keeps_its_own_time() {
        let cache = Arc::new(AnswerCache::new(10));
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (cache, ask) = (cache.clone(), ask(&calls, "a", Duration::from_secs(60)));
                tokio::spawn(async move { cache.get_or_ask([1; 32], ask).await })
            })
            .collect();
        for task in tasks {
            let answer = task.await.expect("task");
            assert!(matches!(answer, Ok(Verdict::Inactive("a"))));
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one call for twenty misses"
        );
        let again = cache
            .get_or_ask([1; 32], ask(&calls, "b", Duration::ZERO))
            .await;
        assert!(matches!(again, Ok(Verdict::Inactive("a"))), "kept");
        let _ = cache
            .get_or_ask([2; 32], ask(&calls, "z", Duration::ZERO))
            .await;
        let _ = cache
            .get_or_ask([2; 32], ask(&calls, "z", Duration::ZERO))
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 3, "a zero time keeps nothing");
        let failed = cache
            .get_or_ask([3; 32], async { Err(Unavailable("down".into())) })
            .await;
        assert!(failed.is_err());
        let after = cache
            .get_or_ask([3; 32], ask(&calls, "up", Duration::from_secs(5)))
            .await;
        assert!(
            matches!(after, Ok(Verdict::Inactive("up"))),
            "a failure is not kept"
        );
    }
}
