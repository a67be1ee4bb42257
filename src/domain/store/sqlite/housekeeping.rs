//! The SQLite store's housekeeping: the sealed columns walked and replaced
//! for a storage-key rotation, the readiness ping, and the cleanup (its
//! deletes sent to the maintenance thread, in the parent module).

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use rusqlite::{Row, params};

use super::{Maintenance, SqliteStore, prepare};
use crate::domain::store::sealed::{RowKey, SealedColumn};
use crate::domain::store::{Cleaned, Housekeeping, StoreError, err};

#[async_trait]
impl Housekeeping for SqliteStore {
    async fn sealed_values(
        &self,
        column: SealedColumn,
        after: &RowKey,
        batch: i64,
    ) -> Result<Vec<(RowKey, Vec<u8>)>, StoreError> {
        let sql = column.select_batch();
        let text = column.text_key();
        self.read(|c| {
            let mut statement = prepare(c, &sql)?;
            let row = |r: &Row<'_>| {
                let key = if text {
                    RowKey::Text(r.get(0)?)
                } else {
                    RowKey::Blob(r.get(0)?)
                };
                Ok((key, r.get(1)?))
            };
            match after {
                RowKey::Text(k) => statement.query_map(params![k, batch], row)?.collect(),
                RowKey::Blob(k) => statement.query_map(params![k, batch], row)?.collect(),
            }
        })
    }

    async fn replace_sealed(
        &self,
        column: SealedColumn,
        key: &RowKey,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = column.replace();
        let changed = self
            .write(|c| {
                let mut statement = prepare(c, &sql)?;
                match key {
                    RowKey::Text(k) => statement.execute(params![new, k, old]),
                    RowKey::Blob(k) => statement.execute(params![new, k, old]),
                }
            })
            .await?;
        Ok(changed == 1)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

    async fn cleanup(&self, now: i64, batch: i64) -> Result<Cleaned, StoreError> {
        let (done, removed) = tokio::sync::oneshot::channel();
        let gone = || err("the sqlite maintenance thread has ended");
        self.maintenance
            .send(Maintenance::Cleanup { now, batch, done })
            .map_err(|_| gone())?;
        let removed = removed.await.map_err(|_| gone())?.map_err(err)?;
        self.commits
            .fetch_add(removed.len() as u64, Ordering::Relaxed);
        Ok(Cleaned::from_counts(&removed))
    }

    fn commits(&self) -> Option<u64> {
        Some(self.commits.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::store::sql;

    /// Every cleanup statement reads through an index, never a whole table
    /// (the grants' scan held writes 130 ms at 120,000 grants).
    #[tokio::test]
    async fn cleanup_statements_read_through_indexes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("plan.db"), false)
            .await
            .expect("open");
        for statement in sql::CLEANUP {
            let plan: Vec<String> = store
                .read(|c| {
                    prepare(c, &format!("EXPLAIN QUERY PLAN {statement}"))?
                        .query_map(params![0, 1], |r| r.get::<_, String>(3))?
                        .collect()
                })
                .expect("plan");
            assert!(
                plan.iter().all(|step| !step.starts_with("SCAN ")),
                "{statement}\nscans a table: {plan:?}"
            );
        }
        let grants: Vec<String> = store
            .read(|c| {
                prepare(c, &format!("EXPLAIN QUERY PLAN {}", sql::CLEANUP_GRANTS))?
                    .query_map(params![0, 1], |r| r.get::<_, String>(3))?
                    .collect()
            })
            .expect("plan");
        assert!(
            grants
                .iter()
                .any(|step| step.contains("USING INDEX grants_keep_until")),
            "the grants' cleanup should search by keep_until: {grants:?}"
        );
    }
}
