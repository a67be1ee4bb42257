//! Storage-key rotation (`idp-bridge keys rotate-storage-key`): every value
//! sealed in the store is moved under the current storage key, while the
//! bridge keeps serving with `storage_key` (the new key) and
//! `storage_key_previous` (the old one) both read.
//!
//! The walk goes column by column, a batch of rows at a time in key order.
//! A value that already opens under the current key is left alone, so the
//! command can be stopped and run again (resumable, idempotent); a value is
//! replaced only if it is still the one read, so a row a running bridge
//! rewrote meanwhile keeps the bridge's value (sealed under the current key
//! already). A value that opens under neither key is counted and left: the
//! command then fails, and the previous key must stay configured.
//!
//! Keyed hashes (the `hmac:` usernames in audit lines) are derived from the
//! current storage key and nothing stored depends on them: after the switch
//! the same username hashes to a new value. Sealed values that live outside
//! the store — the login form's pending request, the redirect sign-in's
//! cookie — are short-lived and open under the previous key until it is
//! removed.

use crate::domain::store::sealed::{RowKey, SealedColumn};
use crate::domain::store::{Store, StoreError};
use crate::util::crypto::{Purpose, Resealed, StorageKey};

/// What a column's walk found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ColumnReport {
    /// Values moved under the current key.
    pub moved: u64,
    /// Values already under the current key.
    pub current: u64,
    /// Values a running bridge changed while they were being moved (it
    /// sealed them under the current key).
    pub raced: u64,
    /// Values that open under neither key.
    pub unreadable: u64,
}

/// The purpose a column's values are sealed for.
fn purpose(column: SealedColumn) -> Purpose {
    match column {
        SealedColumn::SigningKey => Purpose::SigningKey,
        SealedColumn::GrantToken => Purpose::LegacyToken,
        SealedColumn::GrantRefreshToken => Purpose::LegacyRefreshToken,
        SealedColumn::GrantIdToken => Purpose::IdToken,
        SealedColumn::RefreshSuccessor => Purpose::RefreshSuccessor,
    }
}

/// Moves one column's values under the current key, `batch` rows at a time.
pub async fn reseal_column(
    store: &dyn Store,
    storage: &StorageKey,
    column: SealedColumn,
    batch: i64,
) -> Result<ColumnReport, StoreError> {
    let mut report = ColumnReport::default();
    let mut after: RowKey = column.first_key();
    loop {
        let rows = store.sealed_values(column, &after, batch.max(1)).await?;
        let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= batch.max(1);
        for (key, sealed) in &rows {
            match storage.reseal(purpose(column), sealed) {
                Resealed::Current => report.current += 1,
                Resealed::Unreadable => report.unreadable += 1,
                Resealed::Moved(new) => {
                    if store.replace_sealed(column, key, sealed, &new).await? {
                        report.moved += 1;
                    } else {
                        report.raced += 1;
                    }
                }
            }
        }
        match rows.into_iter().last() {
            Some((key, _)) if full => after = key,
            _ => return Ok(report),
        }
    }
}

/// Moves every sealed column; the report of each.
pub async fn reseal_all(
    store: &dyn Store,
    storage: &StorageKey,
    batch: i64,
) -> Result<Vec<(SealedColumn, ColumnReport)>, StoreError> {
    let mut out = Vec::new();
    for column in SealedColumn::ALL {
        out.push((column, reseal_column(store, storage, column, batch).await?));
    }
    Ok(out)
}

/// What a look at the first `sample` values of each grant column found at
/// start-up: how many were read, how many are still under
/// `storage_key_previous`, how many open under no configured key.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sampled {
    /// Values read.
    pub read: u64,
    /// Still sealed under the previous key.
    pub previous: u64,
    /// Opening under neither key.
    pub unreadable: u64,
}

/// Looks at the first `sample` sealed values of the grants' columns (row
/// ids are random, so they are a fair sample) without changing any, so
/// `serve` can say at start-up what a key change left behind: values still
/// under `storage_key_previous` (the rotation has not run or not finished),
/// or values no configured key opens (a key removed too early, a restored
/// backup) — grants that would otherwise only fail one by one, as
/// `login_required` or `invalid_grant`.
pub async fn sample_grants(
    store: &dyn Store,
    storage: &StorageKey,
    sample: i64,
) -> Result<Sampled, StoreError> {
    let mut out = Sampled::default();
    for column in [SealedColumn::GrantToken, SealedColumn::GrantRefreshToken] {
        let rows = store
            .sealed_values(column, &column.first_key(), sample.max(1))
            .await?;
        for (_, sealed) in &rows {
            out.read += 1;
            match storage.reseal(purpose(column), sealed) {
                Resealed::Current => {}
                Resealed::Moved(_) => out.previous += 1,
                Resealed::Unreadable => out.unreadable += 1,
            }
        }
    }
    Ok(out)
}
