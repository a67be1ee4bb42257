//! Configuration: one TOML file, then `IDP_BRIDGE_*` environment overrides,
//! then validation into typed settings with errors that name the key (and the
//! environment variable, when the value came from one).
//!
//! Environment overrides name a key path with `__` between levels, upper
//! case: `IDP_BRIDGE_UPSTREAM__HTTP__TIMEOUT_MS=3000` sets
//! `upstream.http.timeout_ms`. A variable ending in `_FILE` reads the value
//! from that file instead (for secrets mounted as files):
//! `IDP_BRIDGE_UPSTREAM__HTTP__HEADERS__X-API-KEY_FILE=/run/secrets/key`.
//! Values are read as TOML when they parse as a number, boolean or array,
//! otherwise as a string; quote them (`'"123"'`) to force a string.
//!
//! Any secret in the file may also be written as `{ env = "NAME" }` or
//! `{ file = "/path" }` instead of a literal string.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::keys::SigningAlg;
use crate::legacy_token::{DEFAULT_LEEWAY_SECONDS, Lt1Keys};
use crate::secret::{Key32, SecretValue};
use crate::upstream::UpstreamConfig;

/// Prefix of every environment override.
pub const ENV_PREFIX: &str = "IDP_BRIDGE_";

/// Variables with the prefix that are not key overrides.
const RESERVED_ENV: &[&str] = &[
    "IDP_BRIDGE_CONFIG",
    "IDP_BRIDGE_LOG",
    "IDP_BRIDGE_LOG_FORMAT",
];

/// A secret given literally, from an environment variable, or from a file.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// `key = "value"`.
    Literal(SecretValue),
    /// `key = { env = "NAME" }`.
    Env {
        /// The variable to read.
        env: String,
    },
    /// `key = { file = "/path" }`; one trailing newline is dropped.
    File {
        /// The file to read.
        file: PathBuf,
    },
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(_) => f.write_str("Literal([redacted])"),
            Self::Env { env } => write!(f, "Env({env})"),
            Self::File { file } => write!(f, "File({})", file.display()),
        }
    }
}

impl SecretSource {
    /// Reads the secret. The error names the variable or file, never a value.
    pub fn resolve(&self) -> Result<SecretValue, String> {
        match self {
            Self::Literal(v) => Ok(v.clone()),
            Self::Env { env } => std::env::var(env)
                .map(SecretValue::new)
                .map_err(|_| format!("the environment variable {env} is not set")),
            Self::File { file } => read_secret_file(file).map(SecretValue::new),
        }
    }
}

/// Reads a secret file, dropping one trailing newline. The error names the file.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let mut text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// Every problem found in a configuration, each naming its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "the configuration has {} problem(s):",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(problem: impl Into<String>) -> Self {
        Self {
            problems: vec![problem.into()],
        }
    }
}

/// Reads a TOML file (or nothing), applies the environment overrides in
/// `env`, and deserializes into `T`. Errors name the key, and the variable
/// when the bad value came from one.
pub fn load_raw<T: DeserializeOwned>(
    path: Option<&Path>,
    env: &[(String, String)],
) -> Result<T, ConfigError> {
    let mut table = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::one(format!("cannot read {}: {e}", path.display())))?;
            text.parse::<toml::Table>()
                .map_err(|e| ConfigError::one(format!("{}: {}", path.display(), e.message())))?
        }
        None => toml::Table::new(),
    };
    let overridden = apply_env(&mut table, env)?;
    let value = toml::Value::Table(table);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let key = e.path().to_string();
        let source = overridden
            .iter()
            .find(|(path, _)| key == *path || key.starts_with(&format!("{path}.")))
            .map(|(_, var)| format!(" (set by {var})"))
            .unwrap_or_default();
        let key = if key == "." {
            "(top level)".to_owned()
        } else {
            key
        };
        ConfigError::one(format!("{key}{source}: {}", e.inner()))
    })
}

