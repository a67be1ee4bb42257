//! The SQL both backends share: one implementation of [`Store`] written
//! once, instantiated for SQLite and for PostgreSQL. Placeholders are `$n`,
//! which both accept (SQLite reads them as named parameters numbered in
//! order of first appearance). Each backend supplies `pool` (writes),
//! `read` (reads), the one operation that needs its own locking:
//! `insert_first_key`, and `NOW_SQL`, its clock as SQL.
//!
//! [`Store`]: super::Store

/// Implements `Store` for `$ty`, a struct with `pool` and `read` pools of
/// database `$db` whose rows are `$row`.
macro_rules! sql_store {
    ($ty:ty, $db:ty, $row:ty) => {
async fn insert_key_if_none<'e, E: sqlx::Executor<'e, Database = $db>>(executor: E, key: &StoredKey) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, private_sealed, public_jwk, created_at, activates_at) \
         SELECT $1, $2, $3, $4, $5, $6 WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE alg = $2)",
    )
    .bind(&key.kid)
    .bind(&key.alg)
    .bind(&key.private_sealed)
    .bind(&key.public_jwk)
    .bind(key.created_at)
    .bind(key.activates_at)
    .execute(executor)
    .await
    .map_err(err)?;
    Ok(())
}

async fn insert_refresh_row<'e, E: sqlx::Executor<'e, Database = $db>>(
    executor: E,
    r: &RefreshRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scope, state, created_at, family_expires_at, last_used_at, rotated_at, successor_sealed) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)",
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

/// The code and the grant of a `grants` row.
fn code_and_grant(code_hash: &[u8], r: &$row) -> Result<(CodeRow, GrantRow), StoreError> {
    let code = CodeRow {
        code_hash: code_hash.to_vec(),
        redirect_uri: r.try_get("redirect_uri").map_err(err)?,
        nonce: r.try_get("nonce").map_err(err)?,
        code_challenge: r.try_get("code_challenge").map_err(err)?,
        expires_at: r.try_get("code_expires_at").map_err(err)?,
        id_token_sealed: r.try_get("id_token_sealed").map_err(err)?,
        login: match (r.try_get::<Option<String>, _>("login_id").map_err(err)?, r.try_get::<Option<i64>, _>("login_expires_at").map_err(err)?) {
            (Some(id), Some(expires_at)) => Some(LoginOnce { id, expires_at }),
            _ => None,
        },
    };
    Ok((code, grant_from(r)?))
}

/// A grant from its row. Written out because `revoked` is an integer in
/// both schemas and `sqlx::FromRow` cannot turn it into a `bool` for
/// PostgreSQL; every other row type derives `FromRow`.
fn grant_from(row: &$row) -> Result<GrantRow, StoreError> {
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
    })
}

