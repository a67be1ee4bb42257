//! Reading the file and the environment: `IDP_BRIDGE_*` overrides over the
//! TOML, `_FILE` variables, and secrets written as `{ env = .. }` or
//! `{ file = .. }`.
//!
//! Environment overrides name a key path with `__` between levels, upper
//! case: `IDP_BRIDGE_UPSTREAM__HTTP__TIMEOUT_MS=3000` sets
//! `upstream.http.timeout_ms`. A variable ending in `_FILE` reads the value
//! from that file instead (for secrets mounted as files):
//! `IDP_BRIDGE_UPSTREAM__HTTP__HEADERS__X-API-KEY_FILE=/run/secrets/key`.
//! Values are read as TOML when they parse as a number, boolean or array,
//! otherwise as a string; quote them (`'"123"'`) to force a string.
//!
//! Shells and systemd accept only letters, digits and `_` in a variable's
//! name, so a segment matches a key case-insensitively with `_` standing
//! for `-`: first a key already in the file (`X-Api-Key` under `headers`),
//! then a key of the schema ([`DASHED_KEYS`]), else the segment in lower
//! case. `IDP_BRIDGE_UPSTREAM__OAUTH2_PASSWORD__CLIENT_SECRET_FILE` and the
//! older `…__OAUTH2-PASSWORD__…` both set `upstream.oauth2-password`.

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::position::{Origin, line_column};
use super::repair::{insert, replace};
use crate::util::secret::read_secret_file;

/// Prefix of every environment override.
pub const ENV_PREFIX: &str = "IDP_BRIDGE_";

/// Variables with the prefix that are not key overrides.
const RESERVED_ENV: &[&str] = &[
    "IDP_BRIDGE_CONFIG",
    "IDP_BRIDGE_LOG",
    "IDP_BRIDGE_LOG_FORMAT",
];

/// The schema's keys written with `-`, which an environment variable names
/// with `_` (a test keeps this list in step with the `serde` renames).
pub const DASHED_KEYS: &[&str] = &["oauth2-password"];

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
    pub(super) fn one(problem: impl Into<String>) -> Self {
        Self {
            problems: vec![problem.into()],
        }
    }
}

/// Reads a TOML file (or nothing), applies the environment overrides in
/// `env`, and deserializes into `T`. A syntax error names its line and
/// column. Every wrong value is reported at once (each is taken out and the
/// rest read again), naming its key and its `file:line:column`, or the
/// variable when it came from one.
pub fn load_raw<T: DeserializeOwned>(
    path: Option<&Path>,
    env: &[(String, String)],
) -> Result<T, ConfigError> {
    let read = load_lenient(path, env)?;
    match read.value {
        Some(value) if read.problems.is_empty() => Ok(value),
        _ => Err(ConfigError {
            problems: read.problems,
        }),
    }
}

/// A configuration read as far as it could be: the wrong values reported,
/// and the rest (with those values taken out or given a stand-in) for the
/// validation to go on with.
pub(super) struct Lenient<T> {
    /// The value read with every reported key taken out or stood in for;
    /// `None` when the reading gave up.
    pub value: Option<T>,
    /// What was wrong, each with where.
    pub problems: Vec<String>,
    /// Keys whose value was reported here: the validation's complaints
    /// about their stand-ins are not the operator's.
    pub reported: Vec<String>,
    /// Where each key is set.
    pub origin: Origin,
}

