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
    Cleaned, CodeRow, GrantRow, Redeemed, RefreshRow, RefreshState, Rotation, Store, StoreError,
    StoredKey,
};

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: every write.
    pool: SqlitePool,
    /// Several connections: reads.
    read: SqlitePool,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

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

async fn insert_refresh_row<'e, E: sqlx::Executor<'e, Database = sqlx::Sqlite>>(
    executor: E,
    r: &RefreshRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scope, state, created_at, family_expires_at, last_used_at, rotated_at, successor_sealed) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
    )
    .bind(&r.token_hash)
    .bind(&r.grant_id)
    .bind(&r.client_id)
    .bind(&r.scope)
    .bind(r.state.code())
    .bind(r.created_at)
    .bind(r.family_expires_at)
    .bind(r.last_used_at)
    .execute(executor)
    .await
    .map_err(err)?;
    Ok(())
}

fn refresh_from(row: &sqlx::sqlite::SqliteRow) -> Result<RefreshRow, StoreError> {
    Ok(RefreshRow {
        token_hash: row.try_get("token_hash").map_err(err)?,
        grant_id: row.try_get("grant_id").map_err(err)?,
        client_id: row.try_get("client_id").map_err(err)?,
        scope: row.try_get("scope").map_err(err)?,
        state: RefreshState::from_code(row.try_get("state").map_err(err)?),
        created_at: row.try_get("created_at").map_err(err)?,
        family_expires_at: row.try_get("family_expires_at").map_err(err)?,
        last_used_at: row.try_get("last_used_at").map_err(err)?,
        rotated_at: row.try_get("rotated_at").map_err(err)?,
        successor_sealed: row.try_get("successor_sealed").map_err(err)?,
    })
}

