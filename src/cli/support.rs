//! What every command body shares: a runtime for the async ones, and the
//! store a config file names.

use std::sync::Arc;

use crate::domain::config::StateConfig;
use crate::domain::store::Store;
use crate::util::crypto::StorageKey;
use crate::util::secret::Key32;

/// A multi-threaded runtime, or an error that says it could not start.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))
}

/// The storage key and the store of a config's state sections, for the
/// commands that act on a running deployment's store (`keys`, `revoke`,
/// `unlock`). The storage key first: it makes a new data directory private.
pub async fn open_state(
    settings: &StateConfig,
    storage_key: Option<&Key32>,
) -> Result<(StorageKey, Arc<dyn Store>), String> {
    let mut storage = crate::app::open_storage::storage_key_at(&settings.data_dir, storage_key)
        .map_err(|e| e.to_string())?;
    if let Some(previous) = settings.previous_storage_key().map_err(|e| e.to_string())? {
        storage = storage.with_previous(&previous);
    }
    let store = crate::app::open_storage::open_store_at(&settings.data_dir, &settings.store)
        .await
        .map_err(|e| e.to_string())?;
    Ok((storage, store))
}
