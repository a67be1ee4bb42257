//! The SQLite store's login throttle counters.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::{SqliteStore, prepare};
use crate::domain::store::{
    StoreError, ThrottleCount, ThrottleKeys, ThrottleRelease, ThrottleStore, sql,
};

/// Gives a reserved login attempt back.
pub(super) fn release(c: &Connection, settle: ThrottleRelease<'_>) -> rusqlite::Result<usize> {
    let [(k1, u1), (k2, u2), (k3, u3)] = sql::lock_order(settle.keys);
    prepare(c, sql::THROTTLE_RELEASE)?.execute(params![
        k1,
        k2,
        k3,
        u1,
        u2,
        u3,
        settle.forget.unwrap_or("")
    ])
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn throttle_reserve(
        &self,
        keys: ThrottleKeys<'_>,
        now: i64,
        window: i64,
    ) -> Result<Vec<ThrottleCount>, StoreError> {
        let [(k1, u1), (k2, u2), (k3, u3)] = sql::lock_order(keys);
        self.write(|c| {
            prepare(c, sql::THROTTLE_RESERVE)?
                .query_map(params![k1, k2, k3, u1, u2, u3, now, window], |r| {
                    Ok(ThrottleCount {
                        key: r.get(0)?,
                        attempts: r.get(1)?,
                        locked_until: r.get(2)?,
                    })
                })?
                .collect()
        })
        .await
    }

    async fn throttle_release(&self, settle: ThrottleRelease<'_>) -> Result<(), StoreError> {
        self.write(|c| release(c, settle)).await.map(drop)
    }

    async fn throttle_lock(&self, key: &str, max: i64, until: i64) -> Result<(), StoreError> {
        self.write(|c| prepare(c, sql::THROTTLE_LOCK)?.execute(params![key, max, until]))
            .await
            .map(drop)
    }

    async fn throttle_clear(&self, user: &str) -> Result<u64, StoreError> {
        let removed = self
            .write(|c| prepare(c, sql::THROTTLE_CLEAR)?.execute([user]))
            .await?;
        Ok(removed as u64)
    }
}
