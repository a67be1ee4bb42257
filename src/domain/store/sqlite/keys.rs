//! The SQLite store's signing keys.

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};

use super::{SqliteStore, prepare};
use crate::domain::store::{KeyStore, StoreError, StoredKey, sql};

/// A key from its row.
fn key_from(r: &Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        kid: r.get(0)?,
        alg: r.get(1)?,
        private_sealed: r.get(2)?,
        public_jwk: r.get(3)?,
        created_at: r.get(4)?,
        activates_at: r.get(5)?,
    })
}

/// Runs a statement that takes a key's six columns in order.
fn execute_with_key(c: &Connection, statement: &str, key: &StoredKey) -> rusqlite::Result<usize> {
    prepare(c, statement)?.execute(params![
        key.kid,
        key.alg,
        key.private_sealed,
        key.public_jwk,
        key.created_at,
        key.activates_at
    ])
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.read(|c| {
            prepare(c, sql::SIGNING_KEYS)?
                .query_map([], key_from)?
                .collect()
        })
    }

    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        // SQLite has one writer, so the conditional insert is atomic as it is.
        self.write(|c| execute_with_key(c, sql::INSERT_FIRST_KEY, key))
            .await
            .map(drop)
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.write(|c| execute_with_key(c, sql::INSERT_KEY, key))
            .await
            .map(drop)
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        self.write(|c| prepare(c, sql::DELETE_KEY)?.execute([kid]))
            .await
            .map(drop)
    }
}
