//! The PostgreSQL store, for several instances on one database: chosen by
//! a `postgres://` store URL. Migrations run at start under sqlx's advisory
//! lock, so instances starting together apply them once; an optional schema
//! keeps deployments (and test runs) apart.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Row};

use super::{
    Cleaned, CodeClaim, CodeRow, GrantRenewal, GrantRow, LoginOnce, Redeemed, RefreshRow, Rotation,
    StoreError, StoredKey, ThrottleCount,
};

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: PostgreSQL has no single-writer limit.
    read: PgPool,
}

use super::err;

/// A schema name we are willing to put in SQL: lower-case letters, digits, `_`.
fn valid_schema(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

impl PgStore {
    /// Connects, creates `schema` if given and missing, and migrates.
    pub async fn open(
        url: &str,
        schema: Option<&str>,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        let base = PgConnectOptions::from_str(url)
            .map_err(err)?
            .log_statements(tracing::log::LevelFilter::Trace);
        let options = match schema {
            Some(schema) => {
                if !valid_schema(schema) {
                    return Err(StoreError(format!(
                        "store.schema `{schema}`: use lower-case letters, digits and _"
                    )));
                }
                let mut conn = base.connect().await.map_err(err)?;
                // Concurrent starts may both try; IF NOT EXISTS can still race,
                // so a duplicate is not an error.
                if let Err(e) = sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                    .execute(&mut conn)
                    .await
                {
                    if !e.to_string().contains("already exists")
                        && !e.to_string().contains("duplicate key")
                    {
                        return Err(err(e));
                    }
                }
                base.options([("search_path", schema)])
            }
            None => base,
        };
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(err)?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(err)?;
        Ok(Self {
            read: pool.clone(),
            pool,
        })
    }

    /// Serializes first-key creation across instances with a transaction-
    /// scoped advisory lock.
    async fn insert_first_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(7305731820191)")
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        insert_key_if_none(&mut *tx, key).await?;
        tx.commit().await.map_err(err)
    }
}

impl PgStore {
    /// The database's clock in unix seconds, as SQL.
    const NOW_SQL: &'static str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)";
}

super::sql::sql_store!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