#[async_trait]
impl $crate::store::Store for $ty {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await.map_err(err)?;
        Ok(())
    }

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        sqlx::query_as::<_, StoredKey>("SELECT kid, alg, private_sealed, public_jwk, created_at, activates_at FROM signing_keys ORDER BY activates_at, created_at, kid")
            .fetch_all(&self.read)
            .await
            .map_err(err)
    }

    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.insert_first_key(key).await
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_sealed, public_jwk, created_at, activates_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_sealed)
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .bind(key.activates_at)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM signing_keys WHERE kid = $1").bind(kid).execute(&self.pool).await.map_err(err)?;
        Ok(())
    }

    async fn insert_grant_with_code(&self, g: &GrantRow, c: &CodeRow) -> Result<bool, StoreError> {
        // A second code from one login form meets the unique login_id and
        // stores nothing.
        let done = sqlx::query(
            "INSERT INTO grants (id, client_id, subject, scope, profile_json, token_hash, token_sealed, legacy_refresh_sealed, token_expires_at, auth_time, revoked, created_at, code_hash, redirect_uri, nonce, code_challenge, code_expires_at, code_used, id_token_sealed, claims, login_id, login_expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13, $14, $15, $16, 0, $17, $18, $19, $20) \
             ON CONFLICT (login_id) DO NOTHING",
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
        .bind(&g.claims)
        .bind(c.login.as_ref().map(|l| l.id.as_str()))
        .bind(c.login.as_ref().map(|l| l.expires_at))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn redeem_code(&self, code_hash: &[u8], claim: &CodeClaim<'_>) -> Result<Redeemed, StoreError> {
        // One statement flips `code_used` only for a claim that matches in
        // full, so of two concurrent redemptions only one gets the row back,
        // and a mismatched claim spends nothing.
        let fresh = sqlx::query(
            "UPDATE grants SET code_used = 1 WHERE code_hash = $1 AND code_used = 0 \
             AND client_id = $2 AND redirect_uri = $3 AND code_expires_at >= $4 \
             AND ((code_challenge IS NULL AND CAST($5 AS TEXT) IS NULL) OR code_challenge = CAST($5 AS TEXT)) \
             RETURNING *",
        )
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
        let row = sqlx::query("SELECT * FROM grants WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        let Some(r) = row else {
            return Ok(Redeemed::Unknown);
        };
        let (code, grant) = code_and_grant(code_hash, &r)?;
        if grant.client_id != claim.client_id {
            return Ok(Redeemed::Unknown);
        }
        if r.try_get::<i64, _>("code_used").map_err(err)? != 0 {
            return Ok(Redeemed::Replayed { grant_id: grant.id });
        }
        Ok(Redeemed::Mismatch(Box::new((code, grant))))
    }

    async fn grants_by_token_hash(&self, token_hash: &[u8]) -> Result<Vec<GrantRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM grants WHERE token_hash = $1 ORDER BY revoked, created_at DESC, id",
        )
        .bind(token_hash)
        .fetch_all(&self.read)
        .await
        .map_err(err)?;
        rows.iter().map(grant_from).collect()
    }

    async fn revoke_grant(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query(
            "UPDATE refresh_tokens SET state = 3 WHERE grant_id IN \
             (SELECT id FROM grants WHERE token_hash = (SELECT token_hash FROM grants WHERE id = $1))",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        // Stamped by the database's clock, which every gateway reads too.
        let record = format!(
            "INSERT INTO revocations (subject, revoked_at) SELECT DISTINCT subject, {} FROM grants \
             WHERE token_hash = (SELECT token_hash FROM grants WHERE id = $1)",
            Self::NOW_SQL
        );
        sqlx::query(&record)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        sqlx::query("UPDATE grants SET revoked = 1 WHERE token_hash = (SELECT token_hash FROM grants WHERE id = $1)")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn revocations_since(&self, since: i64) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let rows = sqlx::query_as::<_, (String, i64)>(
            "SELECT subject, MAX(id) FROM revocations WHERE revoked_at >= $1 GROUP BY subject",
        )
        .bind(since)
        .fetch_all(&self.read)
        .await
        .map_err(err)?;
        Ok((rows, self.database_now().await?))
    }

    async fn database_now(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar::<_, i64>(&format!("SELECT {}", Self::NOW_SQL))
            .fetch_one(&self.read)
            .await
            .map_err(err)
    }

    async fn grant(&self, id: &str) -> Result<Option<GrantRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(err)?;
        row.as_ref().map(grant_from).transpose()
    }

    async fn live_grant(&self, subject: &str, now: i64) -> Result<Option<GrantRow>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM grants WHERE subject = $1 AND revoked = 0 \
             AND (token_expires_at > $2 OR legacy_refresh_sealed IS NOT NULL) \
             ORDER BY token_expires_at DESC LIMIT 1",
        )
        .bind(subject)
        .bind(now)
        .fetch_optional(&self.read)
        .await
        .map_err(err)?;
        row.as_ref().map(grant_from).transpose()
    }

    async fn newest_grant(&self, subject: &str) -> Result<Option<GrantRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM grants WHERE subject = $1 ORDER BY created_at DESC, id LIMIT 1")
            .bind(subject)
            .fetch_optional(&self.read)
            .await
            .map_err(err)?;
        row.as_ref().map(grant_from).transpose()
    }

    async fn claim_grant_renewal(&self, id: &str, seen: &[u8], now: i64, until: i64) -> Result<bool, StoreError> {
        // Not while a refresh token of the grant holds its own (fresh)
        // claim: one renewal of a legacy refresh token at a time.
        let done = sqlx::query(
            "UPDATE grants SET renewing_until = $4 WHERE id = $1 AND revoked = 0 \
             AND token_hash = $3 AND (renewing_until IS NULL OR renewing_until < $2) \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = $1 AND r.state = 1 AND r.last_used_at >= $2 - $5)",
        )
        .bind(id)
        .bind(now)
        .bind(seen)
        .bind(until)
        .bind(super::STALE_CLAIM_SECONDS)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_grant_renewal(&self, id: &str, renewed: Option<&GrantRenewal>) -> Result<bool, StoreError> {
        let done = match renewed {
            None => sqlx::query("UPDATE grants SET renewing_until = NULL WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(err)?,
            Some(r) => sqlx::query(
                "UPDATE grants SET token_hash = $2, token_sealed = $3, token_expires_at = $4, \
                 legacy_refresh_sealed = COALESCE($5, legacy_refresh_sealed), \
                 profile_json = COALESCE($6, profile_json), renewing_until = NULL WHERE id = $1 AND revoked = 0",
            )
            .bind(id)
            .bind(&r.token_hash)
            .bind(&r.token_sealed)
            .bind(r.token_expires_at)
            .bind(&r.legacy_refresh_sealed)
            .bind(&r.profile_json)
            .execute(&self.pool)
            .await
            .map_err(err)?,
        };
        Ok(done.rows_affected() == 1)
    }

    async fn insert_refresh(&self, r: &RefreshRow) -> Result<(), StoreError> {
        insert_refresh_row(&self.pool, r).await
    }

    async fn refresh(&self, token_hash: &[u8]) -> Result<Option<RefreshRow>, StoreError> {
        sqlx::query_as::<_, RefreshRow>("SELECT * FROM refresh_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(&self.read)
            .await
            .map_err(err)
    }

    async fn claim_refresh(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        // A claim older than STALE_CLAIM_SECONDS belonged to a renewal that
        // never finished (the process died mid-way): it may be taken over.
        let done = sqlx::query(
            "UPDATE refresh_tokens SET state = 1, last_used_at = $1 \
             WHERE token_hash = $2 AND (state = 0 OR (state = 1 AND last_used_at < $1 - $3)) \
             AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = refresh_tokens.grant_id AND g.renewing_until >= $1)",
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
        sqlx::query("UPDATE refresh_tokens SET state = 0 WHERE token_hash = $1 AND state = 1")
            .bind(token_hash)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn complete_rotation(&self, r: &Rotation) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query(
            "UPDATE grants SET token_hash = $1, token_sealed = $2, token_expires_at = $3, \
             legacy_refresh_sealed = COALESCE($4, legacy_refresh_sealed), profile_json = COALESCE($5, profile_json) \
             WHERE id = (SELECT grant_id FROM refresh_tokens WHERE token_hash = $6)",
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
            sqlx::query("UPDATE refresh_tokens SET state = 2, rotated_at = $1, successor_sealed = $2 WHERE token_hash = $3")
                .bind(r.now)
                .bind(&r.successor_sealed)
                .bind(&r.old_hash)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        } else {
            sqlx::query("UPDATE refresh_tokens SET state = 0, rotated_at = $1, last_used_at = $2 WHERE token_hash = $3")
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
        let sessions = sqlx::query("DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < $1 LIMIT $2)")
            .bind(now)
            .bind(batch)
            .execute(&self.pool)
            .await
            .map_err(err)?
            .rows_affected();
        let refresh_tokens = sqlx::query(
            "DELETE FROM refresh_tokens WHERE token_hash IN \
             (SELECT token_hash FROM refresh_tokens WHERE family_expires_at < $1 OR state = 3 LIMIT $2)",
        )
        .bind(now)
        .bind(batch)
        .execute(&self.pool)
        .await
        .map_err(err)?
        .rows_affected();
        // A grant goes once its code can no longer be redeemed, its legacy
        // token is expired or revoked, no live refresh family needs it, and
        // the login form that made it has expired (so it cannot be reused).
        let grants = sqlx::query(
            "DELETE FROM grants WHERE id IN (SELECT g.id FROM grants g WHERE g.code_expires_at < $1 \
             AND (g.revoked = 1 OR g.token_expires_at < $1) \
             AND (g.login_expires_at IS NULL OR g.login_expires_at < $1) \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = g.id AND r.state < 3 AND r.family_expires_at >= $1) \
             LIMIT $2)",
        )
        .bind(now)
        .bind(batch)
        .execute(&self.pool)
        .await
        .map_err(err)?
        .rows_affected();
        sqlx::query("DELETE FROM revocations WHERE revoked_at < $1 - 3600")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        sqlx::query("DELETE FROM client_assertions WHERE key IN (SELECT key FROM client_assertions WHERE expires_at < $1 LIMIT $2)")
            .bind(now)
            .bind(batch)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        sqlx::query("DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle WHERE locked_until < $1 AND window_started_at < $1 - 86400 LIMIT $2)")
            .bind(now)
            .bind(batch)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(Cleaned {
            grants,
            refresh_tokens,
            sessions,
        })
    }

    async fn throttle_reserve(&self, user: &str, address: &str, now: i64, window: i64) -> Result<Vec<ThrottleCount>, StoreError> {
        // Every SET expression reads the row as it was: a live lockout keeps
        // everything; an ended lockout or an old window starts afresh. The
        // rows are written, and so locked, in key order, as in
        // `throttle_release`: two statements locking the same two rows in
        // opposite orders deadlock on PostgreSQL.
        let [first, second] = crate::store::sql::lock_order([user, address]);
        sqlx::query_as::<_, ThrottleCount>(
            "INSERT INTO login_throttle (key, failures, window_started_at, locked_until) \
             VALUES ($1, 1, $3, 0), ($2, 1, $3, 0) \
             ON CONFLICT (key) DO UPDATE SET \
               failures = CASE WHEN login_throttle.locked_until > $3 THEN login_throttle.failures \
                               WHEN login_throttle.locked_until > 0 OR login_throttle.window_started_at < $3 - $4 THEN 1 \
                               ELSE login_throttle.failures + 1 END, \
               window_started_at = CASE WHEN login_throttle.locked_until > $3 THEN login_throttle.window_started_at \
                               WHEN login_throttle.locked_until > 0 OR login_throttle.window_started_at < $3 - $4 THEN $3 \
                               ELSE login_throttle.window_started_at END, \
               locked_until = CASE WHEN login_throttle.locked_until > $3 THEN login_throttle.locked_until ELSE 0 END \
             RETURNING key, failures, locked_until",
        )
        .bind(first)
        .bind(second)
        .bind(now)
        .bind(window)
        .fetch_all(&self.pool)
        .await
        .map_err(err)
    }

    async fn throttle_release(&self, keys: [&str; 2], forget: Option<&str>) -> Result<(), StoreError> {
        // An upsert, not `UPDATE … WHERE key = $1 OR key = $2`: the rows of a
        // multi-row upsert are locked in the order of its VALUES (key order,
        // as in `throttle_reserve`), while an UPDATE's scan locks them in
        // whatever order it finds them. A row cleaned up meanwhile comes back
        // with no failures, which cleanup removes again.
        let [first, second] = crate::store::sql::lock_order(keys);
        sqlx::query(
            "INSERT INTO login_throttle (key, failures, window_started_at, locked_until) \
             VALUES ($1, 0, 0, 0), ($2, 0, 0, 0) \
             ON CONFLICT (key) DO UPDATE SET failures = CASE \
               WHEN login_throttle.key = $3 OR login_throttle.failures <= 0 THEN 0 \
               ELSE login_throttle.failures - 1 END",
        )
        .bind(first)
        .bind(second)
        .bind(forget.unwrap_or(""))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn throttle_lock(&self, key: &str, max: i64, until: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE login_throttle SET locked_until = $3 WHERE key = $1 AND failures >= $2 AND locked_until < $3")
            .bind(key)
            .bind(max)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn use_assertion(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO client_assertions (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_session(&self, id: &str, data: &str, expires_at: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(data)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn save_session(&self, id: &str, data: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at")
            .bind(id)
            .bind(data)
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn load_session(&self, id: &str, now: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT data FROM sessions WHERE id = $1 AND expires_at > $2")
            .bind(id)
            .bind(now)
            .fetch_optional(&self.read)
            .await
            .map_err(err)?;
        row.map(|r| r.try_get("data").map_err(err)).transpose()
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }
}
    };
}

pub(crate) use sql_store;

/// Two throttle keys in the one order every statement locks their rows in.
pub(crate) fn lock_order([a, b]: [&str; 2]) -> [&str; 2] {
    if a <= b { [a, b] } else { [b, a] }
}
