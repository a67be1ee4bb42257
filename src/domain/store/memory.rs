//! An in-memory store for unit tests of the protocol: every narrow trait,
//! behind one mutex, keeping the contract the SQL backends keep — a code is
//! spent once and only by a claim that matches it in full, a replay reads
//! as one, revoking a grant revokes every grant holding its token and their
//! refresh families and records the event, a login form yields one code,
//! refresh claims exclude each other and a grant's renewal claim. It is
//! not a backend: nothing persists, and one lock serializes everything.
//! (`tests/e2e/store_suite.rs` runs its contract cases against it too.)

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{
    Cleaned, CodeClaim, CodeRow, GrantRenewal, GrantRow, GrantStore, Housekeeping, KeyStore,
    OnceStore, Redeemed, RefreshRow, RefreshState, RefreshStore, RevocationStore, Rotation,
    STALE_CLAIM_SECONDS, SessionStore, StoreError, StoredKey, ThrottleCount, ThrottleKeys,
    ThrottleRelease, ThrottleStore, UserRevoked, sql,
};
use crate::util::clock::now_unix;

/// A grant with its code, as one row (as in the SQL schema).
#[derive(Debug, Clone)]
struct Row {
    grant: GrantRow,
    code: CodeRow,
    used: bool,
    renewing_until: Option<i64>,
    /// What `keep_until` rises to at redemption (`INSERT_GRANT_WITH_CODE`).
    keep_after_redeem: i64,
}

impl Row {
    /// A revoked grant is kept only for its code and its form
    /// (`REVOKE_GRANTS`).
    fn revoke(&mut self) {
        self.grant.revoked = true;
        self.grant.keep_until = self
            .code
            .expires_at
            .max(self.code.login.as_ref().map_or(0, |l| l.expires_at));
    }
}

#[derive(Debug, Clone)]
struct Counter {
    user_key: Option<String>,
    failures: i64,
    window_started_at: i64,
    locked_until: i64,
}

#[derive(Debug, Default)]
struct Data {
    keys: Vec<StoredKey>,
    grants: BTreeMap<String, Row>,
    refresh: HashMap<Vec<u8>, RefreshRow>,
    revoked_users: HashMap<String, i64>,
    /// (event id, subject, revoked_at).
    revocations: Vec<(i64, String, i64)>,
    throttle: BTreeMap<String, Counter>,
    once: HashMap<String, i64>,
    /// id → (data, subject, expires_at).
    sessions: HashMap<String, (String, Option<String>, i64)>,
}

impl Data {
    /// Revokes every grant holding `token_hash`, their refresh families, and
    /// records the event per subject (`REVOKE_REFRESH_OF_TOKEN`,
    /// `record_revocation`, `REVOKE_GRANTS`).
    fn revoke_token(&mut self, token_hash: &[u8]) {
        let ids: Vec<String> = self
            .grants
            .values()
            .filter(|r| r.grant.token_hash == token_hash)
            .map(|r| r.grant.id.clone())
            .collect();
        for r in self.refresh.values_mut() {
            if ids.contains(&r.grant_id) {
                r.state = RefreshState::Revoked;
            }
        }
        let now = now_unix();
        let mut subjects: Vec<String> = Vec::new();
        for id in &ids {
            if let Some(row) = self.grants.get_mut(id) {
                row.revoke();
                if !subjects.contains(&row.grant.subject) {
                    subjects.push(row.grant.subject.clone());
                }
            }
        }
        for subject in subjects {
            self.record(subject, now);
        }
    }

    fn record(&mut self, subject: String, at: i64) {
        let id = self.revocations.last().map_or(1, |e| e.0 + 1);
        self.revocations.push((id, subject, at));
    }

    fn release(&mut self, settle: ThrottleRelease<'_>) {
        for (key, user_key) in sql::lock_order(settle.keys) {
            let counter = self.throttle.entry(key.to_owned()).or_insert(Counter {
                user_key: user_key.map(str::to_owned),
                failures: 0,
                window_started_at: 0,
                locked_until: 0,
            });
            counter.failures = if Some(key) == settle.forget || counter.failures <= 0 {
                0
            } else {
                counter.failures - 1
            };
        }
    }

