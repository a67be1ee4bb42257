//! The command line: the `clap` grammar and one function per command, so
//! `main.rs` only parses and reports. Each command's body lives beside its
//! arguments (`auth0`, `healthcheck`, `init`, `keys`, `lt1`, `reference`, `unlock`); the short ones
//! are here.

pub mod auth0;
pub mod healthcheck;
pub mod init;
pub mod keys;
pub mod lt1;
pub mod probe;
pub mod reference;
pub mod revoke;
mod support;
pub mod unlock;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::App;
use crate::app::demo::{Demo, DemoUpstream};
use crate::domain::config::Settings;
use support::runtime;

/// `idp-bridge` and its commands.
#[derive(Parser)]
#[command(
    name = "idp-bridge",
    version,
    about = "An OpenID Connect provider that wraps a legacy IdP for Auth0"
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Run the bridge.
    Serve {
        /// The config file.
        #[arg(long, env = "IDP_BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Check a config file and report every problem at once.
    CheckConfig {
        /// The config file (as for `serve`).
        #[arg(long = "config", env = "IDP_BRIDGE_CONFIG")]
        config: Option<PathBuf>,
        /// The config file, given without `--config`.
        #[arg(value_name = "CONFIG", conflicts_with = "config")]
        path: Option<PathBuf>,
        /// Also check what needs the network: the legacy IdP's URLs answer,
        /// discovery loads, the store opens, Auth0's JWKS loads (5 s each).
        #[arg(long)]
        probe: bool,
    },
    /// Configuration tooling: `config schema` prints the JSON Schema of
    /// `bridge.toml` (for editors: Taplo, Even Better TOML).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Write a starter configuration (a generated client secret and storage
    /// key) for one adapter, and print the next steps.
    Init(init::InitArgs),
    /// Print the Auth0 connection for a configured client (Management API
    /// JSON, Auth0 CLI, Terraform, Deploy CLI) and the callback URLs to
    /// register; needs no secret.
    Auth0(auth0::Auth0Args),
    /// Print a client's `secret_hash` for a secret read from standard input,
    /// or for a new random secret (`--generate`, printed once).
    HashSecret {
        /// Generate a 256-bit secret instead of reading one.
        #[arg(long)]
        generate: bool,
    },
    /// Run the whole picture locally: legacy IdP and API, the bridge, and a
    /// stand-in relying party playing Auth0.
    Demo {
        /// Where the stand-in relying party listens.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Data directory (default: a fresh temporary one).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Where users sign in: `password` on the bridge's page, or `oidc` /
        /// `oauth2` on the legacy IdP's own page (the redirect adapters).
        #[arg(long, value_enum, default_value = "password")]
        upstream: DemoUpstream,
    },
    /// Ask a running bridge's `/healthz` and exit 0 when it answers 200:
    /// the container image's HEALTHCHECK, which has no curl. The URL comes
    /// from the config (`listen`, `[tls]`) unless `--url` names one.
    Healthcheck(healthcheck::HealthcheckArgs),
    /// Revoke a user everywhere (`--user SUBJECT`), or the grant holding a
    /// token (`--grant`, the token on standard input).
    Revoke(revoke::RevokeArgs),
    /// Manage the ID token signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Clear a username's failed-login counts and lockouts, from every
    /// address, in the store; works while the bridge serves.
    Unlock(unlock::UnlockArgs),
    /// Mint and inspect LT1 legacy tokens.
    #[command(subcommand)]
    LegacyToken(lt1::LegacyTokenCommand),
    /// The reference legacy stack (for demos and tests, never production).
    #[command(subcommand)]
    Reference(reference::ReferenceCommand),
}

impl Command {
    /// Whether the command serves until it is stopped (`serve`, `demo`, the
    /// reference stack) rather than printing an answer and exiting.
    pub fn serves(&self) -> bool {
        matches!(
            self,
            Self::Serve { .. } | Self::Demo { .. } | Self::Reference(_)
        )
    }
}

/// `idp-bridge config …`.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the configuration's JSON Schema (draft-07), generated from the
    /// types `serve` reads; `docs/bridge.schema.json` is the same text.
    Schema,
}

