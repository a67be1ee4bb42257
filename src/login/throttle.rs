//! Login throttling: attempts are counted per username and per client
//! address in the store (so every instance sees them). Each attempt is
//! reserved atomically *before* the legacy IdP is asked and given back
//! unless it was a wrong password, so concurrent guesses cannot slip past
//! the limit between a check and a count. Each failure is answered after a
//! growing delay, the same for every kind of failure; past the limit the key
//! is locked for a while. The answer is the same whether or not the account
//! exists, and a locked key never reaches the legacy IdP.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::HeaderMap;

use crate::config::ThrottleSettings;
use crate::crypto::{b64url, sha256};
use crate::store::{Store, StoreError, ThrottleRelease};

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

/// What a reservation allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// The attempt may reach the legacy IdP; it is the username's
    /// `attempt`-th in the window.
    Go {
        /// The username's count, this attempt included.
        attempt: i64,
        /// The address's count, this attempt included.
        address_attempt: i64,
    },
    /// Locked, or past a limit while earlier attempts are still out: the
    /// legacy IdP is not asked.
    Refused {
        /// Seconds until the person may try again.
        locked_for: i64,
        /// The username's count (for the answer's delay).
        attempt: i64,
    },
}

/// Reserves the attempt under both counters before the legacy IdP is
/// asked, so however many attempts arrive at once, on however many
/// instances, at most the configured number per username and per address
/// reach it. A refused attempt gives its reservation back at once.
pub async fn reserve(
    store: &dyn Store,
    settings: &ThrottleSettings,
    counters: &Counters,
    now: i64,
) -> Result<Reserved, StoreError> {
    let counts = store
        .throttle_reserve(
            &counters.user,
            &counters.address,
            now,
            settings.window_seconds,
        )
        .await?;
    let of = |key: &str| counts.iter().find(|c| c.key == key);
    let user = of(&counters.user).map_or(0, |c| c.attempts);
    let address = of(&counters.address).map_or(0, |c| c.attempts);
    let locked_until = counts.iter().map(|c| c.locked_until).max().unwrap_or(0);
    if locked_until > now {
        // A locked key counted nothing: there is nothing to give back.
        return Ok(Reserved::Refused {
            locked_for: locked_until - now,
            attempt: user,
        });
    }
    if user > settings.max_failures_per_user || address > settings.max_failures_per_address {
        store
            .throttle_release([&counters.user, &counters.address], None)
            .await?;
        return Ok(Reserved::Refused {
            locked_for: settings.lockout_seconds,
            attempt: user,
        });
    }
    Ok(Reserved::Go {
        attempt: user,
        address_attempt: address,
    })
}

/// How long a failed attempt waits before it is answered: the same for a
/// wrong password, a locked account and a throttled attempt at the same
/// count, growing with the username's count.
pub fn delay(settings: &ThrottleSettings, attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    Duration::from_millis(
        settings
            .base_delay_ms
            .saturating_mul(1u64 << exponent)
            .min(settings.max_delay_ms),
    )
}

/// A wrong password: the reservation stays counted, and a counter that
/// reached its limit is locked. Returns whether a lockout began.
pub async fn failed(
    store: &dyn Store,
    settings: &ThrottleSettings,
    counters: &Counters,
    (attempt, address_attempt): (i64, i64),
    now: i64,
) -> Result<bool, StoreError> {
    let until = now + settings.lockout_seconds;
    store
        .throttle_lock(&counters.user, settings.max_failures_per_user, until)
        .await?;
    store
        .throttle_lock(&counters.address, settings.max_failures_per_address, until)
        .await?;
    Ok(attempt >= settings.max_failures_per_user
        || address_attempt >= settings.max_failures_per_address)
}

/// Anything but a wrong password gives the reservations back; a successful
/// login also forgets the username's failures.
pub async fn settle(
    store: &dyn Store,
    counters: &Counters,
    success: bool,
) -> Result<(), StoreError> {
    let release = counters.release(success);
    store.throttle_release(release.keys, release.forget).await
}

impl Counters {
    /// What settling this attempt gives back: one attempt under each
    /// counter, and after a success the username's whole count.
    pub fn release(&self, success: bool) -> ThrottleRelease<'_> {
        ThrottleRelease {
            keys: [&self.user, &self.address],
            forget: success.then_some(self.user.as_str()),
        }
    }
}