/// Applies `IDP_BRIDGE_A__B=value` overrides; returns which key paths came
/// from which variable.
fn apply_env(
    table: &mut toml::Table,
    env: &[(String, String)],
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut overridden = Vec::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if RESERVED_ENV.contains(&name.as_str()) || rest.is_empty() {
            continue;
        }
        let (rest, value) = if let Some(key) = rest.strip_suffix("_FILE") {
            let text = read_secret_file(Path::new(raw))
                .map_err(|e| ConfigError::one(format!("{name}: {e}")))?;
            (key, toml::Value::String(text))
        } else {
            (rest, env_value(raw))
        };
        let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::one(format!(
                "{name}: empty key segment in the variable name"
            )));
        }
        insert_path(table, &path, value).map_err(|e| ConfigError::one(format!("{name}: {e}")))?;
        overridden.push((path.join("."), name.clone()));
    }
    Ok(overridden)
}

/// An override's value: TOML when it is a number, boolean, array or inline
/// table, otherwise the raw string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn insert_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty key")?;
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    insert_value(entry, first, rest, value)
}

/// Descends into a table by key or into an array by index (`CLIENTS__0__SECRET`).
fn insert_value(
    current: &mut toml::Value,
    name: &str,
    path: &[String],
    value: toml::Value,
) -> Result<(), String> {
    match current {
        toml::Value::Table(t) => insert_path(t, path, value),
        toml::Value::Array(items) => {
            let (index, rest) = path.split_first().ok_or("empty key")?;
            let i: usize = index
                .parse()
                .map_err(|_| format!("`{name}` is an array: use an index after it"))?;
            let item = items
                .get_mut(i)
                .ok_or_else(|| format!("`{name}` has no entry {i}"))?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                insert_value(item, index, rest, value)
            }
        }
        _ => Err(format!("`{name}` is not a table")),
    }
}

/// The environment of this process, for [`load_raw`].
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars().collect()
}

/// `[legacy_token]`: the LT1 keys the bridge (and the reference stack) use.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LegacyTokenConfig {
    /// Keys by kid, oldest first. Each key is 64 hex digits or base64 of 32 bytes.
    #[serde(default)]
    pub keys: BTreeMap<String, SecretSource>,
    /// The kid new tokens are minted under; default the last kid in sort order.
    pub mint_kid: Option<String>,
    /// Clock leeway for `exp` and `iat`, seconds (default 60).
    pub leeway_seconds: Option<i64>,
}

impl LegacyTokenConfig {
    /// Builds the key set, or `None` when no key is configured.
    pub fn keys(&self) -> Result<Option<Lt1Keys>, ConfigError> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        let mut problems = Vec::new();
        let mut keys = Vec::new();
        for (kid, source) in &self.keys {
            match source
                .resolve()
                .and_then(|v| Key32::parse(v.secret()).map_err(|e| e.to_string()))
            {
                Ok(key) => keys.push((kid.clone(), key)),
                Err(e) => problems.push(format!("legacy_token.keys.{kid}: {e}")),
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let set = Lt1Keys::new(keys, self.mint_kid.as_deref())
            .map_err(|e| ConfigError::one(format!("legacy_token: {e}")))?;
        Ok(Some(set.with_leeway(
            self.leeway_seconds.unwrap_or(DEFAULT_LEEWAY_SECONDS),
        )))
    }
}

/// The whole configuration file, as far as the legacy side needs it.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LegacyConfig {
    /// `[upstream]`: which legacy IdP adapter, and its settings.
    pub upstream: Option<UpstreamConfig>,
    /// `[legacy_token]`: LT1 keys.
    #[serde(default)]
    pub legacy_token: LegacyTokenConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        server: Server,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Server {
        port: u16,
        name: Option<String>,
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(f.path(), text).expect("write");
        f
    }

