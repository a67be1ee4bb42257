//! `idp-bridge keys`: rotate and list the ID token signing keys in the
//! store a config file names, while instances serve from it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::support::{open_state, runtime};

/// The `keys` subcommands.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Publish a new signing key now; it signs after the activation delay.
    /// Works while the bridge serves: every instance picks it up within
    /// `[keys] reload_interval_seconds`. Prunes keys whose tokens all expired.
    Rotate {
        /// The config file (for the store and the storage key).
        #[arg(long, env = "IDP_BRIDGE_CONFIG")]
        config: PathBuf,
        /// Seconds before the new key signs (default `[keys] activation_delay_seconds`).
        #[arg(long)]
        activation_delay_seconds: Option<i64>,
    },
    /// List the signing keys and their states.
    List {
        /// The config file.
        #[arg(long, env = "IDP_BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Re-seal every value in the store under `storage_key`, opening the
    /// ones sealed under `storage_key_previous`. Runs while the bridge
    /// serves with both keys set; can be stopped and run again. Remove
    /// `storage_key_previous` only after it succeeded.
    RotateStorageKey {
        /// The config file (`storage_key`: the new key;
        /// `storage_key_previous`: the old one).
        #[arg(long, env = "IDP_BRIDGE_CONFIG")]
        config: PathBuf,
        /// Rows read per statement.
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
}

/// Runs a `keys` command.
pub fn run(command: KeysCommand) -> Result<ExitCode, String> {
    let (KeysCommand::Rotate { config, .. }
    | KeysCommand::List { config }
    | KeysCommand::RotateStorageKey { config, .. }) = &command;
    // Only the state sections: no client secret needs to be set for this.
    let (settings, storage_key) =
        crate::domain::config::StateConfig::load(config).map_err(|e| e.to_string())?;
    runtime()?.block_on(async move {
        let (storage, store) = open_state(&settings, storage_key.as_ref()).await?;
        match command {
            KeysCommand::Rotate {
                activation_delay_seconds,
                ..
            } => {
                let delay =
                    activation_delay_seconds.unwrap_or(settings.keys.activation_delay_seconds);
                let (added, pruned) = crate::domain::keys::rotate(
                    store.as_ref(),
                    &storage,
                    delay,
                    settings.tokens.id_token_ttl_seconds,
                )
                .await
                .map_err(|e| e.to_string())?;
                for key in added {
                    println!(
                        "published {} {} (signs from unix time {})",
                        key.alg, key.kid, key.activates_at
                    );
                }
                for kid in pruned {
                    println!("pruned {kid}");
                }
            }
            KeysCommand::RotateStorageKey { batch, .. } => {
                return rotate_storage_key(store.as_ref(), &storage, batch).await;
            }
            KeysCommand::List { .. } => {
                let stored = store.signing_keys().await.map_err(|e| e.to_string())?;
                for line in crate::domain::keys::describe(&stored, crate::util::clock::now_unix()) {
                    println!("{line}");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `keys rotate-storage-key`: every sealed column, then what was done.
async fn rotate_storage_key(
    store: &dyn crate::domain::store::Store,
    storage: &crate::util::crypto::StorageKey,
    batch: i64,
) -> Result<ExitCode, String> {
    if !storage.has_previous() {
        return Err("keys rotate-storage-key: set storage_key to the new key and storage_key_previous to the one it replaces (docs/operations.md, \"Rotating the storage key\")".into());
    }
    let reports = crate::domain::storage_rotation::reseal_all(store, storage, batch)
        .await
        .map_err(|e| e.to_string())?;
    let mut unreadable = 0;
    for (column, r) in reports {
        println!(
            "{}: {} moved, {} already current, {} rewritten meanwhile by the bridge, {} unreadable",
            column.name(),
            r.moved,
            r.current,
            r.raced,
            r.unreadable
        );
        unreadable += r.unreadable;
    }
    if unreadable > 0 {
        eprintln!(
            "{unreadable} values open under neither key: keep storage_key_previous set and find the key that sealed them"
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "every sealed value is under the current storage key; storage_key_previous can be removed"
    );
    Ok(ExitCode::SUCCESS)
}
