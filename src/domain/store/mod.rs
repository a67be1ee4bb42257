//! Persistent state behind one interface: signing keys, grants, codes,
//! refresh-token families, login sessions, login throttling and used client
//! assertions. SQLite (embedded) is the default backend; a PostgreSQL
//! backend implements the same trait for clusters.
//!
//! Per login the bridge writes one row (the grant with its code) and updates
//! it once when the code is redeemed; transient state before the password
//! check lives in a sealed form field and a CSRF cookie, not in rows.
//!
//! The statements are written once (`sql`); PostgreSQL runs them through
//! sqlx, SQLite through rusqlite on the calling thread.

pub mod memory;
pub mod postgres;
mod rows;
pub mod sealed;
mod sql;
pub mod sqlite;
mod traits;

pub use rows::{
    Cleaned, CodeClaim, CodeRow, GrantRenewal, GrantRow, LoginOnce, Redeemed, RefreshRow,
    RefreshState, Rotation, STALE_CLAIM_SECONDS, StoreError, StoredKey, ThrottleCount,
    ThrottleKeys, ThrottleRelease, UserRevoked, errors_total,
};
pub(crate) use rows::{err, why_not_redeemed};
pub use traits::{
    GrantStore, Housekeeping, KeyStore, OnceStore, RefreshStore, RevocationStore, SessionStore,
    Store, ThrottleStore,
};