    #[test]
    fn env_overrides_the_file_and_errors_name_the_variable() {
        let f = file("[server]\nport = 80\n");
        let env = vec![("IDP_BRIDGE_SERVER__PORT".to_owned(), "8080".to_owned())];
        let cfg: Demo = load_raw(Some(f.path()), &env).expect("valid");
        assert_eq!(cfg.server.port, 8080);

        let env = vec![("IDP_BRIDGE_SERVER__PORT".to_owned(), "eighty".to_owned())];
        let err = load_raw::<Demo>(Some(f.path()), &env).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("server.port"), "{text}");
        assert!(text.contains("IDP_BRIDGE_SERVER__PORT"), "{text}");
    }

    #[test]
    fn env_overrides_reach_into_arrays_by_index() {
        let f = file("[[clients]]\nid = \"a\"\n[[clients]]\nid = \"b\"\n");
        let mut table: toml::Table = std::fs::read_to_string(f.path())
            .expect("read")
            .parse()
            .expect("toml");
        let env = vec![("IDP_BRIDGE_CLIENTS__1__ID".to_owned(), "c".to_owned())];
        apply_env(&mut table, &env).expect("applies");
        assert_eq!(table["clients"][1]["id"].as_str(), Some("c"));
        let env = vec![("IDP_BRIDGE_CLIENTS__7__ID".to_owned(), "c".to_owned())];
        assert!(
            apply_env(&mut table, &env)
                .unwrap_err()
                .to_string()
                .contains("no entry 7")
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let f = file("[server]\nport = 80\nprot = 1\n");
        let err = load_raw::<Demo>(Some(f.path()), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn file_suffix_reads_the_value_from_a_file() {
        let f = file("[server]\nport = 80\n");
        let secret = file("from-file\n");
        let env = vec![(
            "IDP_BRIDGE_SERVER__NAME_FILE".to_owned(),
            secret.path().display().to_string(),
        )];
        let cfg: Demo = load_raw(Some(f.path()), &env).expect("valid");
        assert_eq!(cfg.server.name.as_deref(), Some("from-file"));
    }

    #[test]
    fn secret_sources_resolve_from_file_and_report_missing_env() {
        let secret = file("s3cret\n");
        let src = SecretSource::File {
            file: secret.path().to_owned(),
        };
        assert_eq!(src.resolve().expect("file").secret(), "s3cret");
        let missing = SecretSource::Env {
            env: "IDP_BRIDGE_TEST_SURELY_UNSET".into(),
        };
        assert!(
            missing
                .resolve()
                .unwrap_err()
                .contains("IDP_BRIDGE_TEST_SURELY_UNSET")
        );
        assert_eq!(
            format!("{:?}", SecretSource::Literal(SecretValue::new("x"))),
            "Literal([redacted])"
        );
    }
}

/// The bridge's whole configuration file (`idp-bridge serve --config FILE`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// The issuer URL: exactly what `iss` says and discovery publishes.
    pub issuer: url::Url,
    /// Address to listen on (default `127.0.0.1:8080`; port 0 picks one).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Directory for the SQLite database and the generated storage key
    /// (default `./idp-bridge-data`).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// A connection must send a request's headers within this many
    /// milliseconds (default 10000), so slow clients cannot hold
    /// connections open (slowloris).
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// The key sealing secrets at rest (64 hex digits or base64 of 32 bytes).
    /// When absent, one is generated in `data_dir/storage.key` at first start.
    pub storage_key: Option<SecretSource>,
    /// The store.
    #[serde(default)]
    pub store: StoreSettings,
    /// Signing keys.
    #[serde(default)]
    pub keys: KeySettings,
    /// Login abuse protection.
    #[serde(default)]
    pub throttle: ThrottleSettings,
    /// Lifetimes.
    #[serde(default)]
    pub tokens: TokenSettings,
    /// The login session.
    #[serde(default)]
    pub session: SessionSettings,
    /// The login page's look.
    #[serde(default)]
    pub branding: Branding,
    /// The relying parties (Auth0 connections) allowed to use the bridge.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// The legacy IdP adapter.
    pub upstream: UpstreamConfig,
    /// LT1 keys (optional; only for LT1-aware settings).
    #[serde(default)]
    pub legacy_token: LegacyTokenConfig,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `[metrics]`: where `/metrics` is served, on its own listener so it is
/// never exposed with the login page (default: not served).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address for the metrics listener, such as `127.0.0.1:9464`.
    pub listen: Option<String>,
}

/// `[throttle]`: growing delays and temporary lockouts after failed
/// logins, per username and per client address. They protect accounts from
/// guessing and the legacy IdP from being hammered through the bridge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    /// Failures per username within the window before a lockout (default 5).
    #[serde(default = "default_user_failures")]
    pub max_failures_per_user: i64,
    /// Failures per client address within the window before a lockout (default 50).
    #[serde(default = "default_address_failures")]
    pub max_failures_per_address: i64,
    /// The counting window, seconds (default 900).
    #[serde(default = "default_throttle_window")]
    pub window_seconds: i64,
    /// How long a lockout lasts, seconds (default 900).
    #[serde(default = "default_throttle_window")]
    pub lockout_seconds: i64,
    /// Delay after the first failure, doubled for each further one (default 250 ms).
    #[serde(default = "default_base_delay")]
    pub base_delay_ms: u64,
    /// The longest delay (default 4000 ms).
    #[serde(default = "default_max_delay")]
    pub max_delay_ms: u64,
    /// Behind a load balancer: the header that carries the client address
    /// (the last entry of `X-Forwarded-For`, say). Unset: the peer address.
    pub client_address_header: Option<String>,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures_per_user: default_user_failures(),
            max_failures_per_address: default_address_failures(),
            window_seconds: default_throttle_window(),
            lockout_seconds: default_throttle_window(),
            base_delay_ms: default_base_delay(),
            max_delay_ms: default_max_delay(),
            client_address_header: None,
        }
    }
}

