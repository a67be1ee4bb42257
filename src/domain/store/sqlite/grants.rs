//! The SQLite store's grants with their codes: issued, redeemed,
//! found, revoked, renewed.

use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::throttle::release;
use super::{SqliteStore, prepare};
use crate::domain::store::{
    CodeClaim, CodeRow, GrantRenewal, GrantRow, GrantStore, LoginOnce, Redeemed,
    STALE_CLAIM_SECONDS, StoreError, ThrottleRelease, sql, why_not_redeemed,
};

/// A grant from its row (`grant_columns!()`, by position).
fn grant_from(r: &Row<'_>) -> rusqlite::Result<GrantRow> {
    Ok(GrantRow {
        id: r.get(0)?,
        client_id: r.get(1)?,
        subject: r.get(2)?,
        scope: r.get(3)?,
        profile_json: r.get(4)?,
        token_hash: r.get(5)?,
        token_sealed: r.get(6)?,
        legacy_refresh_sealed: r.get(7)?,
        token_expires_at: r.get(8)?,
        auth_time: r.get(9)?,
        revoked: r.get::<_, i64>(10)? != 0,
        created_at: r.get(11)?,
        claims: r.get(12)?,
        keep_until: r.get(21)?,
    })
}

/// The code and the grant of a `grants` row, and whether the code was used.
fn code_and_grant(code_hash: &[u8], r: &Row<'_>) -> rusqlite::Result<(CodeRow, GrantRow, bool)> {
    let code = CodeRow {
        code_hash: code_hash.to_vec(),
        redirect_uri: r.get(13)?,
        nonce: r.get(14)?,
        code_challenge: r.get(15)?,
        expires_at: r.get(16)?,
        id_token_sealed: r.get(17)?,
        login: match (r.get(18)?, r.get(19)?) {
            (Some(id), Some(expires_at)) => Some(LoginOnce { id, expires_at }),
            _ => None,
        },
    };
    Ok((code, grant_from(r)?, r.get::<_, i64>(20)? != 0))
}

/// Runs an insert of a grant with its code (`$1`…`$21`, and `$22` the
/// source grant of a `prompt=none` one).
fn insert_grant(
    c: &Connection,
    statement: &str,
    g: &GrantRow,
    code: &CodeRow,
    source: Option<&str>,
) -> rusqlite::Result<usize> {
    let login_id = code.login.as_ref().map(|l| l.id.as_str());
    let login_expires_at = code.login.as_ref().map(|l| l.expires_at);
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![
        &g.id,
        &g.client_id,
        &g.subject,
        &g.scope,
        &g.profile_json,
        &g.token_hash,
        &g.token_sealed,
        &g.legacy_refresh_sealed,
        &g.token_expires_at,
        &g.auth_time,
        &g.created_at,
        &code.code_hash,
        &code.redirect_uri,
        &code.nonce,
        &code.code_challenge,
        &code.expires_at,
        &code.id_token_sealed,
        &g.claims,
        &login_id,
        &login_expires_at,
        &g.keep_until,
    ];
    if let Some(source) = &source {
        values.push(source);
    }
    prepare(c, statement)?.execute(values.as_slice())
}

