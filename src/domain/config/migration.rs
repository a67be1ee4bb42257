//! `[migration]`: the endpoints Auth0's custom database scripts call while
//! users move into Auth0 (`admin::migration`), off unless configured. The
//! scripts present a credential they read from the connection's
//! `configuration`; an optional allow-list names the addresses they may
//! come from (Auth0's outbound addresses for the tenant's region).

use ipnet::IpNet;
use serde::Deserialize;

use super::admin::credential;
use crate::util::secret::{SecretSource, SecretValue};

/// `[migration]` as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationConfig {
    /// The bearer credential the scripts present (at least 32 characters;
    /// `{ file = "…" }` or `{ env = "…" }` keep it out of the file). The
    /// printed connection carries it in its `configuration`.
    pub token: SecretSource,
    /// Addresses or networks the scripts may call from (Auth0's outbound
    /// IP addresses for the tenant's region); empty: any. The client
    /// address is read as the login page reads it (`[throttle]
    /// trusted_proxies`).
    #[serde(default)]
    pub allowed_addresses: Vec<String>,
    /// How long the printed scripts wait for the bridge (default 10000;
    /// Auth0 stops a script after about 20 s).
    #[serde(default = "default_script_timeout")]
    pub script_timeout_ms: u64,
    /// The `email_verified` Auth0 records for the legacy IdP's address when
    /// the legacy IdP does not say (default false: Auth0 then treats the
    /// address as unverified). An address taken from what the person typed
    /// is never recorded as verified.
    #[serde(default)]
    pub email_verified: bool,
}

fn default_script_timeout() -> u64 {
    10_000
}

/// `[migration]`, validated.
#[derive(Debug, Clone)]
pub struct Migration {
    /// The scripts' credential.
    pub token: SecretValue,
    /// Where the scripts may call from; empty: anywhere.
    pub allowed: Vec<IpNet>,
    /// `email_verified` when the legacy IdP does not say.
    pub email_verified: bool,
}

impl MigrationConfig {
    /// The validated section; problems are named by key.
    pub fn validate(&self, problems: &mut Vec<String>) -> Option<Migration> {
        let allowed = crate::util::net::check_networks(
            "migration.allowed_addresses",
            &self.allowed_addresses,
            problems,
        );
        if !(1_000..=18_000).contains(&self.script_timeout_ms) {
            problems.push(
                "migration.script_timeout_ms: must be between 1000 and 18000 (Auth0 ends a script after about 20 s)"
                    .into(),
            );
        }
        let token = credential("migration.token", &self.token, problems)?;
        Some(Migration {
            token,
            allowed,
            email_verified: self.email_verified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(text: &str) -> MigrationConfig {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn the_scripts_credential_is_long_and_the_allow_list_parses() {
        let mut problems = Vec::new();
        let short = section("token = \"short\"");
        assert!(short.validate(&mut problems).is_none());
        assert!(problems[0].starts_with("migration.token: must have at least 32"));
        problems.clear();
        let bad = section(&format!(
            "token = \"{}\"\nallowed_addresses = [\"10.0.0.0/8\", \"nowhere\"]\nscript_timeout_ms = 30000",
            "x".repeat(32)
        ));
        bad.validate(&mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("migration.allowed_addresses[1]"));
        assert!(problems[1].starts_with("migration.script_timeout_ms"));
        problems.clear();
        let good = section(&format!(
            "token = \"{}\"\nallowed_addresses = [\"10.0.0.0/8\", \"192.0.2.7\"]",
            "x".repeat(32)
        ));
        let migration = good.validate(&mut problems).expect("valid");
        assert!(problems.is_empty());
        assert_eq!(migration.allowed.len(), 2);
    }
}
