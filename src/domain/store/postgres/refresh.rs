//! The PostgreSQL store's refresh-token families: issued, claimed, rotated.

use std::sync::LazyLock;

use async_trait::async_trait;

use super::{PgQuery, PgStore};
use crate::domain::store::{
    RefreshRow, RefreshStore, Rotation, STALE_CLAIM_SECONDS, StoreError, err, sql,
};

/// Binds a refresh token's columns to [`sql::INSERT_REFRESH`] or a form of
/// it.
fn bind_refresh<'q>(query: PgQuery<'q>, r: &'q RefreshRow) -> PgQuery<'q> {
    query
        .bind(&r.token_hash)
        .bind(&r.grant_id)
        .bind(&r.client_id)
        .bind(&r.scope)
        .bind(r.state.code())
        .bind(r.created_at)
        .bind(r.family_expires_at)
        .bind(r.last_used_at)
}

#[async_trait]
impl RefreshStore for PgStore {
    async fn insert_refresh(&self, r: &RefreshRow) -> Result<(), StoreError> {
        static KEEPING: LazyLock<String> = LazyLock::new(sql::insert_refresh_keeping);
        self.run(bind_refresh(sqlx::query(&KEEPING), r)).await
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
                .bind(STALE_CLAIM_SECONDS),
        )
        .await
    }

    async fn release_refresh(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.run(sqlx::query(sql::RELEASE_REFRESH).bind(token_hash))
            .await
    }

    async fn complete_rotation(&self, r: &Rotation) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let rotated = tx
            .run(
                sqlx::query(sql::ROTATE_GRANT_TOKEN)
                    .bind(&r.token_hash)
                    .bind(&r.token_sealed)
                    .bind(r.token_expires_at)
                    .bind(&r.legacy_refresh_sealed)
                    .bind(&r.profile_json)
                    .bind(&r.old_hash),
            )
            .await?;
        if rotated == 0 {
            // Revoked meanwhile: the caller finds the grant revoked.
            return tx.commit().await;
        }
        let old = match &r.successor {
            Some(successor) => {
                tx.run(bind_refresh(sqlx::query(sql::INSERT_REFRESH), successor))
                    .await?;
                sqlx::query(sql::SPEND_REFRESH)
                    .bind(r.now)
                    .bind(&r.successor_sealed)
            }
            None => sqlx::query(sql::KEEP_REFRESH).bind(r.now),
        };
        tx.run(old.bind(&r.old_hash)).await?;
        tx.commit().await
    }
}