/// [`load_raw`], going on past wrong values: `Err` only when nothing could
/// be read (the file is missing, the TOML does not parse, an override
/// cannot be applied).
pub(super) fn load_lenient<T: DeserializeOwned>(
    path: Option<&Path>,
    env: &[(String, String)],
) -> Result<Lenient<T>, ConfigError> {
    let (mut table, text) = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::one(format!("cannot read {}: {e}", path.display())))?;
            let table = text.parse::<toml::Table>().map_err(|e| {
                let at = e
                    .span()
                    .map(|span| line_column(&text, span.start))
                    .map_or_else(String::new, |(l, c)| format!(":{l}:{c}"));
                ConfigError::one(format!(
                    "{}{at}: {}",
                    path.display(),
                    e.message().trim_end()
                ))
            })?;
            (table, Some(text))
        }
        None => (toml::Table::new(), None),
    };
    let overridden = apply_env(&mut table, env)?;
    let origin = Origin::new(path, text, overridden);
    let mut problems = Vec::new();
    // Keys given a stand-in for a missing field (their own complaints about
    // the stand-in's type are not the operator's problem).
    let mut stood_in: Vec<String> = Vec::new();
    // Keys whose wrong value was replaced or taken out.
    let mut touched: Vec<String> = Vec::new();
    let mut value = None;
    // At most this many wrong values are taken out and the rest read again.
    for _ in 0..64 {
        let error = match serde_path_to_error::deserialize(toml::Value::Table(table.clone())) {
            Ok(read) => {
                value = Some(read);
                break;
            }
            Err(e) => e,
        };
        let segments: Vec<String> = error
            .path()
            .iter()
            .map(|s| match s {
                serde_path_to_error::Segment::Map { key } => key.clone(),
                serde_path_to_error::Segment::Seq { index } => index.to_string(),
                _ => String::new(),
            })
            .collect();
        let key = error.path().to_string();
        let message = error.inner().to_string();
        // toml adds "in `key`" on a line of its own; the key is named already.
        let message = message.split("\nin `").next().unwrap_or("").trim_end();
        let from_env = origin.variable(&key).map(|var| format!(" (set by {var})"));
        let at = match &from_env {
            None => origin
                .position(&segments)
                .map(|at| format!("{at}: "))
                .unwrap_or_default(),
            Some(_) => String::new(),
        };
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next());
        let full_missing = missing.map(|f| {
            if key == "." {
                f.to_owned()
            } else {
                format!("{key}.{f}")
            }
        });
        // A key this search took out, now missed, is not a new problem.
        let ours = full_missing.as_ref().is_some_and(|k| touched.contains(k));
        if !stood_in.contains(&key) && !touched.contains(&key) && !ours {
            let shown = if key == "." {
                "(top level)".to_owned()
            } else {
                key.clone()
            };
            let problem = format!("{at}{shown}{}: {message}", from_env.unwrap_or_default());
            if !problems.contains(&problem) {
                problems.push(problem);
            }
        }
        // The wrong value is replaced by one of the expected type (so the
        // rest can be read), a missing one is given a stand-in (an empty
        // list; if that is the wrong type, the next round says which), or
        // the search ends.
        let fixed = if let Some(field) = missing {
            let mut at = segments.clone();
            at.retain(|s| !s.is_empty());
            at.push(field.to_owned());
            let full = full_missing.clone().unwrap_or_default();
            // A stand-in that did not satisfy it ends the search.
            !stood_in.contains(&full) && {
                stood_in.push(full);
                insert(&mut table, &at, toml::Value::Array(Vec::new()))
            }
        } else {
            // A value already given a stand-in that is wrong again is taken
            // out (so the search ends instead of going round).
            let again = touched.contains(&key);
            touched.push(key.clone());
            replace(&mut table, &segments, if again { "" } else { message })
        };
        if !fixed {
            break;
        }
    }
    touched.extend(stood_in);
    Ok(Lenient {
        value,
        problems,
        reported: touched,
        origin,
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
        let set = insert_path(table, &path, value)
            .map_err(|e| ConfigError::one(format!("{name}: {e}")))?;
        // As problems name it (`clients[0].id`), so an entry of an array is
        // found too.
        overridden.push((super::position::dotted(&set), name.clone()));
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

/// The key an environment segment names in `table`: the segment itself when
/// present, else a key of `table` or of [`DASHED_KEYS`] that matches it
/// case-insensitively with `_` for `-`, else the segment.
fn key_for(table: &toml::Table, segment: &str) -> String {
    let norm = |k: &str| k.to_lowercase().replace('-', "_");
    let wanted = norm(segment);
    if table.contains_key(segment) {
        return segment.to_owned();
    }
    table
        .keys()
        .map(String::as_str)
        .chain(DASHED_KEYS.iter().copied())
        .find(|k| norm(k) == wanted)
        .map_or_else(|| segment.to_owned(), str::to_owned)
}

/// Inserts `value` at `path` (environment segments), creating tables on the
/// way; returns the key path it set, as the file spells it.
fn insert_path(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
) -> Result<Vec<String>, String> {
    let (first, rest) = path.split_first().ok_or("empty key")?;
    let key = key_for(table, first);
    if rest.is_empty() {
        table.insert(key.clone(), value);
        return Ok(vec![key]);
    }
    let entry = table
        .entry(key.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let mut set = insert_value(entry, &key, rest, value)?;
    set.insert(0, key);
    Ok(set)
}

/// Descends into a table by key or into an array by index (`CLIENTS__0__SECRET`).
fn insert_value(
    current: &mut toml::Value,
    name: &str,
    path: &[String],
    value: toml::Value,
) -> Result<Vec<String>, String> {
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
            let mut set = if rest.is_empty() {
                *item = value;
                Vec::new()
            } else {
                insert_value(item, index, rest, value)?
            };
            set.insert(0, index.clone());
            Ok(set)
        }
        _ => Err(format!("`{name}` is not a table")),
    }
}

/// The environment of this process, for [`load_raw`].
pub fn process_env() -> Vec<(String, String)> {
    std::env::vars().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::secret::{SecretSource, SecretValue};
    use serde::Deserialize;

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
    fn underscores_name_dashed_keys_in_any_case() {
        let mut table: toml::Table =
            "[upstream.oauth2-password]\ntoken_url = \"a\"\n[headers]\nX-Api-Key = \"k\"\n"
                .parse()
                .expect("toml");
        let env = vec![
            (
                "IDP_BRIDGE_UPSTREAM__OAUTH2_PASSWORD__TOKEN_URL".to_owned(),
                "b".to_owned(),
            ),
            ("IDP_BRIDGE_HEADERS__X_API_KEY".to_owned(), "k2".to_owned()),
            ("IDP_BRIDGE_NEW__OAUTH2_PASSWORD".to_owned(), "n".to_owned()),
        ];
        let set = apply_env(&mut table, &env).expect("applies");
        assert_eq!(
            table["upstream"]["oauth2-password"]["token_url"].as_str(),
            Some("b")
        );
        assert!(
            table["upstream"].get("oauth2_password").is_none(),
            "{table}"
        );
        assert_eq!(table["headers"]["X-Api-Key"].as_str(), Some("k2"));
        assert_eq!(table["headers"].as_table().map(toml::Table::len), Some(1));
        // Not in the file: the schema's spelling.
        assert_eq!(table["new"]["oauth2-password"].as_str(), Some("n"));
        assert_eq!(set[0].0, "upstream.oauth2-password.token_url");

        // The older dashed form still works.
        let env = vec![(
            "IDP_BRIDGE_UPSTREAM__OAUTH2-PASSWORD__TOKEN_URL".to_owned(),
            "c".to_owned(),
        )];
        apply_env(&mut table, &env).expect("applies");
        assert_eq!(
            table["upstream"]["oauth2-password"]["token_url"].as_str(),
            Some("c")
        );
    }

    /// Every key the schema spells with `-` (a `serde` rename) is in
    /// [`DASHED_KEYS`], so an environment variable can name it with `_`.
    #[test]
    fn dashed_keys_lists_every_dashed_rename() {
        fn walk(dir: &Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("read src").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("read");
                    for part in text.split("rename = \"").skip(1) {
                        let key = part.split('"').next().unwrap_or("");
                        if key.contains('-') && !found.iter().any(|k| k == key) {
                            found.push(key.to_owned());
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(
            found.iter().any(|k| k == "oauth2-password"),
            "the scan sees renames"
        );
        for key in &found {
            assert!(
                DASHED_KEYS.contains(&key.as_str()),
                "add {key} to DASHED_KEYS"
            );
        }
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