fn default_user_failures() -> i64 {
    5
}
fn default_address_failures() -> i64 {
    50
}
fn default_throttle_window() -> i64 {
    900
}
fn default_base_delay() -> u64 {
    250
}
fn default_max_delay() -> u64 {
    4000
}

/// `[keys]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// How often each instance re-reads the signing keys from the store, so
    /// a rotation reaches every instance (default 30 s).
    #[serde(default = "default_reload")]
    pub reload_interval_seconds: u64,
    /// How long `keys rotate` publishes a new key before it signs (default
    /// 600 s: past the reload interval and the JWKS cache time, 300 s).
    #[serde(default = "default_activation_delay")]
    pub activation_delay_seconds: i64,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            reload_interval_seconds: default_reload(),
            activation_delay_seconds: default_activation_delay(),
        }
    }
}

fn default_reload() -> u64 {
    30
}
fn default_activation_delay() -> i64 {
    600
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `postgres://user@host/db` for PostgreSQL (several instances); absent
    /// means the embedded SQLite file in `data_dir`.
    pub url: Option<SecretSource>,
    /// PostgreSQL schema to use (created if missing); default the search path.
    pub schema: Option<String>,
    /// PostgreSQL pool size per instance (default 10).
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// fsync every SQLite commit (default false: WAL already survives a
    /// crash of the process; this also covers power loss).
    #[serde(default)]
    pub sqlite_full_sync: bool,
    /// Seconds between cleanup passes that remove expired codes, grants,
    /// refresh tokens and sessions (default 60).
    #[serde(default = "default_cleanup_interval")]
    pub cleanup_interval_seconds: u64,
    /// Rows removed per statement, so cleanup never holds the writer long (default 500).
    #[serde(default = "default_cleanup_batch")]
    pub cleanup_batch: i64,
}

fn default_max_connections() -> u32 {
    10
}
fn default_cleanup_interval() -> u64 {
    60
}
fn default_cleanup_batch() -> i64 {
    500
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: None,
            schema: None,
            max_connections: default_max_connections(),
            sqlite_full_sync: false,
            cleanup_interval_seconds: default_cleanup_interval(),
            cleanup_batch: default_cleanup_batch(),
        }
    }
}

