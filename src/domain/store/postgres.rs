//! The PostgreSQL store, for several instances on one database: chosen by
//! a `postgres://` store URL. Migrations run at start under sqlx's advisory
//! lock, so instances starting together apply them once; an optional schema
//! keeps deployments (and test runs) apart.

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{ConnectOptions, Postgres, Row};

use super::{
    Cleaned, CodeClaim, CodeRow, GrantRenewal, GrantRow, GrantStore, Housekeeping, KeyStore,
    LoginOnce, OnceStore, Redeemed, RefreshRow, RefreshStore, RevocationStore, Rotation,
    SessionStore, StoreError, StoredKey, ThrottleCount, ThrottleKeys, ThrottleRelease,
    ThrottleStore, UserRevoked, sql,
};

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

use super::err;
use super::sealed::{RowKey, SealedColumn};

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
        Ok(Self { pool })
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

    /// The database's clock in unix seconds, as SQL.
    const NOW_SQL: &'static str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)";
}

async fn insert_key_if_none<'e, E: sqlx::Executor<'e, Database = Postgres>>(
    executor: E,
    key: &StoredKey,
) -> Result<(), StoreError> {
    bind_key(sqlx::query(sql::INSERT_FIRST_KEY), key)
        .execute(executor)
        .await
        .map_err(err)?;
    Ok(())
}

/// A statement with its parameters bound.
type PgQuery<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Binds a key's six columns in statement order.
fn bind_key<'q>(query: PgQuery<'q>, key: &'q StoredKey) -> PgQuery<'q> {
    query
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_sealed)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .bind(key.activates_at)
}

/// Binds a throttle release's seven parameters ([`sql::THROTTLE_RELEASE`]):
/// the keys in lock order, the user keys they belong to, the key forgotten.
/// Binds a grant with its code (`$1`…`$21`) to an insert.
fn bind_grant<'q>(query: PgQuery<'q>, g: &'q GrantRow, c: &'q CodeRow) -> PgQuery<'q> {
    query
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
        .bind(&g.claims)
        .bind(c.login.as_ref().map(|l| l.id.as_str()))
        .bind(c.login.as_ref().map(|l| l.expires_at))
        .bind(g.keep_until)
}

fn bind_release<'q>(query: PgQuery<'q>, settle: ThrottleRelease<'q>) -> PgQuery<'q> {
    let [(k1, u1), (k2, u2), (k3, u3)] = sql::lock_order(settle.keys);
    query
        .bind(k1)
        .bind(k2)
        .bind(k3)
        .bind(u1)
        .bind(u2)
        .bind(u3)
        .bind(settle.forget.unwrap_or(""))
}

/// Runs `statement`, [`sql::INSERT_REFRESH`] or a form of it, for `r`.
async fn insert_refresh_row<'e, E: sqlx::Executor<'e, Database = Postgres>>(
    executor: E,
    statement: &str,
    r: &RefreshRow,
) -> Result<(), StoreError> {
    sqlx::query(statement)
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

/// The code and the grant of a `grants` row.
fn code_and_grant(code_hash: &[u8], r: &PgRow) -> Result<(CodeRow, GrantRow), StoreError> {
    let code = CodeRow {
        code_hash: code_hash.to_vec(),
        redirect_uri: r.try_get("redirect_uri").map_err(err)?,
        nonce: r.try_get("nonce").map_err(err)?,
        code_challenge: r.try_get("code_challenge").map_err(err)?,
        expires_at: r.try_get("code_expires_at").map_err(err)?,
        id_token_sealed: r.try_get("id_token_sealed").map_err(err)?,
        login: match (
            r.try_get::<Option<String>, _>("login_id").map_err(err)?,
            r.try_get::<Option<i64>, _>("login_expires_at")
                .map_err(err)?,
        ) {
            (Some(id), Some(expires_at)) => Some(LoginOnce { id, expires_at }),
            _ => None,
        },
    };
    Ok((code, grant_from(r)?))
}

/// A grant from its row. Written out because `revoked` is an integer in the
/// schema and `sqlx::FromRow` cannot turn it into a `bool`; every other row
/// type derives `FromRow`.
fn grant_from(row: &PgRow) -> Result<GrantRow, StoreError> {
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
        claims: row.try_get("claims").map_err(err)?,
        keep_until: row.try_get("keep_until").map_err(err)?,
    })
}

