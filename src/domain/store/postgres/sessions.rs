//! The PostgreSQL store's login sessions.

use async_trait::async_trait;

use super::PgStore;
use crate::domain::store::{SessionStore, StoreError, err, sql};

#[async_trait]
impl SessionStore for PgStore {
    async fn insert_session(
        &self,
        id: &str,
        data: &str,
        subject: Option<&str>,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        self.changed_one(
            sqlx::query(sql::INSERT_SESSION)
                .bind(id)
                .bind(data)
                .bind(expires_at)
                .bind(subject),
        )
        .await
    }

    async fn save_session(
        &self,
        id: &str,
        data: &str,
        subject: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.run(
            sqlx::query(sql::SAVE_SESSION)
                .bind(id)
                .bind(data)
                .bind(expires_at)
                .bind(subject),
        )
        .await
    }

    async fn load_session(&self, id: &str, now: i64) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar::<_, String>(sql::LOAD_SESSION)
            .bind(id)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.run(sqlx::query(sql::DELETE_SESSION).bind(id)).await
    }
}
