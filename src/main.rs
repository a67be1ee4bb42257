//! The `idp-bridge` command line: parses arguments, loads configuration and
//! calls into the library.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use idp_bridge::app::App;
use idp_bridge::config::{self, LegacyConfig, Settings};
use idp_bridge::demo::Demo;
use idp_bridge::legacy_token::{Lt1Claims, Lt1Keys};
use idp_bridge::reference::legacy_idp::{Faults, LegacyIdp, LegacyIdpOptions};
use idp_bridge::reference::users::{Users, hash_password};
use idp_bridge::reference::{RunningServer, command, legacy_api};
use idp_bridge::secret::Key32;
use idp_bridge::upstream::now_unix;

#[derive(Parser)]
#[command(
    name = "idp-bridge",
    version,
    about = "An OpenID Connect provider that wraps a legacy IdP for Auth0"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bridge.
    Serve {
        /// The config file.
        #[arg(long, env = "IDP_BRIDGE_CONFIG")]
        config: PathBuf,
    },
    /// Check a config file and report every problem at once.
    CheckConfig {
        /// The config file.
        config: PathBuf,
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
    },
    /// Manage the ID token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Mint and inspect LT1 legacy tokens.
    #[command(subcommand)]
    LegacyToken(LegacyTokenCommand),
    /// The reference legacy stack (for demos and tests, never production).
    #[command(subcommand)]
    Reference(ReferenceCommand),
}

/// Where the LT1 keys come from.
#[derive(Args, Clone)]
struct KeyArgs {
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
    fn load(&self) -> Result<Lt1Keys, String> {
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
            let text = config::read_secret_file(path.as_ref())?;
            keys.push((
                kid.to_owned(),
                Key32::parse(&text).map_err(|e| format!("key {kid}: {e}"))?,
            ));
        }
        if keys.is_empty() {
            if let Some(path) = &self.config {
                let mut cfg: LegacyConfig = config::load_raw(Some(path), &config::process_env())
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

#[derive(Subcommand)]
enum KeysCommand {
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

#[derive(Subcommand)]
enum LegacyTokenCommand {
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

#[derive(Subcommand)]
enum ReferenceCommand {
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

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("idp-bridge: {message}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("IDP_BRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("IDP_BRIDGE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))
}

fn load_users(path: Option<&PathBuf>) -> Result<Users, String> {
    path.map_or_else(|| Ok(Users::demo()), |p| Users::load(p))
}

fn keys(command: KeysCommand) -> Result<ExitCode, String> {
    let (KeysCommand::Rotate { config, .. } | KeysCommand::List { config }) = &command;
    let settings = Settings::load(config).map_err(|e| e.to_string())?;
    runtime()?.block_on(async move {
        let store = idp_bridge::app::open_store(&settings)
            .await
            .map_err(|e| e.to_string())?;
        let storage = idp_bridge::app::storage_key(&settings).map_err(|e| e.to_string())?;
        match command {
            KeysCommand::Rotate {
                activation_delay_seconds,
                ..
            } => {
                let delay =
                    activation_delay_seconds.unwrap_or(settings.keys.activation_delay_seconds);
                let (added, pruned) = idp_bridge::keys::rotate(
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
                for line in idp_bridge::keys::describe(&stored, idp_bridge::upstream::now_unix()) {
                    println!("{line}");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

#[allow(clippy::too_many_lines)] // one arm per subcommand, each short
fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Serve { config } => {
            let settings = Settings::load(&config).map_err(|e| e.to_string())?;
            runtime()?.block_on(async move {
                let app = App::build(settings).await.map_err(|e| e.to_string())?;
                tracing::info!(port = app.port(), "idp-bridge listening");
                app.run_until_stopped().await.map_err(|e| e.to_string())?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Keys(command) => keys(command),
        Command::CheckConfig { config } => match Settings::load(&config) {
            Ok(settings) => {
                println!(
                    "{}: OK ({} client(s), issuer {})",
                    config.display(),
                    settings.clients.len(),
                    settings.issuer
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprint!("{}: {e}", config.display());
                Ok(ExitCode::from(1))
            }
        },
        Command::Demo { listen, data_dir } => {
            let dir = data_dir.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("idp-bridge-demo-{}", std::process::id()))
            });
            runtime()?.block_on(async move {
                let demo = Demo::start(&listen, &dir).await?;
                println!("idp-bridge demo is running.");
                println!();
                println!("  Open {} and click \"Log in\".", demo.rp_url);
                println!("  Sign in as alice / correct-horse (or bob / battery-staple; mallory / locked-out is locked).");
                println!();
                println!("  bridge (issuer): {}", demo.issuer);
                println!("  config:          {}", dir.join("bridge.toml").display());
                println!("Press Ctrl-C to stop.");
                demo.run_until(idp_bridge::app::shutdown_signal()).await?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::LegacyToken(LegacyTokenCommand::Mint {
            keys,
            sub,
            ttl,
            scope,
            claims,
        }) => {
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
        Command::LegacyToken(LegacyTokenCommand::Inspect { keys, token, now }) => {
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
                    let json = serde_json::json!({"valid": true, "kid": idp_bridge::legacy_token::kid_of(&token), "claims": claims.to_map()});
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
        Command::Reference(ReferenceCommand::LegacyIdp {
            keys,
            listen,
            users,
            latency_ms,
            token_ttl,
        }) => {
            let mut options = LegacyIdpOptions::demo(keys.load()?);
            options.users = load_users(users.as_ref())?;
            options.token_ttl = token_ttl;
            runtime()?.block_on(async move {
                let idp = LegacyIdp::new(options);
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
        Command::Reference(ReferenceCommand::LegacyApi { keys, listen }) => {
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
        Command::Reference(ReferenceCommand::LegacyCommand { keys, users }) => {
            let keys = keys.load()?;
            let users = load_users(users.as_ref())?;
            let code = command::run(&users, &keys, &mut std::io::stdin(), &mut std::io::stdout());
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(70)))
        }
        Command::Reference(ReferenceCommand::HashPassword) => {
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
