//! The SQLite store's login sessions.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, prepare};
use crate::domain::store::{SessionStore, StoreError, sql};

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(
        &self,
        id: &str,
        data: &str,
        subject: Option<&str>,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .write(|c| {
                prepare(c, sql::INSERT_SESSION)?.execute(params![id, data, expires_at, subject])
            })
            .await?;
        Ok(inserted == 1)
    }

    async fn save_session(
        &self,
        id: &str,
        data: &str,
        subject: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write(|c| {
            prepare(c, sql::SAVE_SESSION)?.execute(params![id, data, expires_at, subject])
        })
        .await
        .map(drop)
    }

    async fn load_session(&self, id: &str, now: i64) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            prepare(c, sql::LOAD_SESSION)?
                .query_row(params![id, now], |r| r.get(0))
                .optional()
        })
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.write(|c| prepare(c, sql::DELETE_SESSION)?.execute([id]))
            .await
            .map(drop)
    }
}
