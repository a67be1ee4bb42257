//! The configuration file's tunable sections, each with its defaults:
//! `[store]`, `[keys]`, `[throttle]`, `[tokens]`, `[session]`, `[metrics]` and
//! `[tls]` (`[branding]` is in `branding`). Checks that span sections live in `super`.

use serde::Deserialize;

use crate::secret::SecretSource;

/// `[metrics]`: where `/metrics` is served, on its own listener so it is
/// never exposed with the login page (default: not served).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address for the metrics listener, such as `127.0.0.1:9464`.
    pub listen: Option<String>,
}

/// `[tls]`: serve https on `listen` without a proxy. The files are looked
/// at every `reload_interval_seconds` and a changed pair is served without
/// a restart; a pair that does not load leaves the previous one in place.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub certificate: std::path::PathBuf,
    /// PEM private key of the leaf certificate.
    pub private_key: std::path::PathBuf,
    /// How often the files are checked for a change, seconds (default 30).
    #[serde(default = "default_tls_reload")]
    pub reload_interval_seconds: u64,
}

fn default_tls_reload() -> u64 {
    30
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
    /// What RP-initiated logout (`/logout`, which Auth0's
    /// `/v2/logout?federated` reaches) ends: `session` (default), this
    /// browser's login session, or `user`, every grant, refresh token and
    /// session of the user, as `idp-bridge revoke --user` does.
    #[serde(default)]
    pub logout_ends: LogoutEnds,
}

/// What a logout ends (`[session] logout_ends`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogoutEnds {
    /// The browser's login session only.
    #[default]
    Session,
    /// The user everywhere.
    User,
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
