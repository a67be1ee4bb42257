//! Configuration: one TOML file, then `IDP_BRIDGE_*` environment overrides
//! (`load`), then validation into typed settings with errors that name the
//! key (and the environment variable, when the value came from one). The
//! file's top level and its validation are here; the tunable sections
//! (`[store]`, `[keys]`, `[throttle]`, `[tokens]`, `[session]`,
//! `[metrics]`, `[tls]`) are in `sections`, `[branding]` in `branding`; the relying parties are in
//! `clients`. [`Settings::load`] is the one check `serve` and `check-config`
//! both run: every problem in one pass, each placed by `position`
//! (`file:line:column`, or the variable that set it). `schema` derives the
//! file's JSON Schema from these same types.

mod admin;
mod branding;
mod checks;
mod clients;
mod exchange;
mod gateway;
mod legacy_validation;
mod load;
mod migration;
mod position;
mod repair;
pub mod schema;
mod sections;
mod signing_alg;

pub use admin::{Admin, AdminConfig, Auth0Events, Auth0EventsConfig, WebhookAuth};
pub use branding::{
    Asset, BrandAssets, BrandTexts, Branding, FAVICON_PATH, FooterLink, LOGO_PATH, PAGE_LANGUAGES,
    STYLESHEET_PATH,
};
pub use clients::{AssertionKey, AuthMethod, Client, ClientConfig, RefreshPolicy};
use clients::{ids_differing_only_by_case, validate_client};
pub use exchange::{ExchangePolicy, MintLt1Config, TokenExchange, TokenExchangeConfig};
pub use gateway::{DEFAULT_METHODS, GatewayConfig, GatewaySettings, Route, RouteConfig};

pub use legacy_validation::{LegacyValidation, LegacyValidationConfig, Remote, SourceKind};
pub use load::{ConfigError, ENV_PREFIX, load_raw, process_env};
pub use migration::{Migration, MigrationConfig};
pub use sections::{
    AuditUsername, KeySettings, LogoutEnds, MetricsConfig, SessionSettings, StoreSettings,
    ThrottleConfig, ThrottleSettings, TlsConfig, TokenSettings,
};
pub use signing_alg::SigningAlg;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::upstream::UpstreamConfig;
use crate::util::legacy_token::{DEFAULT_LEEWAY_SECONDS, Lt1Keys};
use crate::util::net::is_loopback;
use crate::util::secret::{Key32, SecretSource};

/// `[legacy_token]`: the LT1 keys the bridge (and the reference stack) use.
#[derive(Debug, Clone, Deserialize, Default, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
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
    #[schemars(range(min = 100, max = 120_000))]
    pub header_read_timeout_ms: u64,
    /// A request's body must arrive in full within this many milliseconds
    /// of its headers (default 10000): a client that announces a body and
    /// stalls is answered 408 and cut off.
    #[serde(default = "default_header_read_timeout_ms")]
    #[schemars(range(min = 100, max = 120_000))]
    pub body_read_timeout_ms: u64,
    /// Open connections at most (default 10000); past it a new connection
    /// is answered 503 and closed, so stalled clients cannot exhaust file
    /// descriptors. Keep it below the process's file limit.
    #[serde(default = "default_max_connections")]
    #[schemars(range(min = 1))]
    pub max_connections: usize,
    /// Open connections from one address at most (default 1000). Behind a
    /// load balancer every connection comes from it: raise this to
    /// `max_connections` there.
    #[serde(default = "default_max_connections_per_address")]
    #[schemars(range(min = 1))]
    pub max_connections_per_address: usize,
    /// The key sealing secrets at rest (64 hex digits or base64 of 32 bytes).
    /// When absent, one is generated in `data_dir/storage.key` at first start.
    pub storage_key: Option<SecretSource>,
    /// The storage key being replaced, during a storage-key rotation: values
    /// sealed under it still open (`keys rotate-storage-key` moves them under
    /// `storage_key`). Remove it once the command has finished.
    pub storage_key_previous: Option<SecretSource>,
    /// The store.
    #[serde(default)]
    pub store: StoreSettings,
    /// Signing keys.
    #[serde(default)]
    pub keys: KeySettings,
    /// Login abuse protection.
    #[serde(default)]
    pub throttle: ThrottleConfig,
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
    /// Native TLS on `listen` (default: plain HTTP, for a TLS proxy in front).
    pub tls: Option<TlsConfig>,
    /// Token exchange (RFC 8693): Auth0 access tokens for legacy tokens.
    pub token_exchange: Option<TokenExchangeConfig>,
    /// The gateway: a reverse proxy swapping Auth0 tokens for legacy ones.
    pub gateway: Option<GatewayConfig>,
    /// The admin API, on its own listener (off by default).
    #[serde(default)]
    pub admin: AdminConfig,
    /// Auth0 Event Streams deliveries that revoke users (off by default).
    pub auth0_events: Option<Auth0EventsConfig>,
    /// The endpoints of Auth0's custom database scripts, for lazy
    /// migration (off by default).
    pub migration: Option<MigrationConfig>,
    /// How `POST /legacy/introspect` validates legacy tokens (for Auth0
    /// Custom Token Exchange; off by default).
    pub legacy_validation: Option<LegacyValidationConfig>,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("idp-bridge-data")
}
fn default_header_read_timeout_ms() -> u64 {
    10_000
}
fn default_max_connections() -> usize {
    10_000
}
fn default_max_connections_per_address() -> usize {
    1_000
}

