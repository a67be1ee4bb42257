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
}

/// Runs a `keys` command.
pub fn run(command: KeysCommand) -> Result<ExitCode, String> {
    let (KeysCommand::Rotate { config, .. } | KeysCommand::List { config }) = &command;
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
