//! The SQLite store's user revocations and the gateways' revocation
//! events.

use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, prepare};
use crate::domain::store::{RevocationStore, StoreError, UserRevoked, sql};

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn revoke_user(&self, subject: &str, now: i64) -> Result<UserRevoked, StoreError> {
        static RECORD: LazyLock<String> =
            LazyLock::new(|| sql::record_user_revocation(SqliteStore::NOW_SQL));
        self.transaction(|tx| {
            let mut counts = [0u64; 3];
            for (count, statement) in counts.iter_mut().zip(sql::REVOKE_USER_COUNTED) {
                *count = prepare(tx, statement)?.execute([subject])? as u64;
            }
            prepare(tx, sql::MARK_USER_REVOKED)?.execute(params![subject, now])?;
            prepare(tx, &RECORD)?.execute([subject])?;
            Ok(sql::user_revoked(counts))
        })
        .await
    }

    async fn user_revoked_at(&self, subject: &str) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            prepare(c, sql::USER_REVOKED_AT)?
                .query_row([subject], |r| r.get(0))
                .optional()
        })
    }

    async fn revocations_since(&self, since: i64) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let rows = self.read(|c| {
            prepare(c, sql::REVOCATIONS_SINCE)?
                .query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?;
        Ok((rows, self.database_now().await?))
    }

    async fn database_now(&self) -> Result<i64, StoreError> {
        self.read(|c| c.query_row(&sql::database_now(Self::NOW_SQL), [], |r| r.get(0)))
    }
}
