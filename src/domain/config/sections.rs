//! The configuration file's tunable sections, each with its defaults:
//! `[store]`, `[keys]`, `[throttle]`, `[tokens]`, `[session]`, `[metrics]` and
//! `[tls]` (`[branding]` is in `branding`). Checks that span sections live in `super`.

use serde::Deserialize;

use crate::util::secret::SecretSource;

/// `[metrics]`: where `/metrics` is served, on its own listener so it is
/// never exposed with the login page (default: not served).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address for the metrics listener, such as `127.0.0.1:9464`.
    pub listen: Option<String>,
}

/// `[tls]`: serve https on `listen` without a proxy. The files are looked
/// at every `reload_interval_seconds` and a changed pair is served without
/// a restart; a pair that does not load leaves the previous one in place.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub certificate: std::path::PathBuf,
    /// PEM private key of the leaf certificate.
    pub private_key: std::path::PathBuf,
    /// How often the files are checked for a change, seconds (default 30).
    #[serde(default = "default_tls_reload")]
    #[schemars(range(min = 1, max = 86_400))]
    pub reload_interval_seconds: u64,
}

fn default_tls_reload() -> u64 {
    30
}

/// `[throttle]` as written: brute-force protection in Auth0's manner.
/// Failed logins are counted per username from one client address (a
/// burst locks that address out of that account, not the account), per
/// address across usernames (one address guessing many accounts), and per
/// username across addresses, at a much higher ceiling (many addresses
/// guessing one account). They protect accounts from guessing and the
/// legacy IdP from being hammered through the bridge.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Failures of one username from one address within the window before
    /// that address is locked out of that username (default 5).
    #[serde(default = "default_user_address_failures")]
    pub max_failures_per_user_and_address: i64,
    /// Failures from one client address, whatever the usernames, within the
    /// window before the address is locked out (default 50).
    #[serde(default = "default_address_failures")]
    pub max_failures_per_address: i64,
    /// Failures of one username from all addresses together within the
    /// window before the username is locked everywhere (default 100); must
    /// be above `max_failures_per_user_and_address`.
    #[serde(default = "default_user_failures")]
    pub max_failures_per_user: i64,
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
    /// The header a trusted proxy puts the client address in (default
    /// `X-Forwarded-For`).
    pub client_address_header: Option<String>,
    /// Addresses or networks (`10.0.0.0/8`) of the proxies whose
    /// `client_address_header` is believed (default none: every attempt
    /// counts under its peer address).
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// How a username appears in audit lines (default `hashed`).
    #[serde(default)]
    pub audit_username: AuditUsername,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            max_failures_per_user_and_address: default_user_address_failures(),
            max_failures_per_address: default_address_failures(),
            max_failures_per_user: default_user_failures(),
            window_seconds: default_throttle_window(),
            lockout_seconds: default_throttle_window(),
            base_delay_ms: default_base_delay(),
            max_delay_ms: default_max_delay(),
            client_address_header: None,
            trusted_proxies: Vec::new(),
            audit_username: AuditUsername::default(),
        }
    }
}

/// How the username of a login appears in its audit lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditUsername {
    /// As typed (control characters escaped). A person who types their
    /// password into the username field puts it in the log.
    Plain,
    /// `hmac:` and an HMAC-SHA256 of the case-folded username under a key
    /// derived from the storage key: the same on every instance, joinable
    /// across lines, not reversible without the key.
    #[default]
    Hashed,
}

/// `[throttle]` validated.
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// Failures per username and address before that pair is locked.
    pub max_failures_per_user_and_address: i64,
    /// Failures per address before the address is locked.
    pub max_failures_per_address: i64,
    /// Failures per username, across addresses, before it is locked everywhere.
    pub max_failures_per_user: i64,
    /// The counting window, seconds.
    pub window_seconds: i64,
    /// How long a lockout lasts, seconds.
    pub lockout_seconds: i64,
    /// Delay after the first failure, milliseconds.
    pub base_delay_ms: u64,
    /// The longest delay, milliseconds.
    pub max_delay_ms: u64,
    /// The header trusted proxies put the client address in.
    pub client_address_header: http::HeaderName,
    /// The proxies whose header is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How usernames appear in audit lines.
    pub audit_username: AuditUsername,
}

