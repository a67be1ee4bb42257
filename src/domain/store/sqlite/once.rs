//! The SQLite store's single-use values (client assertions, callbacks,
//! Auth0 event ids).

use async_trait::async_trait;
use rusqlite::params;

use super::{SqliteStore, prepare};
use crate::domain::store::{OnceStore, StoreError, sql};

#[async_trait]
impl OnceStore for SqliteStore {
    async fn use_assertion(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        let inserted = self
            .write(|c| prepare(c, sql::USE_ASSERTION)?.execute(params![key, expires_at]))
            .await?;
        Ok(inserted == 1)
    }

    async fn forget_assertion(&self, key: &str) -> Result<(), StoreError> {
        self.write(|c| prepare(c, sql::FORGET_ASSERTION)?.execute([key]))
            .await
            .map(drop)
    }
}
