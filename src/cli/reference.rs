//! `idp-bridge reference`: the reference legacy stack (legacy IdP
//! simulator, legacy API, the `command` adapter's reference program) for
//! demos and tests, never production.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::lt1::KeyArgs;
use super::support::runtime;
use crate::reference::legacy_idp::{Faults, LegacyIdpOptions, ReferenceIdp};
use crate::reference::users::{Users, hash_password};
use crate::reference::{RunningServer, command, legacy_api};

/// The `reference` subcommands.
#[derive(Subcommand)]
pub enum ReferenceCommand {
    /// Run the reference legacy IdP simulator.
    LegacyIdp {
        #[command(flatten)]
        keys: KeyArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9001")]
        listen: String,
        /// Users file (JSON, argon2 hashes); the demo users when absent.
        #[arg(long)]
        users: Option<PathBuf>,
        /// Delay every answer by this many milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Token lifetime, seconds.
        #[arg(long, default_value_t = 3600)]
        token_ttl: i64,
    },
    /// Run the reference legacy API (accepts only valid LT1 tokens).
    LegacyApi {
        #[command(flatten)]
        keys: KeyArgs,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9002")]
        listen: String,
    },
    /// Answer one `command` adapter request on stdin (the reference program).
    LegacyCommand {
        #[command(flatten)]
        keys: KeyArgs,
        /// Users file; the demo users when absent.
        #[arg(long)]
        users: Option<PathBuf>,
    },
    /// Hash a password read from stdin for a users file.
    HashPassword,
}

fn load_users(path: Option<&PathBuf>) -> Result<Users, String> {
    path.map_or_else(|| Ok(Users::demo()), |p| Users::load(p))
}

/// Runs a `reference` command.
pub fn run(command: ReferenceCommand) -> Result<ExitCode, String> {
    match command {
        ReferenceCommand::LegacyIdp {
            keys,
            listen,
            users,
            latency_ms,
            token_ttl,
        } => {
            let mut options = LegacyIdpOptions::demo(keys.load()?);
            options.users = load_users(users.as_ref())?;
            options.token_ttl = token_ttl;
            runtime()?.block_on(async move {
                let idp = ReferenceIdp::new(options);
                idp.set_faults(Faults {
                    latency_ms,
                    ..Faults::default()
                });
                let server = RunningServer::bind(&listen, idp.router())
                    .await
                    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                eprintln!("reference legacy IdP on {}", server.url());
                server.wait().await;
                Ok(ExitCode::SUCCESS)
            })
        }
        ReferenceCommand::LegacyApi { keys, listen } => {
            let keys = keys.load()?;
            runtime()?.block_on(async move {
                let server = RunningServer::bind(&listen, legacy_api::router(keys))
                    .await
                    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                eprintln!("reference legacy API on {}", server.url());
                server.wait().await;
                Ok(ExitCode::SUCCESS)
            })
        }
        ReferenceCommand::LegacyCommand { keys, users } => {
            let keys = keys.load()?;
            let users = load_users(users.as_ref())?;
            let code = command::run(&users, &keys, &mut std::io::stdin(), &mut std::io::stdout());
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(70)))
        }
        ReferenceCommand::HashPassword => {
            let mut password = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut password)
                .map_err(|e| e.to_string())?;
            let password = password.strip_suffix('\n').unwrap_or(&password);
            println!("{}", hash_password(password)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