fn grant_from(row: &sqlx::sqlite::SqliteRow) -> Result<GrantRow, StoreError> {
    Ok(GrantRow {
        id: row.try_get("id").map_err(err)?,
        client_id: row.try_get("client_id").map_err(err)?,
        subject: row.try_get("subject").map_err(err)?,
        scope: row.try_get("scope").map_err(err)?,
        profile_json: row.try_get("profile_json").map_err(err)?,
        token_hash: row.try_get("token_hash").map_err(err)?,
        token_sealed: row.try_get("token_sealed").map_err(err)?,
        legacy_refresh_sealed: row.try_get("legacy_refresh_sealed").map_err(err)?,
        token_expires_at: row.try_get("token_expires_at").map_err(err)?,
        auth_time: row.try_get("auth_time").map_err(err)?,
        revoked: row.try_get::<i64, _>("revoked").map_err(err)? != 0,
        created_at: row.try_get("created_at").map_err(err)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query("SELECT kid, alg, private_sealed, public_jwk, created_at FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(&self.read)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(StoredKey {
                    kid: r.try_get("kid").map_err(err)?,
                    alg: r.try_get("alg").map_err(err)?,
                    private_sealed: r.try_get("private_sealed").map_err(err)?,
                    public_jwk: r.try_get("public_jwk").map_err(err)?,
                    created_at: r.try_get("created_at").map_err(err)?,
                })
            })
            .collect()
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO signing_keys (kid, alg, private_sealed, public_jwk, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.private_sealed)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn insert_grant_with_code(&self, g: &GrantRow, c: &CodeRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO grants (id, client_id, subject, scope, profile_json, token_hash, token_sealed, legacy_refresh_sealed, token_expires_at, auth_time, revoked, created_at, code_hash, redirect_uri, nonce, code_challenge, code_expires_at, code_used, id_token_sealed) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, 0, ?)",
        )
        .bind(&g.id)
        .bind(&g.client_id)
        .bind(&g.subject)
        .bind(&g.scope)
        .bind(&g.profile_json)
        .bind(&g.token_hash)
        .bind(&g.token_sealed)
        .bind(&g.legacy_refresh_sealed)
        .bind(g.token_expires_at)
        .bind(g.auth_time)
        .bind(g.created_at)
        .bind(&c.code_hash)
        .bind(&c.redirect_uri)
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(c.expires_at)
        .bind(&c.id_token_sealed)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &[u8]) -> Result<Redeemed, StoreError> {
        // One statement flips `code_used`, so of two concurrent redemptions
        // only one gets the row back.
        let fresh = sqlx::query(
            "UPDATE grants SET code_used = 1 WHERE code_hash = ? AND code_used = 0 RETURNING *",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        if let Some(r) = fresh {
            let code = CodeRow {
                code_hash: code_hash.to_vec(),
                redirect_uri: r.try_get("redirect_uri").map_err(err)?,
                nonce: r.try_get("nonce").map_err(err)?,
                code_challenge: r.try_get("code_challenge").map_err(err)?,
                expires_at: r.try_get("code_expires_at").map_err(err)?,
                id_token_sealed: r.try_get("id_token_sealed").map_err(err)?,
            };
            return Ok(Redeemed::Fresh(Box::new((code, grant_from(&r)?))));
        }
        let used = sqlx::query("SELECT id FROM grants WHERE code_hash = ?")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        Ok(match used {
            Some(r) => Redeemed::Replayed {
                grant_id: r.try_get("id").map_err(err)?,
            },
            None => Redeemed::Unknown,
        })
    }

    async fn grant_by_token_hash(&self, token_hash: &[u8]) -> Result<Option<GrantRow>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM grants WHERE token_hash = ? ORDER BY created_at DESC LIMIT 1",
        )
        .bind(token_hash)
        .fetch_optional(&self.read)
        .await
        .map_err(err)?;
        row.as_ref().map(grant_from).transpose()
    }

    async fn revoke_grant(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("UPDATE grants SET revoked = 1 WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("UPDATE refresh_tokens SET state = 3 WHERE grant_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn grant(&self, id: &str) -> Result<Option<GrantRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM grants WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(err)?;
        row.as_ref().map(grant_from).transpose()
    }

    async fn insert_refresh(&self, r: &RefreshRow) -> Result<(), StoreError> {
        insert_refresh_row(&self.pool, r).await
    }

    async fn refresh(&self, token_hash: &[u8]) -> Result<Option<RefreshRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await
            .map_err(err)?;
        row.as_ref().map(refresh_from).transpose()
    }

    async fn claim_refresh(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        // A claim older than STALE_CLAIM_SECONDS belonged to a renewal that
        // never finished (the process died mid-way): it may be taken over.
        let done = sqlx::query(
            "UPDATE refresh_tokens SET state = 1, last_used_at = ?1 \
             WHERE token_hash = ?2 AND (state = 0 OR (state = 1 AND last_used_at < ?1 - ?3))",
        )
        .bind(now)
        .bind(token_hash)
        .bind(super::STALE_CLAIM_SECONDS)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_refresh(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE refresh_tokens SET state = 0 WHERE token_hash = ? AND state = 1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn complete_rotation(&self, r: &Rotation) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query(
            "UPDATE grants SET token_hash = ?, token_sealed = ?, token_expires_at = ?, \
             legacy_refresh_sealed = COALESCE(?, legacy_refresh_sealed), profile_json = COALESCE(?, profile_json) \
             WHERE id = (SELECT grant_id FROM refresh_tokens WHERE token_hash = ?)",
        )
        .bind(&r.token_hash)
        .bind(&r.token_sealed)
        .bind(r.token_expires_at)
        .bind(&r.legacy_refresh_sealed)
        .bind(&r.profile_json)
        .bind(&r.old_hash)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        if let Some(successor) = &r.successor {
            insert_refresh_row(&mut *tx, successor).await?;
            sqlx::query("UPDATE refresh_tokens SET state = 2, rotated_at = ?, successor_sealed = ? WHERE token_hash = ?")
                .bind(r.now)
                .bind(&r.successor_sealed)
                .bind(&r.old_hash)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        } else {
            sqlx::query("UPDATE refresh_tokens SET state = 0, rotated_at = ?, last_used_at = ? WHERE token_hash = ?")
                .bind(r.now)
                .bind(r.now)
                .bind(&r.old_hash)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn cleanup(&self, now: i64, batch: i64) -> Result<Cleaned, StoreError> {
        let sessions = sqlx::query("DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < ? LIMIT ?)")
            .bind(now)
            .bind(batch)
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected();
        let refresh_tokens = sqlx::query(
            "DELETE FROM refresh_tokens WHERE token_hash IN \
             (SELECT token_hash FROM refresh_tokens WHERE family_expires_at < ? OR state = 3 LIMIT ?)",
        )
        .bind(now)
        .bind(batch)
        .execute(&self.pool)
        .await
        .map_err(err)?
        .rows_affected();
        // A grant goes once its code can no longer be redeemed, its legacy
        // token is expired or revoked, and no live refresh family needs it.
        let grants = sqlx::query(
            "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g WHERE g.code_expires_at < ?1 \
             AND (g.revoked = 1 OR g.token_expires_at < ?1) \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id AND r.state < 3 AND r.family_expires_at >= ?1) \
             LIMIT ?2)",
        )
        .bind(now)
        .bind(batch)
        .execute(&self.pool)
        .await
        .map_err(err)?
        .rows_affected();
        Ok(Cleaned {
            grants,
            refresh_tokens,
            sessions,
        })
    }

    async fn save_session(&self, id: &str, data: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (id, data, expires_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at")
            .bind(id)
            .bind(data)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn load_session(&self, id: &str, now: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT data FROM sessions WHERE id = ? AND expires_at > ?")
            .bind(id)
            .bind(now)
            .fetch_optional(&self.read)
            .await
            .map_err(err)?;
        row.map(|r| r.try_get("data").map_err(err)).transpose()
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }
}
