//! The PostgreSQL store's login throttle counters.

use async_trait::async_trait;

use super::{PgQuery, PgStore};
use crate::domain::store::{
    StoreError, ThrottleCount, ThrottleKeys, ThrottleRelease, ThrottleStore, err, sql,
};

/// Binds a throttle release's seven parameters ([`sql::THROTTLE_RELEASE`]):
/// the keys in lock order, the user keys they belong to, the key forgotten.
pub(super) fn bind_release<'q>(query: PgQuery<'q>, settle: ThrottleRelease<'q>) -> PgQuery<'q> {
    let [(k1, u1), (k2, u2), (k3, u3)] = sql::lock_order(settle.keys);
    query
        .bind(k1)
        .bind(k2)
        .bind(k3)
        .bind(u1)
        .bind(u2)
        .bind(u3)
        .bind(settle.forget.unwrap_or(""))
}

#[async_trait]
impl ThrottleStore for PgStore {
    async fn throttle_reserve(
        &self,
        keys: ThrottleKeys<'_>,
        now: i64,
        window: i64,
    ) -> Result<Vec<ThrottleCount>, StoreError> {
        let [(k1, u1), (k2, u2), (k3, u3)] = sql::lock_order(keys);
        sqlx::query_as::<_, ThrottleCount>(sql::THROTTLE_RESERVE)
            .bind(k1)
            .bind(k2)
            .bind(k3)
            .bind(u1)
            .bind(u2)
            .bind(u3)
            .bind(now)
            .bind(window)
            .fetch_all(&self.pool)
            .await
            .map_err(err)
    }

    async fn throttle_release(&self, settle: ThrottleRelease<'_>) -> Result<(), StoreError> {
        self.run(bind_release(sqlx::query(sql::THROTTLE_RELEASE), settle))
            .await
    }

    async fn throttle_lock(&self, key: &str, max: i64, until: i64) -> Result<(), StoreError> {
        self.run(
            sqlx::query(sql::THROTTLE_LOCK)
                .bind(key)
                .bind(max)
                .bind(until),
        )
        .await
    }

    async fn throttle_clear(&self, user: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(sql::THROTTLE_CLEAR_IN_KEY_ORDER)
            .bind(user)
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected())
    }
}
