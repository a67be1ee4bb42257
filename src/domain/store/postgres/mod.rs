//! The PostgreSQL store, for several instances on one database: chosen by
//! a `postgres://` store URL. Migrations run at start under sqlx's advisory
//! lock, so instances starting together apply them once; an optional schema
//! keeps deployments (and test runs) apart.
//!
//! One module per narrow trait, as the traits split the store: `keys`,
//! `grants` (codes and grants), `refresh`, `users` (revocation and the
//! gateways' events), `throttle`, `once` (single-use values), `sessions`,
//! and `housekeeping`. This module holds the pool and the ways to run on
//! it: a single statement (`run`, `changed_one`), or a transaction
//! (`begin`, then `Tx::run` and `Tx::commit`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres};

use super::{StoreError, err, sql};

mod grants;
mod housekeeping;
mod keys;
mod once;
mod refresh;
mod sessions;
mod throttle;
mod users;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

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
        let pool = match PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await
        {
            Ok(pool) => pool,
            // The pool says only that it waited ("pool timed out while
            // waiting for an open connection"); one direct connection says
            // why (refused, no such host, authentication), which is what an
            // operator reading `serve`'s refusal needs. Boxed: a connection's
            // future is large, and every caller's future would carry it.
            Err(sqlx::Error::PoolTimedOut) => {
                return Err(
                    match Box::pin(tokio::time::timeout(
                        Duration::from_secs(5),
                        options.connect(),
                    ))
                    .await
                    {
                        Ok(Err(cause)) => err(format!("cannot connect to PostgreSQL: {cause}")),
                        Ok(Ok(_)) | Err(_) => err(sqlx::Error::PoolTimedOut),
                    },
                );
            }
            Err(e) => return Err(err(e)),
        };
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(err)?;
        Ok(Self { pool })
    }
}

impl PgStore {
    /// Runs a write.
    async fn run(&self, query: PgQuery<'_>) -> Result<(), StoreError> {
        query.execute(&self.pool).await.map_err(err)?;
        Ok(())
    }

    /// Runs a write; whether it changed exactly one row.
    async fn changed_one(&self, query: PgQuery<'_>) -> Result<bool, StoreError> {
        Ok(query
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected()
            == 1)
    }

    /// Begins a transaction.
    async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(Tx(self.pool.begin().await.map_err(err)?))
    }

    /// The database's clock in unix seconds, as SQL.
    const NOW_SQL: &'static str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)";
}

/// One transaction on a pooled connection: its statements run with
/// [`Tx::run`]; dropped before [`Tx::commit`], it rolls back.
struct Tx(sqlx::Transaction<'static, Postgres>);

impl Tx {
    /// Runs a statement in the transaction; the rows it changed.
    async fn run(&mut self, query: PgQuery<'_>) -> Result<u64, StoreError> {
        Ok(query
            .execute(&mut *self.0)
            .await
            .map_err(err)?
            .rows_affected())
    }

    /// Takes the subject's advisory lock ([`sql::LOCK_SUBJECT`]) until the
    /// transaction ends.
    async fn lock_subject(&mut self, subject: &str) -> Result<(), StoreError> {
        self.run(sqlx::query(sql::LOCK_SUBJECT).bind(subject))
            .await
            .map(drop)
    }

    /// Commits.
    async fn commit(self) -> Result<(), StoreError> {
        self.0.commit().await.map_err(err)
    }
}

/// A statement with its parameters bound.
type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;
