//! `idp-bridge revoke`: revoke a user everywhere, or the grant holding a
//! token, in the store a config file names, while instances serve from it
//! (the gateways drop the user's cached tokens and tunnels within their
//! `revocation_poll_ms`).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::support::{open_state, runtime};
use crate::domain::metrics::Metrics;
use crate::domain::types::{Subject, TypeError};
use crate::domain::user_revocation::{self, RevokedBy, TokenRevoked};

/// `idp-bridge revoke --user SUBJECT` or `--grant` (the token on stdin).
#[derive(Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["user", "grant"])))]
pub struct RevokeArgs {
    /// The config file (for the store).
    #[arg(long, env = "IDP_BRIDGE_CONFIG")]
    pub config: PathBuf,
    /// Revoke this legacy subject everywhere: every grant, refresh token
    /// and login session; nothing is minted for the user until they sign
    /// in again.
    #[arg(long, value_name = "SUBJECT", value_parser = subject)]
    pub user: Option<Subject>,
    /// Revoke the grant holding a token (a bridge refresh token or a legacy
    /// access token), read from standard input so it never lands in a
    /// shell's history or the process list.
    #[arg(long)]
    pub grant: bool,
}

/// `--user`, parsed by the subject's rule (non-empty).
fn subject(value: &str) -> Result<Subject, TypeError> {
    Subject::new(value)
}

/// Runs `revoke`.
pub fn run(args: &RevokeArgs) -> Result<ExitCode, String> {
    let token = if args.grant {
        let mut text = String::new();
        std::io::stdin()
            .take(16 * 1024)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the token from standard input: {e}"))?;
        let token = text.trim().to_owned();
        if token.is_empty() {
            return Err("revoke --grant: give the token on standard input".into());
        }
        Some(token)
    } else {
        None
    };
    // Only the state sections: no client secret needs to be set for this.
    let (settings, storage_key) =
        crate::domain::config::StateConfig::load(&args.config).map_err(|e| e.to_string())?;
    runtime()?.block_on(async move {
        let (_, store) = open_state(&settings, storage_key.as_ref()).await?;
        // This process's counters go nowhere; the audit line is what counts.
        let metrics = Metrics::new();
        let who = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .map_or_else(|_| "the revoke command".to_owned(), |u| format!("user {u}"));
        if let Some(subject) = &args.user {
            let ended = user_revocation::revoke_user(
                store.as_ref(),
                &metrics,
                subject,
                (RevokedBy::Command, &who),
            )
            .await
            .map_err(|e| e.to_string())?;
            println!(
                "revoked {subject}: {} grant(s), {} refresh token(s), {} session(s)",
                ended.grants, ended.refresh_tokens, ended.sessions
            );
            if ended.grants + ended.refresh_tokens + ended.sessions == 0 {
                // Still marked: nothing is minted for this subject until it
                // signs in. But a username typed for a subject is a likely
                // slip, so say so.
                eprintln!(
                    "note: nothing of {subject} was live; --user takes the legacy subject (the ID token's `sub`), which may differ from the username"
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        let token = token.unwrap_or_default();
        match user_revocation::revoke_token(
            store.as_ref(),
            &metrics,
            &token,
            (RevokedBy::Command, &who),
        )
        .await
        .map_err(|e| e.to_string())?
        {
            TokenRevoked::Grant { subject } => {
                println!("revoked the grant of {subject} holding that token");
                Ok(ExitCode::SUCCESS)
            }
            TokenRevoked::Unknown => {
                eprintln!("idp-bridge: no grant holds that token");
                Ok(ExitCode::from(1))
            }
        }
    })
}
