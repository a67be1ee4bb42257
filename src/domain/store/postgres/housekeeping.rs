//! The PostgreSQL store's housekeeping: the sealed columns walked and
//! replaced for a storage-key rotation, the readiness ping, the cleanup.

use async_trait::async_trait;
use sqlx::Row;

use super::PgStore;
use crate::domain::store::sealed::{RowKey, SealedColumn};
use crate::domain::store::{Cleaned, Housekeeping, StoreError, err, sql};

#[async_trait]
impl Housekeeping for PgStore {
    async fn sealed_values(
        &self,
        column: SealedColumn,
        after: &RowKey,
        batch: i64,
    ) -> Result<Vec<(RowKey, Vec<u8>)>, StoreError> {
        let sql = column.select_batch();
        let query = match after {
            RowKey::Text(k) => sqlx::query(&sql).bind(k.clone()),
            RowKey::Blob(k) => sqlx::query(&sql).bind(k.clone()),
        };
        let rows = query.bind(batch).fetch_all(&self.pool).await.map_err(err)?;
        rows.iter()
            .map(|r| {
                let key = if column.text_key() {
                    RowKey::Text(r.try_get(0)?)
                } else {
                    RowKey::Blob(r.try_get(0)?)
                };
                Ok((key, r.try_get(1)?))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(err)
    }

    async fn replace_sealed(
        &self,
        column: SealedColumn,
        key: &RowKey,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = column.replace();
        let query = sqlx::query(&sql).bind(new.to_vec());
        let query = match key {
            RowKey::Text(k) => query.bind(k.clone()),
            RowKey::Blob(k) => query.bind(k.clone()),
        };
        self.changed_one(query.bind(old.to_vec())).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(sqlx::query("SELECT 1")).await
    }

    async fn cleanup(&self, now: i64, batch: i64) -> Result<Cleaned, StoreError> {
        let mut removed = Vec::with_capacity(sql::CLEANUP.len());
        for statement in sql::CLEANUP {
            let done = sqlx::query(statement)
                .bind(now)
                .bind(batch)
                .execute(&self.pool)
                .await
                .map_err(err)?;
            removed.push(done.rows_affected());
        }
        Ok(Cleaned::from_counts(&removed))
    }
}
