//! The SQLite store's refresh-token families: issued, claimed, rotated.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{SqliteStore, prepare};
use crate::domain::store::{
    RefreshRow, RefreshState, RefreshStore, Rotation, STALE_CLAIM_SECONDS, StoreError, sql,
};

/// A refresh token from its row (`SELECT *`).
fn refresh_from(r: &Row<'_>) -> rusqlite::Result<RefreshRow> {
    Ok(RefreshRow {
        token_hash: r.get("token_hash")?,
        grant_id: r.get("grant_id")?,
        client_id: r.get("client_id")?,
        scope: r.get("scope")?,
        state: RefreshState::from_code(r.get("state")?),
        created_at: r.get("created_at")?,
        family_expires_at: r.get("family_expires_at")?,
        last_used_at: r.get("last_used_at")?,
        rotated_at: r.get("rotated_at")?,
        successor_sealed: r.get("successor_sealed")?,
    })
}

/// Runs [`sql::INSERT_REFRESH`] for `r`.
fn insert_refresh_row(c: &Connection, r: &RefreshRow) -> rusqlite::Result<usize> {
    prepare(c, sql::INSERT_REFRESH)?.execute(params![
        r.token_hash,
        r.grant_id,
        r.client_id,
        r.scope,
        r.state.code(),
        r.created_at,
        r.family_expires_at,
        r.last_used_at,
    ])
}

#[async_trait]
impl RefreshStore for SqliteStore {
    async fn insert_refresh(&self, r: &RefreshRow) -> Result<(), StoreError> {
        self.transaction(|tx| {
            insert_refresh_row(tx, r)?;
            // It reads two of the insert's parameters, by their numbers.
            let mut keep = prepare(tx, sql::KEEP_GRANT_FOR_FAMILY)?;
            keep.raw_bind_parameter(2, &r.grant_id)?;
            keep.raw_bind_parameter(7, r.family_expires_at)?;
            keep.raw_execute()
        })
        .await
        .map(drop)
    }

    async fn refresh(&self, token_hash: &[u8]) -> Result<Option<RefreshRow>, StoreError> {
        self.read(|c| {
            prepare(c, sql::REFRESH_BY_HASH)?
                .query_row([token_hash], refresh_from)
                .optional()
        })
    }

    async fn claim_refresh(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        let claimed = self
            .write(|c| {
                prepare(c, sql::CLAIM_REFRESH)?.execute(params![
                    now,
                    token_hash,
                    STALE_CLAIM_SECONDS
                ])
            })
            .await?;
        Ok(claimed == 1)
    }

    async fn release_refresh(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.write(|c| prepare(c, sql::RELEASE_REFRESH)?.execute([token_hash]))
            .await
            .map(drop)
    }

    async fn complete_rotation(&self, r: &Rotation) -> Result<(), StoreError> {
        self.transaction(|tx| {
            let rotated = prepare(tx, sql::ROTATE_GRANT_TOKEN)?.execute(params![
                r.token_hash,
                r.token_sealed,
                r.token_expires_at,
                r.legacy_refresh_sealed,
                r.profile_json,
                r.old_hash
            ])?;
            if rotated == 0 {
                // Revoked meanwhile: the caller finds the grant revoked.
                return Ok(());
            }
            match &r.successor {
                Some(successor) => {
                    insert_refresh_row(tx, successor)?;
                    prepare(tx, sql::SPEND_REFRESH)?.execute(params![
                        r.now,
                        r.successor_sealed,
                        r.old_hash
                    ])?;
                }
                None => {
                    prepare(tx, sql::KEEP_REFRESH)?.execute(params![r.now, r.old_hash])?;
                }
            }
            Ok(())
        })
        .await
    }
}