/// How long a connection may take and how many there may be.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a connection may take to send a request's headers, and how
    /// long it may sit idle between requests.
    pub header_read_timeout: std::time::Duration,
    /// How long a request's body may take to arrive, in full.
    pub body_read_timeout: std::time::Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// Open connections from one address at most.
    pub max_per_address: usize,
}

/// The part of the configuration the `keys` commands need: where the state
/// is and how it is sealed. Read alone, so a command that signs nothing for
/// a client does not ask for every client's secret.
#[derive(Debug, Clone, Deserialize)]
pub struct StateConfig {
    /// Data directory.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The storage key, if configured.
    pub storage_key: Option<SecretSource>,
    /// The storage key being replaced, if a rotation is under way.
    pub storage_key_previous: Option<SecretSource>,
    /// The store.
    #[serde(default)]
    pub store: StoreSettings,
    /// Signing keys.
    #[serde(default)]
    pub keys: KeySettings,
    /// Lifetimes.
    #[serde(default)]
    pub tokens: TokenSettings,
    /// Login throttling (`unlock` clears its counters and audits the
    /// username the way the bridge does).
    #[serde(default)]
    pub throttle: ThrottleConfig,
}

impl StateConfig {
    /// Loads the state sections of `path` with the process environment.
    pub fn load(path: &Path) -> Result<(Self, Option<Key32>), ConfigError> {
        let config: Self = load_raw(Some(path), &process_env())?;
        let key = match &config.storage_key {
            Some(source) => Some(
                source
                    .resolve()
                    .and_then(|v| Key32::parse(v.secret()).map_err(|e| e.to_string()))
                    .map_err(|e| ConfigError::one(format!("storage_key: {e}")))?,
            ),
            None => None,
        };
        Ok((config, key))
    }

    /// `storage_key_previous`, resolved, if set.
    pub fn previous_storage_key(&self) -> Result<Option<Key32>, ConfigError> {
        previous_key(self.storage_key_previous.as_ref()).map_err(ConfigError::one)
    }
}

/// `storage_key_previous`, resolved and parsed, if set.
fn previous_key(source: Option<&SecretSource>) -> Result<Option<Key32>, String> {
    source
        .map(|s| {
            s.resolve()
                .and_then(|v| Key32::parse(v.secret()).map_err(|e| e.to_string()))
                .map_err(|e| format!("storage_key_previous: {e}"))
        })
        .transpose()
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
    /// Timeouts and caps of the accept loop.
    pub limits: ConnectionLimits,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<String>,
    /// Native TLS on `listen`: the files, checked to load, and how often
    /// they are looked at for a change.
    pub tls: Option<(crate::util::tls::TlsFiles, std::time::Duration)>,
    /// Storage key, if configured (else generated in the data dir).
    pub storage_key: Option<Key32>,
    /// The storage key being replaced, also read while it is set.
    pub storage_key_previous: Option<Key32>,
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
    /// Token exchange, when configured.
    pub token_exchange: Option<TokenExchange>,
    /// The gateway, when configured.
    pub gateway: Option<GatewaySettings>,
    /// What a logout ends.
    pub logout_ends: LogoutEnds,
    /// The admin API, when configured.
    pub admin: Option<Admin>,
    /// The Auth0 Event Streams webhook, when configured.
    pub auth0_events: Option<Auth0Events>,
    /// The custom database scripts' endpoints, when configured.
    pub migration: Option<Migration>,
    /// Legacy token validation, when configured.
    pub legacy_validation: Option<LegacyValidation>,
}

impl Settings {
    /// The ID token algorithms the clients use (each needs a signing key).
    pub fn id_token_algs(&self) -> Vec<SigningAlg> {
        let mut algs: Vec<SigningAlg> = self.clients.values().map(|c| c.id_token_alg).collect();
        algs.sort_by_key(|a| a.as_str());
        algs.dedup();
        algs
    }

