//! Configuration: one TOML file, then `IDP_BRIDGE_*` environment overrides
//! (`load`), then validation into typed settings with errors that name the
//! key (and the environment variable, when the value came from one). The
//! file's sections are here; the relying parties are in `clients`.

mod clients;
mod load;

use clients::validate_client;
pub use clients::{AssertionKey, AuthMethod, Client, ClientConfig, RefreshPolicy};
pub use load::{ConfigError, ENV_PREFIX, load_raw, process_env};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::keys::SigningAlg;
use crate::legacy_token::{DEFAULT_LEEWAY_SECONDS, Lt1Keys};
use crate::net::is_loopback;
use crate::secret::{Key32, SecretSource};
use crate::upstream::UpstreamConfig;

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
