//! The PostgreSQL store's single-use values (client assertions, callbacks,
//! Auth0 event ids).

use async_trait::async_trait;

use super::PgStore;
use crate::domain::store::{OnceStore, StoreError, sql};

#[async_trait]
impl OnceStore for PgStore {
    async fn use_assertion(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        self.changed_one(sqlx::query(sql::USE_ASSERTION).bind(key).bind(expires_at))
            .await
    }

    async fn forget_assertion(&self, key: &str) -> Result<(), StoreError> {
        self.run(sqlx::query(sql::FORGET_ASSERTION).bind(key)).await
    }
}