    fn insert(&mut self, grant: &GrantRow, code: &CodeRow) -> bool {
        let login_taken = code.login.as_ref().is_some_and(|login| {
            self.grants
                .values()
                .any(|r| r.code.login.as_ref().is_some_and(|l| l.id == login.id))
        });
        let code_taken = self
            .grants
            .values()
            .any(|r| r.code.code_hash == code.code_hash);
        if login_taken || code_taken || self.grants.contains_key(&grant.id) {
            return false;
        }
        // Until redeemed, a grant is kept as long as its code and form;
        // then as long as its token and the caller's floor too.
        let form = code.login.as_ref().map_or(0, |l| l.expires_at);
        let mut grant = grant.clone();
        grant.revoked = false;
        let keep_after_redeem = grant
            .keep_until
            .max(grant.token_expires_at)
            .max(code.expires_at)
            .max(form);
        grant.keep_until = code.expires_at.max(form);
        self.grants.insert(
            grant.id.clone(),
            Row {
                grant,
                code: code.clone(),
                used: false,
                renewing_until: None,
                keep_after_redeem,
            },
        );
        true
    }
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut keys = self.lock().keys.clone();
        keys.sort_by(|a, b| {
            (a.activates_at, a.created_at, &a.kid).cmp(&(b.activates_at, b.created_at, &b.kid))
        });
        Ok(keys)
    }

    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut data = self.lock();
        if !data.keys.iter().any(|k| k.alg == key.alg) {
            data.keys.push(key.clone());
        }
        Ok(())
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut data = self.lock();
        if data.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError(format!("signing key {} exists", key.kid)));
        }
        data.keys.push(key.clone());
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        self.lock().keys.retain(|k| k.kid != kid);
        Ok(())
    }
}

#[async_trait]
impl GrantStore for MemoryStore {
    async fn insert_grant_with_code(
        &self,
        grant: &GrantRow,
        code: &CodeRow,
        settle: Option<ThrottleRelease<'_>>,
    ) -> Result<bool, StoreError> {
        let mut data = self.lock();
        if let Some(settle) = settle {
            data.release(settle);
        }
        let inserted = data.insert(grant, code);
        if inserted {
            data.revoked_users.remove(&grant.subject);
        }
        Ok(inserted)
    }

    async fn insert_grant_from_session(
        &self,
        source: &str,
        grant: &GrantRow,
        code: &CodeRow,
    ) -> Result<bool, StoreError> {
        let mut data = self.lock();
        let live = data.grants.get(source).is_some_and(|s| {
            !s.grant.revoked
                && s.used
                && s.grant.token_hash == grant.token_hash
                && s.grant.subject == grant.subject
        });
        Ok(live && data.insert(grant, code))
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        claim: &CodeClaim<'_>,
    ) -> Result<Redeemed, StoreError> {
        let mut data = self.lock();
        let Some(row) = data
            .grants
            .values_mut()
            .find(|r| r.code.code_hash == code_hash)
        else {
            return Ok(Redeemed::Unknown);
        };
        let matches = !row.used
            && row.grant.client_id == claim.client_id
            && row.code.redirect_uri == claim.redirect_uri
            && row.code.expires_at >= claim.now
            && row.code.code_challenge.as_deref() == claim.challenge;
        if matches {
            row.used = true;
            if !row.grant.revoked {
                row.grant.keep_until = row.grant.keep_until.max(row.keep_after_redeem);
            }
            return Ok(Redeemed::Fresh(Box::new((
                row.code.clone(),
                row.grant.clone(),
            ))));
        }
        Ok(super::why_not_redeemed(
            row.code.clone(),
            row.grant.clone(),
            row.used,
            claim,
        ))
    }

    async fn grants_by_token_hash(&self, token_hash: &[u8]) -> Result<Vec<GrantRow>, StoreError> {
        let mut grants: Vec<GrantRow> = self
            .lock()
            .grants
            .values()
            .filter(|r| r.grant.token_hash == token_hash)
            .map(|r| r.grant.clone())
            .collect();
        grants.sort_by(|a, b| {
            (a.revoked, std::cmp::Reverse(a.created_at), &a.id).cmp(&(
                b.revoked,
                std::cmp::Reverse(b.created_at),
                &b.id,
            ))
        });
        Ok(grants)
    }

    async fn revoke_grant(&self, id: &str) -> Result<(), StoreError> {
        let mut data = self.lock();
        if let Some(hash) = data.grants.get(id).map(|r| r.grant.token_hash.clone()) {
            data.revoke_token(&hash);
        }
        Ok(())
    }

    async fn grant(&self, id: &str) -> Result<Option<GrantRow>, StoreError> {
        Ok(self.lock().grants.get(id).map(|r| r.grant.clone()))
    }

    async fn live_grant(&self, subject: &str, now: i64) -> Result<Option<GrantRow>, StoreError> {
        Ok(self
            .lock()
            .grants
            .values()
            .filter(|r| {
                r.grant.subject == subject
                    && !r.grant.revoked
                    && r.used
                    && (r.grant.token_expires_at > now || r.grant.legacy_refresh_sealed.is_some())
            })
            .max_by_key(|r| r.grant.token_expires_at)
            .map(|r| r.grant.clone()))
    }

    async fn newest_grant(&self, subject: &str) -> Result<Option<GrantRow>, StoreError> {
        Ok(self
            .lock()
            .grants
            .values()
            .filter(|r| r.grant.subject == subject && r.used)
            .min_by(|a, b| {
                (std::cmp::Reverse(a.grant.created_at), &a.grant.id)
                    .cmp(&(std::cmp::Reverse(b.grant.created_at), &b.grant.id))
            })
            .map(|r| r.grant.clone()))
    }