/// `[tokens]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Authorization code lifetime, seconds (default 60; at most 60).
    #[serde(default = "default_code_ttl")]
    pub code_ttl_seconds: i64,
    /// ID token lifetime, seconds (default 3600).
    #[serde(default = "default_id_token_ttl")]
    pub id_token_ttl_seconds: i64,
    /// How long a login form stays usable, seconds (default 600).
    #[serde(default = "default_login_ttl")]
    pub login_ttl_seconds: i64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            code_ttl_seconds: default_code_ttl(),
            id_token_ttl_seconds: default_id_token_ttl(),
            login_ttl_seconds: default_login_ttl(),
        }
    }
}

/// `[session]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    /// Inactivity expiry, seconds (default 1800).
    pub idle_timeout_seconds: Option<i64>,
    /// Force the cookie's `Secure` flag; default: on unless the issuer is
    /// plain http on a loopback address.
    pub secure_cookie: Option<bool>,
}

/// `[branding]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// Shown as the page title and heading.
    #[serde(default = "default_org")]
    pub organization: String,
    /// What the username field is called ("Username", "Employee ID", ...).
    #[serde(default = "default_username_label")]
    pub username_label: String,
    /// Optional help text under the form (plain text).
    pub help_text: Option<String>,
    /// Accent colour, a CSS hex colour such as `#0b5cad`.
    #[serde(default = "default_accent")]
    pub accent_color: String,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            organization: default_org(),
            username_label: default_username_label(),
            help_text: None,
            accent_color: default_accent(),
        }
    }
}

/// `[[clients]]`: one relying party.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The client id.
    pub id: String,
    /// The secret, from env or a file (or literal, for tests).
    pub secret: Option<SecretSource>,
    /// Or only its hash: `sha256:<hex>` (for high-entropy generated secrets).
    pub secret_hash: Option<String>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Scopes the client may be granted (default openid, profile, email).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Refuse authorization requests without PKCE (default false: Auth0's
    /// `oauth2` strategy does not always send it).
    #[serde(default)]
    pub require_pkce: bool,
    /// Token endpoint authentication methods (default both secret methods).
    #[serde(default = "default_auth_methods")]
    pub token_endpoint_auth_methods: Vec<String>,
    /// Refresh tokens (issued when `offline_access` is in `scopes` and asked for).
    #[serde(default)]
    pub refresh_tokens: RefreshPolicy,
    /// Exact URIs the client may send users to after logout.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// For `private_key_jwt`: the client's public keys as a JWK Set (JSON text).
    pub jwks: Option<String>,
    /// For `private_key_jwt`: the client's public key as PEM (RSA or EC P-256).
    pub public_key_pem: Option<String>,
    /// How this client's ID tokens are signed: `RS256` (default) or `ES256`
    /// (the OIDC Dynamic Client Registration metadata name).
    #[serde(default = "default_id_token_alg")]
    pub id_token_signed_response_alg: String,
}

fn default_id_token_alg() -> String {
    "RS256".into()
}