    /// Loads `path` with the process environment and validates it: the one
    /// check `serve` and `check-config` both run. Every problem is
    /// reported in one go (a wrong value is taken out and the rest still
    /// validated), each with its `file:line:column` or the variable that
    /// set it.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with(path, &process_env())
    }

    /// [`Settings::load`] with the environment `env`.
    pub fn load_with(path: &Path, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let read = load::load_lenient::<BridgeConfig>(Some(path), env)?;
        let mut problems = read.problems;
        if let Some(raw) = read.value {
            match Self::validate(raw) {
                Ok(settings) if problems.is_empty() => return Ok(settings),
                Ok(_) => {}
                Err(e) => {
                    for problem in e.problems {
                        // A stand-in for a value reported above draws its
                        // own complaint: that one is not the operator's.
                        let key = problem.split(": ").next().unwrap_or("");
                        let stood_in = read.reported.iter().any(|r| {
                            key == r
                                || key.starts_with(&format!("{r}."))
                                || key.starts_with(&format!("{r}["))
                        });
                        let problem = read.origin.annotate(&problem);
                        if !stood_in && !problems.contains(&problem) {
                            problems.push(problem);
                        }
                    }
                }
            }
        }
        if problems.is_empty() {
            problems.push("the configuration could not be read".to_owned());
        }
        // In the file's order (what a variable set, and what names no key,
        // after), so the list reads top to bottom beside the file.
        let file = format!("{}:", path.display());
        problems.sort_by_key(|p| {
            let mut at = p.strip_prefix(&file).unwrap_or("").split(':');
            let mut next = || at.next().and_then(|n| n.parse::<usize>().ok());
            match (next(), next()) {
                (Some(line), Some(column)) => (0, line, column),
                _ => (1, 0, 0),
            }
        });
        Err(ConfigError { problems })
    }

    /// Validates a raw configuration, reporting every problem at once.
    pub fn validate(raw: BridgeConfig) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let issuer = raw.issuer.as_str().trim_end_matches('/').to_owned();
        raw.check_issuer_and_tokens(&mut problems);
        raw.check_connection_limits(&mut problems);
        raw.check_operations(&mut problems);
        let tls = raw.check_tls(&mut problems);
        let mut branding = raw.branding.clone();
        branding.check(&mut problems);
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
        let storage_key_previous = previous_key(raw.storage_key_previous.as_ref())
            .map_err(|e| problems.push(e))
            .ok()
            .flatten();
        if storage_key_previous.is_some() && raw.storage_key.is_none() {
            problems.push("storage_key_previous: needs storage_key, the key replacing it".into());
        }
        let mut clients = BTreeMap::new();
        if raw.clients.is_empty() {
            problems.push("clients: at least one [[clients]] entry is required".to_owned());
        }
        problems.extend(ids_differing_only_by_case(&raw.clients));
        for (i, c) in raw.clients.iter().enumerate() {
            match validate_client(c, i) {
                Ok(client) => {
                    if clients.insert(client.id.to_string(), client).is_some() {
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
        let token_exchange = raw.check_token_exchange(lt1.is_some(), &mut problems);
        let gateway = raw.check_gateway(&mut problems);
        let (admin, auth0_events) = raw.check_admin(&mut problems);
        let (legacy_validation, migration) = raw.check_journey(lt1.is_some(), &mut problems);
        let throttle = raw
            .throttle
            .validate()
            .map_err(|mut p| problems.append(&mut p))
            .ok();
        if let Err(e) = crate::domain::upstream::build(&raw.upstream, lt1.clone()) {
            problems.push(e.to_string());
        }
        // A section that failed named its problems, so `None` is never alone.
        let Some(throttle) = throttle.filter(|_| problems.is_empty()) else {
            return Err(ConfigError { problems });
        };
        let secure_cookie = raw
            .session
            .secure_cookie
            .unwrap_or(!(raw.issuer.scheme() == "http" && is_loopback(&raw.issuer)));
        Ok(Self {
            issuer,
            listen: raw.listen,
            data_dir: raw.data_dir,
            limits: ConnectionLimits {
                header_read_timeout: std::time::Duration::from_millis(raw.header_read_timeout_ms),
                body_read_timeout: std::time::Duration::from_millis(raw.body_read_timeout_ms),
                max_connections: raw.max_connections,
                max_per_address: raw.max_connections_per_address.min(raw.max_connections),
            },
            metrics_listen: raw.metrics.listen,
            tls,
            storage_key,
            storage_key_previous,
            store: raw.store,
            keys: raw.keys,
            throttle,
            tokens: raw.tokens,
            session_idle_seconds: raw.session.idle_timeout_seconds.unwrap_or(1800),
            secure_cookie,
            branding,
            clients,
            upstream: raw.upstream,
            lt1,
            token_exchange,
            gateway,
            logout_ends: raw.session.logout_ends,
            admin,
            auth0_events,
            migration,
            legacy_validation,
        })
    }
}