impl ThrottleConfig {
    /// Validates the section, naming each problem by its key.
    pub fn validate(&self) -> Result<ThrottleSettings, Vec<String>> {
        let mut problems = Vec::new();
        for (key, value) in [
            (
                "max_failures_per_user_and_address",
                self.max_failures_per_user_and_address,
            ),
            ("max_failures_per_address", self.max_failures_per_address),
            ("max_failures_per_user", self.max_failures_per_user),
            ("window_seconds", self.window_seconds),
            ("lockout_seconds", self.lockout_seconds),
        ] {
            if value < 1 {
                problems.push(format!("throttle.{key}: must be at least 1"));
            }
        }
        if self.max_failures_per_user <= self.max_failures_per_user_and_address {
            problems.push(format!(
                "throttle.max_failures_per_user: the ceiling across addresses must be above \
                 max_failures_per_user_and_address ({}), or one address could lock the user out \
                 everywhere (the old per-username limit is now max_failures_per_user_and_address)",
                self.max_failures_per_user_and_address
            ));
        }
        let trusted_proxies = crate::util::net::check_networks(
            "throttle.trusted_proxies",
            &self.trusted_proxies,
            &mut problems,
        );
        if self.client_address_header.is_some() && trusted_proxies.is_empty() {
            problems.push(
                "throttle.client_address_header: believed only from throttle.trusted_proxies; \
                 list the proxies that set it"
                    .to_owned(),
            );
        }
        let header = self
            .client_address_header
            .as_deref()
            .unwrap_or("X-Forwarded-For");
        let client_address_header = http::HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| {
                problems.push(format!(
                    "throttle.client_address_header: `{header}` is not a header name"
                ));
            })
            .ok();
        match client_address_header {
            Some(client_address_header) if problems.is_empty() => Ok(ThrottleSettings {
                max_failures_per_user_and_address: self.max_failures_per_user_and_address,
                max_failures_per_address: self.max_failures_per_address,
                max_failures_per_user: self.max_failures_per_user,
                window_seconds: self.window_seconds,
                lockout_seconds: self.lockout_seconds,
                base_delay_ms: self.base_delay_ms,
                max_delay_ms: self.max_delay_ms,
                client_address_header,
                trusted_proxies,
                audit_username: self.audit_username,
            }),
            _ => Err(problems),
        }
    }
}

fn default_user_address_failures() -> i64 {
    5
}
fn default_address_failures() -> i64 {
    50
}
fn default_user_failures() -> i64 {
    100
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
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
    /// How long a signing key signs before the bridge rotates it by itself
    /// (default 21600 s, six hours, as Dex; 0 turns scheduled rotation
    /// off). The successor is published `activation_delay_seconds` before
    /// it signs, once across instances; the old key is retired when every
    /// ID token it signed has expired. Must exceed `activation_delay_seconds`.
    #[serde(default = "default_rotate_every")]
    pub rotate_every_seconds: u64,
}

impl KeySettings {
    /// How long `/jwks` may be cached (the `max-age` it is served with):
    /// short enough that a key published `activation_delay_seconds` before
    /// it signs reaches every relying party that honours it, on every
    /// instance (each learns of the key within `reload_interval_seconds`);
    /// at most 300 s.
    pub fn jwks_max_age_seconds(&self) -> u64 {
        let lead = u64::try_from(self.activation_delay_seconds).unwrap_or(0);
        lead.saturating_sub(self.reload_interval_seconds).min(300)
    }

    /// The problems with these settings.
    pub fn check(&self, problems: &mut Vec<String>) {
        if self.activation_delay_seconds < 0 {
            problems.push("keys.activation_delay_seconds: must not be negative".to_owned());
        }
        let lead = u64::try_from(self.activation_delay_seconds).unwrap_or(0);
        if self.rotate_every_seconds != 0 && self.rotate_every_seconds <= lead {
            problems.push(format!(
                "keys.rotate_every_seconds: must exceed keys.activation_delay_seconds ({lead}), or be 0 for no scheduled rotation"
            ));
        }
    }
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            reload_interval_seconds: default_reload(),
            activation_delay_seconds: default_activation_delay(),
            rotate_every_seconds: default_rotate_every(),
        }
    }
}

fn default_reload() -> u64 {
    30
}
fn default_activation_delay() -> i64 {
    600
}
fn default_rotate_every() -> u64 {
    6 * 3600
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    /// Authorization code lifetime, seconds (default 60; at most 60).
    #[serde(default = "default_code_ttl")]
    #[schemars(range(min = 1, max = 60))]
    pub code_ttl_seconds: i64,
    /// ID token lifetime, seconds (default 3600).
    #[serde(default = "default_id_token_ttl")]
    #[schemars(range(min = 60))]
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
#[derive(Debug, Clone, Deserialize, Default, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_defaults_validate_and_old_style_settings_are_named() {
        let settings = ThrottleConfig::default().validate().expect("defaults");
        assert_eq!(
            (
                settings.max_failures_per_user_and_address,
                settings.max_failures_per_address,
                settings.max_failures_per_user,
            ),
            (5, 50, 100)
        );
        assert_eq!(settings.client_address_header, "x-forwarded-for");
        assert!(settings.trusted_proxies.is_empty());
        assert_eq!(settings.audit_username, AuditUsername::Hashed);
        // The old per-username limit, and a header believed from anyone.
        let old = ThrottleConfig {
            max_failures_per_user: 5,
            client_address_header: Some("X-Forwarded-For".into()),
            ..ThrottleConfig::default()
        };
        let problems = old.validate().expect_err("refused");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("throttle.max_failures_per_user: "));
        assert!(problems[1].starts_with("throttle.client_address_header: "));
        let proxied = ThrottleConfig {
            client_address_header: Some("X-Real-IP".into()),
            trusted_proxies: vec!["10.0.0.0/8".into()],
            ..ThrottleConfig::default()
        };
        assert_eq!(
            proxied.validate().expect("valid").client_address_header,
            "x-real-ip"
        );
    }
}