/// `[clients.refresh_tokens]`: how this client's refresh tokens behave.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshPolicy {
    /// Each use returns a new refresh token and spends the old one (default
    /// true). Auth0 Token Vault asks upstream providers not to rotate: set
    /// false for a Token Vault connection.
    #[serde(default = "default_true")]
    pub rotation: bool,
    /// A spent token used again within this many seconds gets the same
    /// answer as the first use (concurrent refreshes); after it, reuse
    /// revokes the whole family (default 5).
    #[serde(default = "default_grace")]
    pub reuse_grace_seconds: i64,
    /// A family ends this long after the login, seconds (default 30 days).
    #[serde(default = "default_absolute")]
    pub absolute_lifetime_seconds: i64,
    /// A family ends when unused this long, seconds (default 14 days).
    #[serde(default = "default_idle")]
    pub idle_lifetime_seconds: i64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            rotation: true,
            reuse_grace_seconds: default_grace(),
            absolute_lifetime_seconds: default_absolute(),
            idle_lifetime_seconds: default_idle(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_grace() -> i64 {
    5
}
fn default_absolute() -> i64 {
    30 * 86_400
}
fn default_idle() -> i64 {
    14 * 86_400
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("idp-bridge-data")
}
fn default_code_ttl() -> i64 {
    60
}
fn default_id_token_ttl() -> i64 {
    3600
}
fn default_login_ttl() -> i64 {
    600
}
fn default_org() -> String {
    "Single sign-on".into()
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_username_label() -> String {
    "Username".into()
}
fn default_accent() -> String {
    "#0b5cad".into()
}
fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
fn default_auth_methods() -> Vec<String> {
    vec!["client_secret_post".into(), "client_secret_basic".into()]
}

/// A client after validation: the secret reduced to its SHA-256.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client id.
    pub id: String,
    /// SHA-256 of the secret (absent for a `private_key_jwt`-only client).
    pub secret_sha256: Option<[u8; 32]>,
    /// Public keys for `private_key_jwt`.
    pub assertion_keys: Vec<AssertionKey>,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// PKCE required.
    pub require_pkce: bool,
    /// Allowed token endpoint auth methods.
    pub auth_methods: Vec<String>,
    /// Refresh token behaviour.
    pub refresh: RefreshPolicy,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// How its ID tokens are signed.
    pub id_token_alg: SigningAlg,
}

/// A client's public key for `private_key_jwt`.
#[derive(Clone)]
pub struct AssertionKey {
    /// Its `kid`, if the JWK had one.
    pub kid: Option<String>,
    /// Whether it is an EC key (ES256) rather than RSA (RS256, PS256).
    pub ec: bool,
    /// The verification key.
    pub key: jsonwebtoken::DecodingKey,
}

impl fmt::Debug for AssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionKey")
            .field("kid", &self.kid)
            .field("ec", &self.ec)
            .finish_non_exhaustive()
    }
}

/// Parses a client's `jwks` and `public_key_pem` into verification keys.
fn assertion_keys(c: &ClientConfig) -> Result<Vec<AssertionKey>, String> {
    let mut keys = Vec::new();
    if let Some(text) = &c.jwks {
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(text).map_err(|e| format!("jwks: not a JWK Set: {e}"))?;
        for jwk in &set.keys {
            let ec = matches!(
                jwk.algorithm,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_)
            );
            let key = jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| format!("jwks: {e}"))?;
            keys.push(AssertionKey {
                kid: jwk.common.key_id.clone(),
                ec,
                key,
            });
        }
    }
    if let Some(pem) = &c.public_key_pem {
        let (key, ec) = match jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()) {
            Ok(k) => (k, false),
            Err(_) => (
                jsonwebtoken::DecodingKey::from_ec_pem(pem.as_bytes())
                    .map_err(|_| "public_key_pem: not an RSA or EC public key".to_owned())?,
                true,
            ),
        };
        keys.push(AssertionKey { kid: None, ec, key });
    }
    Ok(keys)
}

/// The validated configuration the bridge runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Issuer, without a trailing slash.
    pub issuer: String,
    /// Listen address.
    pub listen: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// How long a connection may take to send a request's headers.
    pub header_read_timeout: std::time::Duration,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<String>,
    /// Storage key, if configured (else generated in the data dir).
    pub storage_key: Option<Key32>,
    /// Store settings.
    pub store: StoreSettings,
    /// Key settings.
    pub keys: KeySettings,
    /// Login throttling.
    pub throttle: ThrottleSettings,
    /// Lifetimes.
    pub tokens: TokenSettings,
    /// Inactivity expiry of the login session, seconds.
    pub session_idle_seconds: i64,
    /// Whether the session cookie is `Secure`.
    pub secure_cookie: bool,
    /// Branding.
    pub branding: Branding,
    /// Clients by id.
    pub clients: BTreeMap<String, Client>,
    /// The upstream adapter settings.
    pub upstream: UpstreamConfig,
    /// LT1 keys, if any.
    pub lt1: Option<Lt1Keys>,
}

impl Settings {
    /// The ID token algorithms the clients use (each needs a signing key).
    pub fn id_token_algs(&self) -> Vec<SigningAlg> {
        let mut algs: Vec<SigningAlg> = self.clients.values().map(|c| c.id_token_alg).collect();
        algs.sort_by_key(|a| a.as_str());
        algs.dedup();
        algs
    }

