//! The embedded SQLite store (sqlx, WAL mode, migrations at start). One file
//! in the data directory.
//!
//! Durability: in WAL mode a committed transaction is in the WAL file before
//! the statement returns, so a crash of the process (`kill -9`) loses
//! nothing acknowledged; `synchronous=NORMAL` skips the fsync per commit
//! (the WAL is synced at checkpoints), so only a power loss or kernel crash
//! could lose the last transactions. `[store] sqlite_full_sync = true` makes
//! every commit fsync, for that case too, at a cost in throughput.
//!
//! SQLite has one writer at a time; writes go through a pool of one
//! connection so they queue in the pool instead of sleeping in SQLite's busy
//! handler, and reads use their own pool (WAL readers never block the writer).

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{
    Cleaned, CodeClaim, CodeRow, GrantRenewal, GrantRow, LoginOnce, Redeemed, RefreshRow, Rotation,
    StoreError, StoredKey, ThrottleCount,
};

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: every write.
    pool: SqlitePool,
    /// Several connections: reads.
    read: SqlitePool,
}

use super::err;

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path, full_sync: bool) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if full_sync {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(err)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(err)?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(err)?;
        Ok(Self { pool, read })
    }
}

impl SqliteStore {
    /// SQLite has one writer, so the conditional insert is atomic as it is.
    async fn insert_first_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        insert_key_if_none(&self.pool, key).await
    }
}

impl SqliteStore {
    /// The database's clock in unix seconds, as SQL.
    const NOW_SQL: &'static str = "CAST(strftime('%s', 'now') AS INTEGER)";
}

super::sql::sql_store!(SqliteStore, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
