//! The PostgreSQL store's user revocations and the gateways' revocation
//! events.

use std::sync::LazyLock;

use async_trait::async_trait;

use super::PgStore;
use crate::domain::store::{RevocationStore, StoreError, UserRevoked, err, sql};

#[async_trait]
impl RevocationStore for PgStore {
    async fn revoke_user(&self, subject: &str, now: i64) -> Result<UserRevoked, StoreError> {
        static RECORD: LazyLock<String> =
            LazyLock::new(|| sql::record_user_revocation(PgStore::NOW_SQL));
        let mut tx = self.begin().await?;
        tx.lock_subject(subject).await?;
        let mut counts = [0u64; 3];
        for (count, statement) in counts.iter_mut().zip(sql::REVOKE_USER_COUNTED) {
            *count = tx.run(sqlx::query(statement).bind(subject)).await?;
        }
        tx.run(sqlx::query(sql::MARK_USER_REVOKED).bind(subject).bind(now))
            .await?;
        tx.run(sqlx::query(&RECORD).bind(subject)).await?;
        tx.commit().await?;
        Ok(sql::user_revoked(counts))
    }

    async fn user_revoked_at(&self, subject: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar::<_, i64>(sql::USER_REVOKED_AT)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }

    async fn revocations_since(&self, since: i64) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let rows = sqlx::query_as::<_, (String, i64)>(sql::REVOCATIONS_SINCE)
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        Ok((rows, self.database_now().await?))
    }

    async fn database_now(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar::<_, i64>(&sql::database_now(Self::NOW_SQL))
            .fetch_one(&self.pool)
            .await
            .map_err(err)
    }
}
