//! The PostgreSQL store's signing keys.

use async_trait::async_trait;

use super::{PgQuery, PgStore};
use crate::domain::store::{KeyStore, StoreError, StoredKey, err, sql};

/// Binds a key's six columns in statement order.
fn bind_key<'q>(query: PgQuery<'q>, key: &'q StoredKey) -> PgQuery<'q> {
    query
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_sealed)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .bind(key.activates_at)
}

#[async_trait]
impl KeyStore for PgStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        sqlx::query_as::<_, StoredKey>(sql::SIGNING_KEYS)
            .fetch_all(&self.pool)
            .await
            .map_err(err)
    }

    /// Serializes first-key creation across instances with a transaction-
    /// scoped advisory lock.
    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.run(sqlx::query("SELECT pg_advisory_xact_lock(7305731820191)"))
            .await?;
        tx.run(bind_key(sqlx::query(sql::INSERT_FIRST_KEY), key))
            .await?;
        tx.commit().await
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.run(bind_key(sqlx::query(sql::INSERT_KEY), key)).await
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        self.run(sqlx::query(sql::DELETE_KEY).bind(kid)).await
    }
}
