//! The PostgreSQL store's grants with their codes: issued, redeemed,
//! found, revoked, renewed.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::throttle::bind_release;
use super::{PgQuery, PgStore};
use crate::domain::store::{
    CodeClaim, CodeRow, GrantRenewal, GrantRow, GrantStore, LoginOnce, Redeemed,
    STALE_CLAIM_SECONDS, StoreError, ThrottleRelease, err, sql, why_not_redeemed,
};

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
        let mut tx = self.begin().await?;
        tx.lock_subject(&g.subject).await?;
        let inserted = tx
            .run(bind_grant(sqlx::query(&STATEMENT), g, c).bind(source))
            .await?;
        tx.commit().await?;
        Ok(inserted == 1)
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
        Ok(why_not_redeemed(code, grant, used, claim))
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
        let mut tx = self.begin().await?;
        let [grants, refresh, record] = &*STATEMENTS;
        for statement in [
            sql::LOCK_SUBJECTS_OF_TOKEN,
            grants.as_str(),
            refresh.as_str(),
            record.as_str(),
        ] {
            tx.run(sqlx::query(statement).bind(id)).await?;
        }
        tx.commit().await
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
                .bind(STALE_CLAIM_SECONDS),
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
