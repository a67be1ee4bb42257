//! `idp-bridge init`: a starter configuration for one adapter, with a
//! generated client secret (only its hash is written; the secret is printed
//! once, for Auth0) and a generated storage key in a file of its own (0600),
//! then the next steps. The file it writes passes `check-config`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The adapters a starter can be written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Adapter {
    /// A password API over HTTP (JSON in, JSON out).
    Http,
    /// A legacy IdP speaking OAuth 2.0's password grant.
    Oauth2Password,
    /// A program of your own.
    Command,
}

/// What `init` is told.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The adapter for the legacy IdP.
    #[arg(long, value_enum, default_value = "http")]
    pub adapter: Adapter,
    /// The bridge's public URL (https; http only on loopback).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub issuer: String,
    /// The legacy IdP's base URL (http and oauth2-password).
    #[arg(long, default_value = "https://legacy.example.com")]
    pub legacy_url: String,
    /// The Auth0 tenant's domain (for the callback URL).
    #[arg(long, default_value = "YOUR-TENANT.us.auth0.com")]
    pub auth0_domain: String,
    /// Where to write the configuration (refused if it exists).
    #[arg(long, default_value = "bridge.toml")]
    pub output: PathBuf,
}

/// Writes the starter and prints the next steps.
pub fn run(args: &InitArgs) -> Result<ExitCode, String> {
    if args.output.exists() {
        return Err(format!(
            "{} exists; name another file with --output",
            args.output.display()
        ));
    }
    let dir = args
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Absolute, so `serve` finds them from any working directory.
    let dir = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key_path = dir.join("storage.key");
    if key_path.exists() {
        return Err(format!(
            "{} exists; it would be overwritten",
            key_path.display()
        ));
    }
    let secret = crate::util::crypto::random_token();
    let hash = hex::encode(crate::util::crypto::sha256(secret.as_bytes()));
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    write_private(&key_path, &hex::encode(key))?;
    let text = starter(args, &hash, &key_path, &dir.join("idp-bridge-data"));
    write_private(&args.output, &text)?;
    let config = args.output.display();
    println!(
        "wrote {config} and {} (back the key up with the database)",
        key_path.display()
    );
    println!();
    println!("The client secret for Auth0 (shown once; only its hash is in {config}):");
    println!("  {secret}");
    println!();
    println!("Next:");
    println!(
        "  1. Fill in [upstream] for your legacy IdP, then: idp-bridge check-config --config {config}"
    );
    println!("  2. idp-bridge serve --config {config}");
    println!(
        "  3. In Auth0, create a connection to {} with client id `auth0` and the secret above;",
        args.issuer.trim_end_matches('/')
    );
    println!(
        "     its callback, https://{}/login/callback, is already registered here.",
        args.auth0_domain
    );
    Ok(ExitCode::SUCCESS)
}

/// The configuration text.
fn starter(args: &InitArgs, secret_hash: &str, key_path: &Path, data_dir: &Path) -> String {
    let listen = url::Url::parse(&args.issuer)
        .ok()
        .filter(crate::util::net::is_loopback)
        .and_then(|u| u.port().map(|p| format!("127.0.0.1:{p}")))
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let legacy = args.legacy_url.trim_end_matches('/');
    let upstream = match args.adapter {
        Adapter::Http => format!(
            r#"[upstream]
adapter = "http"
[upstream.http]
timeout_ms = 5000
[upstream.http.login]
url = "{legacy}/api/v1/login"          # POST {{"username", "password"}} as JSON
# [upstream.http.renew]
# url = "{legacy}/api/v1/renew"
[upstream.http.claims]                 # JSON pointers into the login answer
subject = "/user/id"
email = "/user/email"
name = "/user/name"
"#
        ),
        Adapter::Oauth2Password => format!(
            r#"[upstream]
adapter = "oauth2-password"
[upstream.oauth2-password]
token_url = "{legacy}/oauth/token"
userinfo_url = "{legacy}/oauth/userinfo"
client_id = "idp-bridge"
client_secret = {{ env = "LEGACY_CLIENT_SECRET" }}
scopes = ["openid", "profile"]
"#
        ),
        Adapter::Command => r#"[upstream]
adapter = "command"
[upstream.command]
program = "/opt/bridge/legacy-login"   # see docs/command-adapter.md
timeout_ms = 10000
"#
        .to_owned(),
    };
    format!(
        r#"# Written by `idp-bridge init`; every key is described in config.example.toml.
issuer = "{issuer}"
listen = "{listen}"
data_dir = "{data_dir}"
storage_key = {{ file = "{key}" }}

[[clients]]
id = "auth0"
secret_hash = "sha256:{secret_hash}"
redirect_uris = ["https://{domain}/login/callback"]

{upstream}"#,
        issuer = args.issuer.trim_end_matches('/'),
        data_dir = data_dir.display(),
        key = key_path.display(),
        domain = args.auth0_domain,
    )
}

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
