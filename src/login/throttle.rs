//! Login throttling: failed logins are counted per username and per client
//! address in the store (so every instance sees them); each failure is
//! answered after a growing delay, and past the limit the key is locked for
//! a while. The answer is the same whether or not the account exists, and
//! a locked key never reaches the legacy IdP.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderMap;

use crate::config::ThrottleSettings;
use crate::crypto::{b64url, sha256};
use crate::store::{Store, StoreError};

/// The counters a login attempt is counted under: the username (hashed, case
/// folded) and the client address.
#[derive(Debug, Clone)]
pub struct Counters {
    /// `user:<hash>`.
    pub user: String,
    /// `addr:<ip>`.
    pub address: String,
}

impl Counters {
    /// Counters for `username` from the request's client address.
    pub fn new(
        username: &str,
        headers: &HeaderMap,
        peer: SocketAddr,
        settings: &ThrottleSettings,
    ) -> Self {
        let address = settings
            .client_address_header
            .as_deref()
            .and_then(|h| headers.get(h))
            .and_then(|v| v.to_str().ok())
            // The last entry is the one the trusted proxy added.
            .and_then(|v| v.rsplit(',').next())
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| peer.ip().to_string());
        Self {
            user: format!(
                "user:{}",
                b64url(&sha256(username.to_lowercase().as_bytes()))
            ),
            address: format!("addr:{address}"),
        }
    }
}

/// What the store knows about an attempt's keys.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    /// Seconds left on a lockout of either key, if one is locked.
    pub locked_for: Option<i64>,
    /// Whether the username has failures on record (to clear on success).
    pub user_has_failures: bool,
}

/// Reads both keys in one query.
pub async fn standing(
    store: &dyn Store,
    counters: &Counters,
    now: i64,
) -> Result<Standing, StoreError> {
    let rows = store
        .throttle_rows(&counters.user, &counters.address)
        .await?;
    let until = rows.iter().map(|(_, u)| *u).max().unwrap_or(0);
    Ok(Standing {
        locked_for: (until > now).then_some(until - now),
        user_has_failures: rows.iter().any(|(k, _)| *k == counters.user),
    })
}

/// Counts a failure under both keys; returns how long to wait before
/// answering, and whether a lockout just began.
pub async fn failed(
    store: &dyn Store,
    settings: &ThrottleSettings,
    counters: &Counters,
    now: i64,
) -> Result<(Duration, bool), StoreError> {
    let w = settings.window_seconds;
    let l = settings.lockout_seconds;
    let (user_failures, user_until) = store
        .throttle_fail(&counters.user, now, w, settings.max_failures_per_user, l)
        .await?;
    let (_, address_until) = store
        .throttle_fail(
            &counters.address,
            now,
            w,
            settings.max_failures_per_address,
            l,
        )
        .await?;
    let exponent = u32::try_from(user_failures.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    let delay = settings
        .base_delay_ms
        .saturating_mul(1u64 << exponent)
        .min(settings.max_delay_ms);
    Ok((
        Duration::from_millis(delay),
        user_until > now || address_until > now,
    ))
}

/// A successful login forgets the username's failures (a write only when
/// there are some).
pub async fn succeeded(
    store: &dyn Store,
    counters: &Counters,
    standing: Standing,
) -> Result<(), StoreError> {
    if standing.user_has_failures {
        store.throttle_clear(&counters.user).await?;
    }
    Ok(())
}
