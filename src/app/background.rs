//! Work the bridge does beside requests while it serves: removing expired
//! state in bounded batches, rotating the signing keys on their schedule
//! (`key_rotation`), and re-reading them so a rotation made through any
//! instance is served by all of them.

use std::sync::Arc;

use crate::app::state::AppState;
use crate::domain::config::StoreSettings;
use crate::domain::key_rotation::{Schedule, rotate_due};
use crate::domain::store::{Cleaned, Store};
use crate::util::clock::now_unix;

/// Every `[keys] reload_interval_seconds`: rotates the signing keys when
/// their schedule says so (once across instances), then re-reads them, so
/// a rotation made through any instance is served by all of them.
pub async fn reload_keys_loop(state: AppState) {
    let settings = &state.settings.keys;
    let every = std::time::Duration::from_secs(settings.reload_interval_seconds.max(1));
    let schedule = Schedule {
        every: i64::try_from(settings.rotate_every_seconds).unwrap_or(i64::MAX),
        lead: settings.activation_delay_seconds,
        max_token_ttl: state.settings.tokens.id_token_ttl_seconds,
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if schedule.every > 0 {
            match rotate_due(state.store.as_ref(), &state.storage, schedule, now_unix()).await {
                Ok(done) => {
                    for key in &done.published {
                        tracing::info!(kid = %key.kid, alg = %key.alg, signs_from = key.activates_at, "signing key published by schedule");
                    }
                    for kid in &done.retired {
                        tracing::info!(%kid, "signing key retired: every token it signed has expired");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "scheduled key rotation failed; will retry"),
            }
        }
        if let Err(e) = state
            .keys
            .reload(state.store.as_ref(), &state.storage)
            .await
        {
            tracing::warn!(error = %e, "cannot reload signing keys; keeping the current ones");
        }
    }
}

/// Removes expired codes, grants, refresh tokens and sessions, in bounded
/// batches so requests never wait long for the writer.
pub async fn cleanup_loop(store: Arc<dyn Store>, settings: StoreSettings) {
    // The first pass one interval after start, not at once: a pass is six
    // writes, and none should land amid the first requests (nor in the
    // write count of a test that runs right after start).
    let every = std::time::Duration::from_secs(settings.cleanup_interval_seconds.max(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        cleanup_now(store.as_ref(), settings.cleanup_batch).await;
    }
}

/// One cleanup pass: batches until a batch comes back short (at most 100).
pub async fn cleanup_now(store: &dyn Store, batch: i64) -> Cleaned {
    let mut total = Cleaned::default();
    for _ in 0..100 {
        match store.cleanup(now_unix(), batch).await {
            Ok(c) => {
                total.grants += c.grants;
                total.refresh_tokens += c.refresh_tokens;
                total.sessions += c.sessions;
                let full = i64::try_from(c.grants.max(c.refresh_tokens).max(c.sessions))
                    .unwrap_or(i64::MAX)
                    >= batch;
                if !full {
                    break;
                }
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cleanup failed; will retry");
                break;
            }
        }
    }
    if total != Cleaned::default() {
        tracing::info!(
            grants = total.grants,
            refresh_tokens = total.refresh_tokens,
            sessions = total.sessions,
            "expired state removed"
        );
    }
    total
}
