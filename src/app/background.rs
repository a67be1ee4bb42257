//! Work the bridge does beside requests while it serves: removing expired
//! state in bounded batches, and re-reading the signing keys so a rotation
//! made through any instance is served by all of them.

use std::sync::Arc;

use crate::app::state::AppState;
use crate::domain::config::StoreSettings;
use crate::domain::store::{Cleaned, Store};
use crate::util::clock::now_unix;

/// Re-reads the signing keys every `[keys] reload_interval_seconds`, so a
/// rotation made through any instance is served by all of them.
pub async fn reload_keys_loop(state: AppState) {
    let every = std::time::Duration::from_secs(state.settings.keys.reload_interval_seconds.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
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