    async fn claim_grant_renewal(
        &self,
        id: &str,
        seen: &[u8],
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let mut data = self.lock();
        let refresh_renewing = data.refresh.values().any(|r| {
            r.grant_id == id
                && r.state == RefreshState::Rotating
                && r.last_used_at >= now - STALE_CLAIM_SECONDS
        });
        let Some(row) = data.grants.get_mut(id) else {
            return Ok(false);
        };
        if row.grant.revoked
            || row.grant.token_hash != seen
            || row.renewing_until.is_some_and(|t| t >= now)
            || refresh_renewing
        {
            return Ok(false);
        }
        row.renewing_until = Some(until);
        Ok(true)
    }

    async fn finish_grant_renewal(
        &self,
        id: &str,
        renewed: Option<&GrantRenewal>,
    ) -> Result<bool, StoreError> {
        let mut data = self.lock();
        let Some(row) = data.grants.get_mut(id) else {
            return Ok(false);
        };
        let Some(renewed) = renewed else {
            row.renewing_until = None;
            return Ok(true);
        };
        if row.grant.revoked {
            return Ok(false);
        }
        row.grant.token_hash.clone_from(&renewed.token_hash);
        row.grant.token_sealed.clone_from(&renewed.token_sealed);
        row.grant.token_expires_at = renewed.token_expires_at;
        row.grant.keep_until = row.grant.keep_until.max(renewed.token_expires_at);
        if let Some(sealed) = &renewed.legacy_refresh_sealed {
            row.grant.legacy_refresh_sealed = Some(sealed.clone());
        }
        if let Some(profile) = &renewed.profile_json {
            row.grant.profile_json.clone_from(profile);
        }
        row.renewing_until = None;
        Ok(true)
    }
}

#[async_trait]
impl RefreshStore for MemoryStore {
    async fn insert_refresh(&self, row: &RefreshRow) -> Result<(), StoreError> {
        let mut data = self.lock();
        if data.refresh.contains_key(&row.token_hash) {
            return Err(StoreError("refresh token exists".into()));
        }
        if let Some(grant) = data.grants.get_mut(&row.grant_id) {
            grant.grant.keep_until = grant.grant.keep_until.max(row.family_expires_at);
        }
        data.refresh.insert(row.token_hash.clone(), row.clone());
        Ok(())
    }

    async fn refresh(&self, token_hash: &[u8]) -> Result<Option<RefreshRow>, StoreError> {
        Ok(self.lock().refresh.get(token_hash).cloned())
    }

    async fn claim_refresh(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        let mut data = self.lock();
        let Some(grant_id) = data.refresh.get(token_hash).map(|r| r.grant_id.clone()) else {
            return Ok(false);
        };
        let grant_renewing = data
            .grants
            .get(&grant_id)
            .is_some_and(|g| g.renewing_until.is_some_and(|t| t >= now));
        let Some(row) = data.refresh.get_mut(token_hash) else {
            return Ok(false);
        };
        let claimable = row.state == RefreshState::Active
            || (row.state == RefreshState::Rotating
                && row.last_used_at < now - STALE_CLAIM_SECONDS);
        if !claimable || grant_renewing {
            return Ok(false);
        }
        row.state = RefreshState::Rotating;
        row.last_used_at = now;
        Ok(true)
    }

    async fn release_refresh(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        let mut data = self.lock();
        let claimed = data.refresh.get_mut(token_hash);
        if let Some(row) = claimed.filter(|r| r.state == RefreshState::Rotating) {
            row.state = RefreshState::Active;
        }
        Ok(())
    }

    async fn complete_rotation(&self, r: &Rotation) -> Result<(), StoreError> {
        let mut data = self.lock();
        let Some(grant_id) = data.refresh.get(&r.old_hash).map(|o| o.grant_id.clone()) else {
            return Ok(());
        };
        let Some(row) = data.grants.get_mut(&grant_id).filter(|g| !g.grant.revoked) else {
            // Revoked meanwhile: the caller finds the grant revoked.
            return Ok(());
        };
        row.grant.token_hash.clone_from(&r.token_hash);
        row.grant.token_sealed.clone_from(&r.token_sealed);
        row.grant.token_expires_at = r.token_expires_at;
        row.grant.keep_until = row.grant.keep_until.max(r.token_expires_at);
        if let Some(sealed) = &r.legacy_refresh_sealed {
            row.grant.legacy_refresh_sealed = Some(sealed.clone());
        }
        if let Some(profile) = &r.profile_json {
            row.grant.profile_json.clone_from(profile);
        }
        if let Some(successor) = &r.successor {
            data.refresh
                .insert(successor.token_hash.clone(), successor.clone());
            if let Some(old) = data.refresh.get_mut(&r.old_hash) {
                old.state = RefreshState::Spent;
                old.rotated_at = Some(r.now);
                old.successor_sealed.clone_from(&r.successor_sealed);
            }
        } else {
            let claimed = data.refresh.get_mut(&r.old_hash);
            if let Some(old) = claimed.filter(|o| o.state == RefreshState::Rotating) {
                old.state = RefreshState::Active;
                old.rotated_at = Some(r.now);
                old.last_used_at = r.now;
            }
        }
        Ok(())
    }
}

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
