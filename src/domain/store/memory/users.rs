//! The in-memory store's user side: revoking a user and the gateways'
//! events, throttle counters, single-use values, login sessions, and
//! cleanup (see the parent module for the contract).

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{Counter, MemoryStore};
use crate::domain::store::{
    Cleaned, Housekeeping, OnceStore, RefreshState, RevocationStore, SessionStore, StoreError,
    ThrottleCount, ThrottleKeys, ThrottleRelease, ThrottleStore, UserRevoked, sql,
};
use crate::util::clock::now_unix;

#[async_trait]
impl RevocationStore for MemoryStore {
    async fn revoke_user(&self, subject: &str, now: i64) -> Result<UserRevoked, StoreError> {
        let mut data = self.lock();
        let ids: Vec<String> = data
            .grants
            .values()
            .filter(|r| r.grant.subject == subject)
            .map(|r| r.grant.id.clone())
            .collect();
        let mut revoked = UserRevoked::default();
        for r in data.refresh.values_mut() {
            if ids.contains(&r.grant_id) && r.state != RefreshState::Revoked {
                r.state = RefreshState::Revoked;
                revoked.refresh_tokens += 1;
            }
        }
        for id in &ids {
            if let Some(row) = data.grants.get_mut(id).filter(|r| !r.grant.revoked) {
                row.revoke();
                revoked.grants += 1;
            }
        }
        let before = data.sessions.len();
        data.sessions
            .retain(|_, (_, owner, _)| owner.as_deref() != Some(subject));
        revoked.sessions = (before - data.sessions.len()) as u64;
        data.revoked_users.insert(subject.to_owned(), now);
        data.record(subject.to_owned(), now_unix());
        Ok(revoked)
    }

    async fn user_revoked_at(&self, subject: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.lock().revoked_users.get(subject).copied())
    }

    async fn revocations_since(&self, since: i64) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let data = self.lock();
        let mut latest: BTreeMap<&str, i64> = BTreeMap::new();
        for (id, subject, at) in &data.revocations {
            if *at >= since {
                let entry = latest.entry(subject).or_insert(*id);
                *entry = (*entry).max(*id);
            }
        }
        let events = latest.into_iter().map(|(s, id)| (s.to_owned(), id));
        Ok((events.collect(), now_unix()))
    }

    async fn database_now(&self) -> Result<i64, StoreError> {
        Ok(now_unix())
    }
}

#[async_trait]
impl ThrottleStore for MemoryStore {
    async fn throttle_reserve(
        &self,
        keys: ThrottleKeys<'_>,
        now: i64,
        window: i64,
    ) -> Result<Vec<ThrottleCount>, StoreError> {
        let mut data = self.lock();
        let mut counts = Vec::with_capacity(3);
        for (key, user_key) in sql::lock_order(keys) {
            let counter = data
                .throttle
                .entry(key.to_owned())
                .and_modify(|c| {
                    if c.locked_until > now {
                        // A live lockout keeps everything.
                    } else if c.locked_until > 0 || c.window_started_at < now - window {
                        c.failures = 1;
                        c.window_started_at = now;
                        c.locked_until = 0;
                    } else {
                        c.failures += 1;
                    }
                })
                .or_insert(Counter {
                    user_key: user_key.map(str::to_owned),
                    failures: 1,
                    window_started_at: now,
                    locked_until: 0,
                });
            counts.push(ThrottleCount {
                key: key.to_owned(),
                attempts: counter.failures,
                locked_until: counter.locked_until,
            });
        }
        Ok(counts)
    }

    async fn throttle_release(&self, release: ThrottleRelease<'_>) -> Result<(), StoreError> {
        self.lock().release(release);
        Ok(())
    }

    async fn throttle_lock(&self, key: &str, max: i64, until: i64) -> Result<(), StoreError> {
        let mut data = self.lock();
        let counter = data.throttle.get_mut(key);
        if let Some(c) = counter.filter(|c| c.failures >= max && c.locked_until < until) {
            c.locked_until = until;
        }
        Ok(())
    }

    async fn throttle_clear(&self, user: &str) -> Result<u64, StoreError> {
        let mut data = self.lock();
        let before = data.throttle.len();
        data.throttle
            .retain(|_, c| c.user_key.as_deref() != Some(user));
        Ok((before - data.throttle.len()) as u64)
    }
}

#[async_trait]
impl OnceStore for MemoryStore {
    async fn use_assertion(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        let mut data = self.lock();
        if data.once.contains_key(key) {
            return Ok(false);
        }
        data.once.insert(key.to_owned(), expires_at);
        Ok(true)
    }

    async fn forget_assertion(&self, key: &str) -> Result<(), StoreError> {
        self.lock().once.remove(key);
        Ok(())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert_session(
        &self,
        id: &str,
        data: &str,
        subject: Option<&str>,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let mut store = self.lock();
        if store.sessions.contains_key(id) {
            return Ok(false);
        }
        let value = (data.to_owned(), subject.map(str::to_owned), expires_at);
        store.sessions.insert(id.to_owned(), value);
        Ok(true)
    }

    async fn save_session(
        &self,
        id: &str,
        data: &str,
        subject: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let value = (data.to_owned(), subject.map(str::to_owned), expires_at);
        self.lock().sessions.insert(id.to_owned(), value);
        Ok(())
    }

    async fn load_session(&self, id: &str, now: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .sessions
            .get(id)
            .filter(|(_, _, expires_at)| *expires_at > now)
            .map(|(data, _, _)| data.clone()))
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.lock().sessions.remove(id);
        Ok(())
    }
}

#[async_trait]
impl Housekeeping for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn cleanup(&self, now: i64, _batch: i64) -> Result<Cleaned, StoreError> {
        let mut data = self.lock();
        let sessions = data.sessions.len();
        data.sessions
            .retain(|_, (_, _, expires_at)| *expires_at >= now);
        let refresh = data.refresh.len();
        data.refresh
            .retain(|_, r| r.family_expires_at >= now && r.state != RefreshState::Revoked);
        let families: Vec<String> = data.refresh.values().map(|r| r.grant_id.clone()).collect();
        let grants = data.grants.len();
        data.grants.retain(|id, r| {
            let gone = r.grant.keep_until < now
                && r.code.expires_at < now
                && (r.grant.revoked || !r.used || r.grant.token_expires_at < now)
                && r.code.login.as_ref().is_none_or(|l| l.expires_at < now)
                && !families.contains(id);
            !gone
        });
        data.once.retain(|_, expires_at| *expires_at >= now);
        data.revocations.retain(|(_, _, at)| *at >= now - 3600);
        Ok(Cleaned {
            grants: (grants - data.grants.len()) as u64,
            refresh_tokens: (refresh - data.refresh.len()) as u64,
            sessions: (sessions - data.sessions.len()) as u64,
        })
    }
}
