//! The short cache of the legacy IdP's answers: keyed by the SHA-256 of
//! the token (never the token itself, so a memory dump or a debug print
//! holds no usable token), bounded in entries, each kept no longer than
//! its own deadline (a live answer: the configured seconds and never past
//! the token's `exp`; a "not live" one: its shorter time, or not at all).
//! A full cache first drops what has expired, then the entry nearest its
//! deadline.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A bounded map from token hashes to answers with deadlines.
#[derive(Debug)]
pub struct AnswerCache<T> {
    entries: Mutex<HashMap<[u8; 32], (T, Instant)>>,
    capacity: usize,
}

impl<T: Clone> AnswerCache<T> {
    /// An empty cache of at most `capacity` answers.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The answer for `key` if it is still within its deadline.
    pub fn get(&self, key: &[u8; 32]) -> Option<T> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some((answer, until)) if *until > Instant::now() => Some(answer.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `answer` for `ttl` (nothing when `ttl` is zero).
    pub fn put(&self, key: [u8; 32], answer: T, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.capacity {
                if let Some(nearest) = entries
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(k, _)| *k)
                {
                    entries.remove(&nearest);
                }
            }
        }
        entries.insert(key, (answer, now + ttl));
    }

    /// How many answers are held (for tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], (T, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_each_entry_kept_only_until_its_deadline() {
        let cache = AnswerCache::new(2);
        cache.put([1; 32], "a", Duration::from_secs(60));
        cache.put([2; 32], "b", Duration::from_secs(30));
        cache.put([3; 32], "c", Duration::from_secs(90));
        assert_eq!(cache.len(), 2, "bounded");
        assert_eq!(cache.get(&[2; 32]), None, "the nearest deadline went first");
        assert_eq!(cache.get(&[1; 32]), Some("a"));
        cache.put([4; 32], "d", Duration::ZERO);
        assert_eq!(cache.get(&[4; 32]), None, "a zero time keeps nothing");
        cache.put([5; 32], "e", Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(cache.get(&[5; 32]), None, "expired");
    }
}