#[async_trait]
impl GrantStore for SqliteStore {
    async fn insert_grant_with_code(
        &self,
        g: &GrantRow,
        c: &CodeRow,
        settle: Option<ThrottleRelease<'_>>,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .transaction(|tx| {
                if let Some(settle) = settle {
                    release(tx, settle)?;
                }
                let inserted = insert_grant(tx, sql::INSERT_GRANT_WITH_CODE, g, c, None)?;
                if inserted == 1 {
                    // `CLEAR_USER_REVOKED` reads the subject as `$3`.
                    let clear = sql::CLEAR_USER_REVOKED.replace("$3", "$1");
                    prepare(tx, &clear)?.execute([&g.subject])?;
                }
                Ok(inserted)
            })
            .await?;
        Ok(inserted == 1)
    }

    async fn insert_grant_from_session(
        &self,
        source: &str,
        g: &GrantRow,
        c: &CodeRow,
    ) -> Result<bool, StoreError> {
        static STATEMENT: LazyLock<String> = LazyLock::new(sql::insert_grant_from_session);
        let inserted = self
            .write(|conn| insert_grant(conn, &STATEMENT, g, c, Some(source)))
            .await?;
        Ok(inserted == 1)
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        claim: &CodeClaim<'_>,
    ) -> Result<Redeemed, StoreError> {
        let (spent, row) = self
            .write(|c| {
                let spent = prepare(c, sql::REDEEM_CODE)?
                    .query_row(
                        params![
                            code_hash,
                            claim.client_id,
                            claim.redirect_uri,
                            claim.now,
                            claim.challenge
                        ],
                        |r| code_and_grant(code_hash, r),
                    )
                    .optional()?;
                if spent.is_some() {
                    return Ok((true, spent));
                }
                // Why not: read the row to tell a replay from a mismatch.
                let row = prepare(c, sql::GRANT_BY_CODE)?
                    .query_row([code_hash], |r| code_and_grant(code_hash, r))
                    .optional()?;
                Ok((false, row))
            })
            .await?;
        Ok(match row {
            None => Redeemed::Unknown,
            Some((code, grant, _)) if spent => Redeemed::Fresh(Box::new((code, grant))),
            Some((code, grant, used)) => why_not_redeemed(code, grant, used, claim),
        })
    }

    async fn grants_by_token_hash(&self, token_hash: &[u8]) -> Result<Vec<GrantRow>, StoreError> {
        self.read(|c| {
            prepare(c, sql::GRANTS_BY_TOKEN_HASH)?
                .query_map([token_hash], grant_from)?
                .collect()
        })
    }

    async fn revoke_grant(&self, id: &str) -> Result<(), StoreError> {
        static STATEMENTS: LazyLock<[String; 3]> =
            LazyLock::new(|| sql::revoke_grant(SqliteStore::NOW_SQL));
        self.transaction(|tx| {
            for statement in STATEMENTS.iter() {
                prepare(tx, statement)?.execute([id])?;
            }
            Ok(())
        })
        .await
    }

    async fn grant(&self, id: &str) -> Result<Option<GrantRow>, StoreError> {
        self.read(|c| {
            prepare(c, sql::GRANT_BY_ID)?
                .query_row([id], grant_from)
                .optional()
        })
    }

    async fn live_grant(&self, subject: &str, now: i64) -> Result<Option<GrantRow>, StoreError> {
        self.read(|c| {
            prepare(c, sql::LIVE_GRANT)?
                .query_row(params![subject, now], grant_from)
                .optional()
        })
    }

    async fn newest_grant(&self, subject: &str) -> Result<Option<GrantRow>, StoreError> {
        self.read(|c| {
            prepare(c, sql::NEWEST_GRANT)?
                .query_row([subject], grant_from)
                .optional()
        })
    }

    async fn claim_grant_renewal(
        &self,
        id: &str,
        seen: &[u8],
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let claimed = self
            .write(|c| {
                prepare(c, sql::CLAIM_GRANT_RENEWAL)?.execute(params![
                    id,
                    now,
                    seen,
                    until,
                    STALE_CLAIM_SECONDS
                ])
            })
            .await?;
        Ok(claimed == 1)
    }

    async fn finish_grant_renewal(
        &self,
        id: &str,
        renewed: Option<&GrantRenewal>,
    ) -> Result<bool, StoreError> {
        let done = self
            .write(|c| match renewed {
                None => prepare(c, sql::END_GRANT_RENEWAL)?.execute([id]),
                Some(r) => prepare(c, sql::FINISH_GRANT_RENEWAL)?.execute(params![
                    id,
                    r.token_hash,
                    r.token_sealed,
                    r.token_expires_at,
                    r.legacy_refresh_sealed,
                    r.profile_json
                ]),
            })
            .await?;
        Ok(done == 1)
    }
}