/// Runs one command; `Err` is a message for the operator (exit code 2).
pub fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Serve { config } => serve(&config),
        Command::CheckConfig {
            config,
            path,
            probe,
        } => match config.or(path) {
            Some(config) => check_config(&config, probe),
            None => Err("check-config: name the config file (--config FILE)".into()),
        },
        Command::Config(ConfigCommand::Schema) => {
            print!("{}", crate::domain::config::schema::json_schema_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::HashSecret { generate } => hash_secret(generate),
        Command::Init(args) => init::run(&args),
        Command::Auth0(args) => auth0::run(&args),
        Command::Demo {
            listen,
            data_dir,
            upstream,
        } => demo(&listen, data_dir, upstream),
        Command::Healthcheck(args) => healthcheck::run(&args),
        Command::Keys(command) => keys::run(command),
        Command::Revoke(args) => revoke::run(&args),
        Command::Unlock(args) => unlock::run(&args),
        Command::LegacyToken(command) => lt1::run(command),
        Command::Reference(command) => reference::run(command),
    }
}

/// `secret_hash = "sha256:…"` for a client secret. Only high-entropy
/// secrets belong there (the hash is fast): `--generate` makes one.
fn hash_secret(generate: bool) -> Result<ExitCode, String> {
    use std::io::Read as _;
    let secret = if generate {
        crate::util::crypto::random_token()
    } else {
        let mut text = String::new();
        std::io::stdin()
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the secret from standard input: {e}"))?;
        text.trim_end_matches(['\r', '\n']).to_owned()
    };
    if secret.len() < 32 {
        return Err(
            "the secret must have at least 32 characters (a sha256 hash of a short secret can be guessed; use --generate)"
                .into(),
        );
    }
    let hash = hex::encode(crate::util::crypto::sha256(secret.as_bytes()));
    if generate {
        println!("# the client secret, for Auth0 (shown once):\n# {secret}");
    }
    println!("secret_hash = \"sha256:{hash}\"");
    Ok(ExitCode::SUCCESS)
}

fn serve(config: &std::path::Path) -> Result<ExitCode, String> {
    let settings = Settings::load(config).map_err(|e| e.to_string())?;
    runtime()?.block_on(async move {
        // Boxed: the build's future holds the whole `Settings` and the
        // store's opening (clippy's large_futures), once per process.
        let app = Box::pin(App::build(settings))
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(port = app.port(), "idp-bridge listening");
        if let Some(addr) = app.gateway_addr() {
            tracing::info!(%addr, "the gateway listening");
        }
        if let Some(addr) = app.admin_addr() {
            tracing::info!(%addr, "the admin API listening");
        }
        app.run_until_stopped().await.map_err(|e| e.to_string())?;
        Ok(ExitCode::SUCCESS)
    })
}

fn check_config(config: &std::path::Path, probe: bool) -> Result<ExitCode, String> {
    match Settings::load(config) {
        Ok(settings) => {
            println!(
                "{}: OK ({} client(s), issuer {})",
                config.display(),
                settings.clients.len(),
                settings.issuer
            );
            if let Some(gateway) = &settings.gateway {
                for route in &gateway.routes {
                    println!(
                        "  gateway {} {}/* -> {} (audiences {})",
                        gateway.listen,
                        route.prefix,
                        route.backend,
                        route.audiences.join(", ")
                    );
                }
            }
            if !probe {
                return Ok(ExitCode::SUCCESS);
            }
            let checks = runtime()?.block_on(probe::run(&settings, probe::TIMEOUT));
            for check in &checks {
                println!("{}", check.line());
            }
            Ok(if checks.iter().all(|c| c.outcome.is_ok()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(e) => {
            eprint!("{}: {e}", config.display());
            Ok(ExitCode::from(1))
        }
    }
}

fn demo(
    listen: &str,
    data_dir: Option<PathBuf>,
    upstream: DemoUpstream,
) -> Result<ExitCode, String> {
    // A directory of our own making (it holds a storage key and a client
    // secret) is removed when the demo stops; one the user named is kept.
    let ours = data_dir.is_none();
    let dir = data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("idp-bridge-demo-{}", std::process::id()))
    });
    runtime()?.block_on(async move {
        let demo = Demo::start_with(listen, &dir, upstream).await?;
        println!("idp-bridge demo is running.");
        println!();
        println!("  Open {} and click \"Log in\".", demo.rp_url);
        if upstream != DemoUpstream::Password {
            println!("  You will sign in on the legacy IdP's own page (\"Legacy Corp sign-in\").");
        }
        println!(
            "  Sign in as alice / correct-horse (or bob / battery-staple; mallory / locked-out is locked)."
        );
        println!();
        println!("  bridge (issuer): {}", demo.issuer);
        println!("  config:          {}", dir.join("bridge.toml").display());
        println!("Press Ctrl-C to stop.");
        let ran = demo.run_until(crate::app::server::shutdown_signal()).await;
        if ours {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                eprintln!("idp-bridge: cannot remove {}: {e}", dir.display());
            }
        }
        ran?;
        Ok(ExitCode::SUCCESS)
    })
}
