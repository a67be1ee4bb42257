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
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut current = table;
    for segment in parents {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{segment}` is not a table"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
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
