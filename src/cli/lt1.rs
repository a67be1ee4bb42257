//! `idp-bridge legacy-token`: mint and inspect LT1 tokens, and where their
//! keys come from (arguments, files, `LT1_KEYS`, or a config file), shared
//! with the reference stack's commands.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::domain::config::{self, LegacyTokenConfig};
use crate::util::clock::now_unix;
use crate::util::legacy_token::{Lt1Claims, Lt1Keys};
use crate::util::secret::Key32;

/// The one section `--config` is read for: a bridge's whole file (or the
/// reference stack's) works, whatever else it holds, since every other
/// section is ignored here rather than checked (`check-config` does that).
#[derive(serde::Deserialize, Default)]
struct KeysOnly {
    #[serde(default)]
    legacy_token: LegacyTokenConfig,
}

/// Where the LT1 keys come from.
#[derive(Args, Clone)]
pub struct KeyArgs {
    /// A config file whose `[legacy_token]` section holds the keys.
    #[arg(long, env = "IDP_BRIDGE_CONFIG")]
    config: Option<PathBuf>,
    /// A key as KID=KEY (64 hex digits or base64); repeatable. Prefer
    /// --key-file or LT1_KEYS: arguments are visible to other users.
    #[arg(
        long = "key",
        value_name = "KID=KEY",
        env = "LT1_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    keys: Vec<String>,
    /// A key read from a file, as KID=PATH; repeatable.
    #[arg(long = "key-file", value_name = "KID=PATH")]
    key_files: Vec<String>,
    /// The kid to mint under (default: the last key given).
    #[arg(long)]
    mint_kid: Option<String>,
}

impl KeyArgs {
    /// The keys these arguments name.
    pub fn load(&self) -> Result<Lt1Keys, String> {
        let mut keys = Vec::new();
        for spec in &self.keys {
            let (kid, key) = spec.split_once('=').ok_or("--key wants KID=KEY")?;
            keys.push((
                kid.to_owned(),
                Key32::parse(key).map_err(|e| format!("key {kid}: {e}"))?,
            ));
        }
        for spec in &self.key_files {
            let (kid, path) = spec.split_once('=').ok_or("--key-file wants KID=PATH")?;
            let text = crate::util::secret::read_secret_file(path.as_ref())?;
            keys.push((
                kid.to_owned(),
                Key32::parse(&text).map_err(|e| format!("key {kid}: {e}"))?,
            ));
        }
        if keys.is_empty() {
            if let Some(path) = &self.config {
                let mut cfg: KeysOnly = config::load_raw(Some(path), &config::process_env())
                    .map_err(|e| e.to_string())?;
                if self.mint_kid.is_some() {
                    cfg.legacy_token.mint_kid.clone_from(&self.mint_kid);
                }
                if let Some(set) = cfg.legacy_token.keys().map_err(|e| e.to_string())? {
                    return Ok(set);
                }
            }
            return Err(
                "no LT1 key: give --key KID=KEY, --key-file KID=PATH, LT1_KEYS, or --config".into(),
            );
        }
        Lt1Keys::new(keys, self.mint_kid.as_deref()).map_err(|e| e.to_string())
    }
}

/// The `legacy-token` subcommands.
#[derive(Subcommand)]
pub enum LegacyTokenCommand {
    /// Mint an LT1 token and print it.
    Mint {
        #[command(flatten)]
        keys: KeyArgs,
        /// The legacy user id.
        #[arg(long)]
        sub: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// Space-separated scopes.
        #[arg(long)]
        scope: Option<String>,
        /// Further claims as NAME=VALUE; repeatable.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
    },
    /// Validate an LT1 token (argument or stdin) and print its claims as JSON.
    Inspect {
        #[command(flatten)]
        keys: KeyArgs,
        /// The token; read from stdin when absent.
        token: Option<String>,
        /// Validate at this unix time instead of now.
        #[arg(long)]
        now: Option<i64>,
    },
}

/// Runs a `legacy-token` command.
pub fn run(command: LegacyTokenCommand) -> Result<ExitCode, String> {
    match command {
        LegacyTokenCommand::Mint {
            keys,
            sub,
            ttl,
            scope,
            claims,
        } => {
            let keys = keys.load()?;
            let now = now_unix();
            let attributes = claims
                .iter()
                .map(|c| {
                    c.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .ok_or("--claim wants NAME=VALUE")
                })
                .collect::<Result<Vec<_>, _>>()?;
            let token = keys
                .mint(&Lt1Claims {
                    sub,
                    iat: now,
                    exp: now + ttl,
                    scope,
                    attributes,
                })
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        LegacyTokenCommand::Inspect { keys, token, now } => {
            let keys = keys.load()?;
            let token = if let Some(t) = token {
                t
            } else {
                let mut text = String::new();
                std::io::stdin()
                    .take(16 * 1024)
                    .read_to_string(&mut text)
                    .map_err(|e| e.to_string())?;
                text.trim().to_owned()
            };
            match keys.validate(&token, now.unwrap_or_else(now_unix)) {
                Ok(claims) => {
                    let json = serde_json::json!({"valid": true, "kid": crate::util::legacy_token::kid_of(&token), "claims": claims.to_map()});
                    println!("{json:#}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!(
                        "{:#}",
                        serde_json::json!({"valid": false, "error": e.to_string()})
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