    /// Loads `path` with the process environment and validates it.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw: BridgeConfig = load_raw(Some(path), &process_env())?;
        Self::validate(raw)
    }

    /// Validates a raw configuration, reporting every problem at once.
    pub fn validate(raw: BridgeConfig) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let issuer = raw.issuer.as_str().trim_end_matches('/').to_owned();
        if raw.issuer.scheme() != "https" && !is_loopback(&raw.issuer) {
            problems.push(
                "issuer: must be https (plain http is allowed only on loopback addresses)"
                    .to_owned(),
            );
        }
        if raw.issuer.query().is_some() || raw.issuer.fragment().is_some() {
            problems.push(
                "issuer: must not have a query or fragment (OpenID Connect Discovery §3)"
                    .to_owned(),
            );
        }
        if !(1..=60).contains(&raw.tokens.code_ttl_seconds) {
            problems.push("tokens.code_ttl_seconds: must be between 1 and 60".to_owned());
        }
        if raw.tokens.id_token_ttl_seconds < 60 {
            problems.push("tokens.id_token_ttl_seconds: must be at least 60".to_owned());
        }
        if !(100..=120_000).contains(&raw.header_read_timeout_ms) {
            problems.push("header_read_timeout_ms: must be between 100 and 120000".to_owned());
        }
        let accent_ok = raw.branding.accent_color.len() == 7
            && raw.branding.accent_color.starts_with('#')
            && raw.branding.accent_color[1..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit());
        if !accent_ok {
            problems.push("branding.accent_color: must be a hex colour like #0b5cad".to_owned());
        }
        let storage_key = raw.storage_key.as_ref().and_then(|s| {
            match s
                .resolve()
                .and_then(|v| Key32::parse(v.secret()).map_err(|e| e.to_string()))
            {
                Ok(k) => Some(k),
                Err(e) => {
                    problems.push(format!("storage_key: {e}"));
                    None
                }
            }
        });
        let mut clients = BTreeMap::new();
        if raw.clients.is_empty() {
            problems.push("clients: at least one [[clients]] entry is required".to_owned());
        }
        for (i, c) in raw.clients.iter().enumerate() {
            match validate_client(c, i) {
                Ok(client) => {
                    if clients.insert(client.id.clone(), client).is_some() {
                        problems.push(format!("clients[{i}].id: `{}` appears twice", c.id));
                    }
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
        let lt1 = match raw.legacy_token.keys() {
            Ok(k) => k,
            Err(mut e) => {
                problems.append(&mut e.problems);
                None
            }
        };
        if let Err(e) = crate::upstream::build(&raw.upstream, lt1.clone()) {
            problems.push(e.to_string());
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let secure_cookie = raw
            .session
            .secure_cookie
            .unwrap_or(!(raw.issuer.scheme() == "http" && is_loopback(&raw.issuer)));
        Ok(Self {
            issuer,
            listen: raw.listen,
            data_dir: raw.data_dir,
            header_read_timeout: std::time::Duration::from_millis(raw.header_read_timeout_ms),
            metrics_listen: raw.metrics.listen,
            storage_key,
            store: raw.store,
            keys: raw.keys,
            throttle: raw.throttle,
            tokens: raw.tokens,
            session_idle_seconds: raw.session.idle_timeout_seconds.unwrap_or(1800),
            secure_cookie,
            branding: raw.branding,
            clients,
            upstream: raw.upstream,
            lt1,
        })
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The client's secret reduced to its SHA-256, or the problems with it.
fn client_secret(
    c: &ClientConfig,
    key: &str,
    wants_secret: bool,
    problems: &mut Vec<String>,
) -> Option<[u8; 32]> {
    match (&c.secret, &c.secret_hash) {
        (Some(s), None) => match s.resolve() {
            Ok(v) if v.secret().len() >= 16 => Some(crate::crypto::sha256(v.secret().as_bytes())),
            Ok(_) => {
                problems.push(format!("{key}.secret: must be at least 16 characters"));
                None
            }
            Err(e) => {
                problems.push(format!("{key}.secret: {e}"));
                None
            }
        },
        (None, Some(h)) => {
            let digest = h
                .strip_prefix("sha256:")
                .and_then(|h| hex::decode(h).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok());
            if digest.is_none() {
                problems.push(format!("{key}.secret_hash: must be sha256:<64 hex digits>"));
            }
            digest
        }
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{key}: give one of secret or secret_hash, not both"
            ));
            None
        }
        (None, None) => {
            if wants_secret {
                problems.push(format!(
                    "{key}: a client_secret_* method needs secret or secret_hash"
                ));
            }
            None
        }
    }
}

fn validate_client(c: &ClientConfig, i: usize) -> Result<Client, Vec<String>> {
    let key = format!("clients[{i}]");
    let mut problems = Vec::new();
    if c.id.is_empty() || c.id.contains(':') {
        problems.push(format!(
            "{key}.id: must be non-empty and contain no ':' (RFC 6749 §2.3.1)"
        ));
    }
    let wants_secret = c
        .token_endpoint_auth_methods
        .iter()
        .any(|m| m.starts_with("client_secret_"));
    let wants_keys = c
        .token_endpoint_auth_methods
        .iter()
        .any(|m| m == "private_key_jwt");
    let secret_sha256 = client_secret(c, &key, wants_secret, &mut problems);
    let keys = match assertion_keys(c) {
        Ok(k) => k,
        Err(e) => {
            problems.push(format!("{key}.{e}"));
            Vec::new()
        }
    };
    if wants_keys && keys.is_empty() && c.jwks.is_none() && c.public_key_pem.is_none() {
        problems.push(format!(
            "{key}: private_key_jwt needs jwks or public_key_pem"
        ));
    }
    if c.redirect_uris.is_empty() {
        problems.push(format!("{key}.redirect_uris: at least one is required"));
    }
    for (j, uri) in c.redirect_uris.iter().enumerate() {
        match url::Url::parse(uri) {
            Ok(u) if u.fragment().is_some() => problems.push(format!(
                "{key}.redirect_uris[{j}]: must not have a fragment (RFC 6749 §3.1.2)"
            )),
            Ok(u) if u.scheme() != "https" && !is_loopback(&u) => {
                problems.push(format!(
                    "{key}.redirect_uris[{j}]: must be https (http only on loopback)"
                ));
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("{key}.redirect_uris[{j}]: {e}")),
        }
    }
    let r = &c.refresh_tokens;
    if !(0..=60).contains(&r.reuse_grace_seconds) {
        problems.push(format!(
            "{key}.refresh_tokens.reuse_grace_seconds: must be between 0 and 60"
        ));
    }
    if r.absolute_lifetime_seconds < 60 || r.idle_lifetime_seconds < 60 {
        problems.push(format!(
            "{key}.refresh_tokens: lifetimes must be at least 60 seconds"
        ));
    }
    for m in &c.token_endpoint_auth_methods {
        if m != "client_secret_post" && m != "client_secret_basic" && m != "private_key_jwt" {
            problems.push(format!(
                "{key}.token_endpoint_auth_methods: `{m}` is not supported"
            ));
        }
    }
    let id_token_alg = SigningAlg::parse(&c.id_token_signed_response_alg).unwrap_or_else(|| {
        problems.push(format!(
            "{key}.id_token_signed_response_alg: `{}` is not supported (RS256 or ES256)",
            c.id_token_signed_response_alg
        ));
        SigningAlg::RS256
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Client {
        id: c.id.clone(),
        secret_sha256,
        assertion_keys: keys,
        redirect_uris: c.redirect_uris.clone(),
        scopes: c.scopes.clone(),
        require_pkce: c.require_pkce,
        auth_methods: c.token_endpoint_auth_methods.clone(),
        refresh: c.refresh_tokens.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        id_token_alg,
    })
}
