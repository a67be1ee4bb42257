//! `idp-bridge unlock`: clears a username's login-throttle counters (from
//! every address, and across addresses) in the store a config file names,
//! while instances serve from it, and records `user_unlocked`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::support::{open_state, runtime};

/// What `unlock` is told.
#[derive(Debug, clap::Args)]
pub struct UnlockArgs {
    /// The username, as people type it (case and surrounding spaces do not
    /// matter).
    #[arg(long)]
    pub user: String,
    /// The config file (for the store, and the storage key that hashes
    /// usernames in audit lines).
    #[arg(long, env = "IDP_BRIDGE_CONFIG")]
    pub config: PathBuf,
}

/// Runs `unlock`.
pub fn run(args: &UnlockArgs) -> Result<ExitCode, String> {
    if args.user.trim().is_empty() {
        return Err("unlock: --user must name a username".into());
    }
    // Only the state sections and [throttle]: no client secret is needed.
    let (settings, storage_key) =
        crate::domain::config::StateConfig::load(&args.config).map_err(|e| e.to_string())?;
    let throttle = settings
        .throttle
        .validate()
        .map_err(|problems| problems.join("\n"))?;
    runtime()?.block_on(async move {
        let (storage, store) = open_state(&settings, storage_key.as_ref()).await?;
        let cleared = crate::browser::throttle::unlock(store.as_ref(), &args.user)
            .await
            .map_err(|e| e.to_string())?;
        let user =
            crate::browser::throttle::audit_user(throttle.audit_username, &storage, &args.user);
        let metrics = crate::domain::metrics::Metrics::new();
        crate::audit!(metrics, "user_unlocked", user = %user, cleared, by = "cli");
        let name = args.user.trim().escape_debug().to_string();
        if user == name {
            println!("unlocked {name}: {cleared} counter(s) cleared");
        } else {
            // So the operator can find the user's lines in the audit log.
            println!("unlocked {name} ({user} in audit lines): {cleared} counter(s) cleared");
        }
        Ok(ExitCode::SUCCESS)
    })
}