#[async_trait]
impl KeyStore for PgStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        sqlx::query_as::<_, StoredKey>(sql::SIGNING_KEYS)
            .fetch_all(&self.pool)
            .await
            .map_err(err)
    }

    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.insert_first_key(key).await
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        bind_key(sqlx::query(sql::INSERT_KEY), key)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        self.run(sqlx::query(sql::DELETE_KEY).bind(kid)).await
    }
}

#[async_trait]
impl GrantStore for PgStore {
    async fn insert_grant_with_code(
        &self,
        g: &GrantRow,
        c: &CodeRow,
        settle: Option<ThrottleRelease<'_>>,
    ) -> Result<bool, StoreError> {
        static SETTLING: LazyLock<String> = LazyLock::new(sql::insert_grant_settling);
        static CLEARING: LazyLock<String> = LazyLock::new(sql::insert_grant_clearing);
        let statement = if settle.is_some() {
            SETTLING.as_str()
        } else {
            CLEARING.as_str()
        };
        let mut query = bind_grant(sqlx::query(statement), g, c);
        if let Some(settle) = settle {
            query = bind_release(query, settle);
        }
        let done = query.execute(&self.pool).await.map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_grant_from_session(
        &self,
        source: &str,
        g: &GrantRow,
        c: &CodeRow,
    ) -> Result<bool, StoreError> {
        static STATEMENT: LazyLock<String> = LazyLock::new(sql::insert_grant_from_session);
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query(sql::LOCK_SUBJECT)
            .bind(&g.subject)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let done = bind_grant(sqlx::query(&STATEMENT), g, c)
            .bind(source)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        claim: &CodeClaim<'_>,
    ) -> Result<Redeemed, StoreError> {
        let fresh = sqlx::query(sql::REDEEM_CODE)
            .bind(code_hash)
            .bind(claim.client_id)
            .bind(claim.redirect_uri)
            .bind(claim.now)
            .bind(claim.challenge)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        if let Some(r) = fresh {
            return Ok(Redeemed::Fresh(Box::new(code_and_grant(code_hash, &r)?)));
        }
        // Why not: read the row to tell a replay from a mismatch.
        let row = sqlx::query(sql::GRANT_BY_CODE)
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        let Some(r) = row else {
            return Ok(Redeemed::Unknown);
        };
        let (code, grant) = code_and_grant(code_hash, &r)?;
        let used = r.try_get::<i64, _>("code_used").map_err(err)? != 0;
        Ok(super::why_not_redeemed(code, grant, used, claim))
    }

    async fn grants_by_token_hash(&self, token_hash: &[u8]) -> Result<Vec<GrantRow>, StoreError> {
        let rows = sqlx::query(sql::GRANTS_BY_TOKEN_HASH)
            .bind(token_hash)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(grant_from).collect()
    }

    async fn revoke_grant(&self, id: &str) -> Result<(), StoreError> {
        static STATEMENTS: LazyLock<[String; 3]> =
            LazyLock::new(|| sql::revoke_grant(PgStore::NOW_SQL));
        let mut tx = self.pool.begin().await.map_err(err)?;
        let [grants, refresh, record] = &*STATEMENTS;
        for statement in [
            sql::LOCK_SUBJECTS_OF_TOKEN,
            grants.as_str(),
            refresh.as_str(),
            record.as_str(),
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn grant(&self, id: &str) -> Result<Option<GrantRow>, StoreError> {
        let row = sqlx::query(sql::GRANT_BY_ID)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.as_ref().map(grant_from).transpose()
    }

    async fn live_grant(&self, subject: &str, now: i64) -> Result<Option<GrantRow>, StoreError> {
        let row = sqlx::query(sql::LIVE_GRANT)
            .bind(subject)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.as_ref().map(grant_from).transpose()
    }

    async fn newest_grant(&self, subject: &str) -> Result<Option<GrantRow>, StoreError> {
        let row = sqlx::query(sql::NEWEST_GRANT)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.as_ref().map(grant_from).transpose()
    }

    async fn claim_grant_renewal(
        &self,
        id: &str,
        seen: &[u8],
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        self.changed_one(
            sqlx::query(sql::CLAIM_GRANT_RENEWAL)
                .bind(id)
                .bind(now)
                .bind(seen)
                .bind(until)
                .bind(super::STALE_CLAIM_SECONDS),
        )
        .await
    }

    async fn finish_grant_renewal(
        &self,
        id: &str,
        renewed: Option<&GrantRenewal>,
    ) -> Result<bool, StoreError> {
        let query = match renewed {
            None => sqlx::query(sql::END_GRANT_RENEWAL).bind(id),
            Some(r) => sqlx::query(sql::FINISH_GRANT_RENEWAL)
                .bind(id)
                .bind(&r.token_hash)
                .bind(&r.token_sealed)
                .bind(r.token_expires_at)
                .bind(&r.legacy_refresh_sealed)
                .bind(&r.profile_json),
        };
        let done = query.execute(&self.pool).await.map_err(err)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl RefreshStore for PgStore {
    async fn insert_refresh(&self, r: &RefreshRow) -> Result<(), StoreError> {
        static KEEPING: LazyLock<String> = LazyLock::new(sql::insert_refresh_keeping);
        insert_refresh_row(&self.pool, &KEEPING, r).await
    }

    async fn refresh(&self, token_hash: &[u8]) -> Result<Option<RefreshRow>, StoreError> {
        sqlx::query_as::<_, RefreshRow>(sql::REFRESH_BY_HASH)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }

    async fn claim_refresh(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        self.changed_one(
            sqlx::query(sql::CLAIM_REFRESH)
                .bind(now)
                .bind(token_hash)
                .bind(super::STALE_CLAIM_SECONDS),
        )
        .await
    }

    async fn release_refresh(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.run(sqlx::query(sql::RELEASE_REFRESH).bind(token_hash))
            .await
    }

    async fn complete_rotation(&self, r: &Rotation) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        let rotated = sqlx::query(sql::ROTATE_GRANT_TOKEN)
            .bind(&r.token_hash)
            .bind(&r.token_sealed)
            .bind(r.token_expires_at)
            .bind(&r.legacy_refresh_sealed)
            .bind(&r.profile_json)
            .bind(&r.old_hash)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if rotated.rows_affected() == 0 {
            // Revoked meanwhile: the caller finds the grant revoked.
            return tx.commit().await.map_err(err);
        }
        let old = match &r.successor {
            Some(successor) => {
                insert_refresh_row(&mut *tx, sql::INSERT_REFRESH, successor).await?;
                sqlx::query(sql::SPEND_REFRESH)
                    .bind(r.now)
                    .bind(&r.successor_sealed)
            }
            None => sqlx::query(sql::KEEP_REFRESH).bind(r.now),
        };
        old.bind(&r.old_hash).execute(&mut *tx).await.map_err(err)?;
        tx.commit().await.map_err(err)
    }
}

#[async_trait]
impl RevocationStore for PgStore {
    async fn revoke_user(&self, subject: &str, now: i64) -> Result<UserRevoked, StoreError> {
        static RECORD: LazyLock<String> =
            LazyLock::new(|| sql::record_user_revocation(PgStore::NOW_SQL));
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query(sql::LOCK_SUBJECT)
            .bind(subject)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let mut counts = [0u64; 3];
        for (count, statement) in counts.iter_mut().zip(sql::REVOKE_USER_COUNTED) {
            *count = sqlx::query(statement)
                .bind(subject)
                .execute(&mut *tx)
                .await
                .map_err(err)?
                .rows_affected();
        }
        sqlx::query(sql::MARK_USER_REVOKED)
            .bind(subject)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query(&RECORD)
            .bind(subject)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(sql::user_revoked(counts))
    }

    async fn user_revoked_at(&self, subject: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar::<_, i64>(sql::USER_REVOKED_AT)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }

    async fn revocations_since(&self, since: i64) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let rows = sqlx::query_as::<_, (String, i64)>(sql::REVOCATIONS_SINCE)
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        Ok((rows, self.database_now().await?))
    }

    async fn database_now(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar::<_, i64>(&sql::database_now(Self::NOW_SQL))
            .fetch_one(&self.pool)
            .await
            .map_err(err)
    }
}

#[async_trait]
impl ThrottleStore for PgStore {
    async fn throttle_reserve(
        &self,
        keys: ThrottleKeys<'_>,
        now: i64,
        window: i64,
    ) -> Result<Vec<ThrottleCount>, StoreError> {
        let [(k1, u1), (k2, u2), (k3, u3)] = sql::lock_order(keys);
        sqlx::query_as::<_, ThrottleCount>(sql::THROTTLE_RESERVE)
            .bind(k1)
            .bind(k2)
            .bind(k3)
            .bind(u1)
            .bind(u2)
            .bind(u3)
            .bind(now)
            .bind(window)
            .fetch_all(&self.pool)
            .await
            .map_err(err)
    }

    async fn throttle_release(&self, settle: ThrottleRelease<'_>) -> Result<(), StoreError> {
        self.run(bind_release(sqlx::query(sql::THROTTLE_RELEASE), settle))
            .await
    }

    async fn throttle_lock(&self, key: &str, max: i64, until: i64) -> Result<(), StoreError> {
        self.run(
            sqlx::query(sql::THROTTLE_LOCK)
                .bind(key)
                .bind(max)
                .bind(until),
        )
        .await
    }

    async fn throttle_clear(&self, user: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(sql::THROTTLE_CLEAR_IN_KEY_ORDER)
            .bind(user)
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected())
    }
}

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

#[async_trait]
impl Housekeeping for PgStore {
    async fn sealed_values(
        &self,
        column: SealedColumn,
        after: &RowKey,
        batch: i64,
    ) -> Result<Vec<(RowKey, Vec<u8>)>, StoreError> {
        let sql = column.select_batch();
        let query = match after {
            RowKey::Text(k) => sqlx::query(&sql).bind(k.clone()),
            RowKey::Blob(k) => sqlx::query(&sql).bind(k.clone()),
        };
        let rows = query.bind(batch).fetch_all(&self.pool).await.map_err(err)?;
        rows.iter()
            .map(|r| {
                let key = if column.text_key() {
                    RowKey::Text(r.try_get(0)?)
                } else {
                    RowKey::Blob(r.try_get(0)?)
                };
                Ok((key, r.try_get(1)?))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(err)
    }

    async fn replace_sealed(
        &self,
        column: SealedColumn,
        key: &RowKey,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = column.replace();
        let query = sqlx::query(&sql).bind(new.to_vec());
        let query = match key {
            RowKey::Text(k) => query.bind(k.clone()),
            RowKey::Blob(k) => query.bind(k.clone()),
        };
        self.changed_one(query.bind(old.to_vec())).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(sqlx::query("SELECT 1")).await
    }

    async fn cleanup(&self, now: i64, batch: i64) -> Result<Cleaned, StoreError> {
        let mut removed = Vec::with_capacity(sql::CLEANUP.len());
        for statement in sql::CLEANUP {
            let done = sqlx::query(statement)
                .bind(now)
                .bind(batch)
                .execute(&self.pool)
                .await
                .map_err(err)?;
            removed.push(done.rows_affected());
        }
        Ok(Cleaned::from_counts(&removed))
    }
}
