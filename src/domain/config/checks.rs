//! The checks of the top level that span sections: the issuer, the
//! lifetimes, the listeners and their limits, TLS, token exchange, the
//! gateway and the admin surfaces. Each names the key of every problem.

use super::BridgeConfig;
use super::admin::{Admin, Auth0Events};
use super::exchange::TokenExchange;
use super::gateway::GatewaySettings;
use super::legacy_validation::LegacyValidation;
use super::migration::Migration;
use crate::domain::upstream::UpstreamConfig;
use crate::util::net::is_loopback;

impl BridgeConfig {
    /// What `serve` needs to run, beside the protocol's settings: the
    /// listeners, the store, the data directory, the command adapter's
    /// environment and the key schedule.
    pub(super) fn check_operations(&self, problems: &mut Vec<String>) {
        self.check_listeners(problems);
        self.check_store(problems);
        self.check_data_dir(problems);
        self.check_command_env(problems);
        self.keys.check(problems);
    }

    /// `[legacy_validation]` (and the clients that need it) and
    /// `[migration]` (which needs an adapter that sees a password).
    pub(super) fn check_journey(
        &self,
        has_lt1_keys: bool,
        problems: &mut Vec<String>,
    ) -> (Option<LegacyValidation>, Option<Migration>) {
        let legacy_validation = self
            .legacy_validation
            .as_ref()
            .and_then(|v| v.validate(has_lt1_keys, problems));
        if self.legacy_validation.is_none() {
            for c in self.clients.iter().filter(|c| c.validate_legacy_tokens) {
                problems.push(format!(
                    "clients `{}`.validate_legacy_tokens: needs a [legacy_validation] section",
                    c.id
                ));
            }
        }
        let migration = self.migration.as_ref().and_then(|m| m.validate(problems));
        if migration.is_some() && matches!(self.upstream, UpstreamConfig::Redirect(_)) {
            problems.push(
                "migration: the redirect adapters (oidc, oauth2) never see a password, so Auth0's login script has nothing to check; migrate with an adapter that takes one, or with a bulk import".into(),
            );
        }
        (legacy_validation, migration)
    }

    /// The issuer's form and the lifetimes' ranges.
    pub(super) fn check_issuer_and_tokens(&self, problems: &mut Vec<String>) {
        if self.issuer.scheme() != "https" && !is_loopback(&self.issuer) {
            problems.push(
                "issuer: must be https (plain http is allowed only on loopback addresses)"
                    .to_owned(),
            );
        }
        if self.issuer.query().is_some() || self.issuer.fragment().is_some() {
            problems.push(
                "issuer: must not have a query or fragment (OpenID Connect Discovery §3)"
                    .to_owned(),
            );
        }
        if !(1..=60).contains(&self.tokens.code_ttl_seconds) {
            problems.push("tokens.code_ttl_seconds: must be between 1 and 60".to_owned());
        }
        if self.tokens.id_token_ttl_seconds < 60 {
            problems.push("tokens.id_token_ttl_seconds: must be at least 60".to_owned());
        }
    }

    /// `[admin]` on a listener of its own, and `[auth0_events]`.
    pub(super) fn check_admin(
        &self,
        problems: &mut Vec<String>,
    ) -> (Option<Admin>, Option<Auth0Events>) {
        let admin = self.admin.validate(problems);
        if let Some(admin) = &admin {
            let taken = [
                ("listen", Some(&self.listen)),
                ("metrics.listen", self.metrics.listen.as_ref()),
                ("gateway.listen", self.gateway.as_ref().map(|g| &g.listen)),
            ];
            // Port 0 picks a free port each time: never a clash.
            let fixed = !admin.listen.ends_with(":0");
            if let Some((key, _)) = taken
                .iter()
                .find(|(_, l)| fixed && l.is_some_and(|l| *l == admin.listen))
            {
                problems.push(format!(
                    "admin.listen: `{}` is also `{key}`; the admin API needs a listener of its own (on a private interface)",
                    admin.listen
                ));
            }
        }
        let auth0_events = self.auth0_events.as_ref().and_then(|events| {
            let connections = self
                .token_exchange
                .as_ref()
                .map(|t| t.connections.clone())
                .unwrap_or_default();
            let migrated = self
                .token_exchange
                .as_ref()
                .is_some_and(|t| t.migrated_users);
            events.validate(&connections, migrated, problems)
        });
        (admin, auth0_events)
    }

    /// `[token_exchange]`, and clients that would exchange without it.
    pub(super) fn check_token_exchange(
        &self,
        can_mint: bool,
        problems: &mut Vec<String>,
    ) -> Option<TokenExchange> {
        if self.token_exchange.is_none() {
            for c in self.clients.iter().filter(|c| c.token_exchange.is_some()) {
                problems.push(format!(
                    "clients `{}`.token_exchange: needs a [token_exchange] section naming the Auth0 issuers",
                    c.id
                ));
            }
        }
        match self
            .token_exchange
            .as_ref()?
            .validate(can_mint, self.upstream.can_mint())
        {
            Ok(t) => Some(t),
            Err(mut p) => {
                problems.append(&mut p);
                None
            }
        }
    }

    /// `[gateway]`, which needs `[token_exchange]` for its Auth0 tenants.
    pub(super) fn check_gateway(&self, problems: &mut Vec<String>) -> Option<GatewaySettings> {
        let gateway = self.gateway.as_ref()?;
        if self.token_exchange.is_none() {
            problems.push(
                "gateway: needs a [token_exchange] section naming the Auth0 issuers and connections"
                    .to_owned(),
            );
        }
        gateway
            .validate(
                &self.listen,
                std::time::Duration::from_millis(self.body_read_timeout_ms),
            )
            .map_err(|mut p| problems.append(&mut p))
            .ok()
    }

    /// The accept loop's address, timeouts and caps, each problem named by its key.
    pub(super) fn check_connection_limits(&self, problems: &mut Vec<String>) {
        crate::util::net::check_address("listen", &self.listen, problems);
        if let Some(metrics) = &self.metrics.listen {
            crate::util::net::check_address("metrics.listen", metrics, problems);
        }
        if !(100..=120_000).contains(&self.header_read_timeout_ms) {
            problems.push("header_read_timeout_ms: must be between 100 and 120000".to_owned());
        }
        if !(100..=120_000).contains(&self.body_read_timeout_ms) {
            problems.push("body_read_timeout_ms: must be between 100 and 120000".to_owned());
        }
        if self.max_connections == 0 {
            problems.push("max_connections: must be at least 1".to_owned());
        }
        if self.max_connections_per_address == 0 {
            problems.push("max_connections_per_address: must be at least 1".to_owned());
        }
    }

    /// `[tls]`: both files load as a matching pair now (so `check-config` and a
    /// start fail early, naming the file), and the issuer says https.
    pub(super) fn check_tls(
        &self,
        problems: &mut Vec<String>,
    ) -> Option<(crate::util::tls::TlsFiles, std::time::Duration)> {
        let tls = self.tls.as_ref()?;
        let files = crate::util::tls::TlsFiles {
            certificate: tls.certificate.clone(),
            private_key: tls.private_key.clone(),
        };
        let mut ok = true;
        if let Err(e) = crate::util::tls::load(&files) {
            problems.push(format!("tls: {e}"));
            ok = false;
        }
        if self.issuer.scheme() != "https" {
            problems.push(
                "issuer: must be https when [tls] is set (the bridge itself serves https)"
                    .to_owned(),
            );
            ok = false;
        }
        if !(1..=86_400).contains(&tls.reload_interval_seconds) {
            problems.push("tls.reload_interval_seconds: must be between 1 and 86400".to_owned());
            ok = false;
        }
        ok.then(|| {
            (
                files,
                std::time::Duration::from_secs(tls.reload_interval_seconds),
            )
        })
    }

    /// `[store] url`, as `serve` opens it: the variable or file it names
    /// is read, and only PostgreSQL is spoken. The URL is never echoed (it
    /// carries the database password).
    pub(super) fn check_store(&self, problems: &mut Vec<String>) {
        let Some(source) = &self.store.url else {
            return;
        };
        match source.resolve() {
            Err(e) => problems.push(format!("store.url: {e}")),
            Ok(url) => {
                let url = url.secret();
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    problems.push(
                        "store.url: only postgres:// URLs are supported (leave it out for SQLite)"
                            .to_owned(),
                    );
                } else if url::Url::parse(url).is_err() {
                    problems.push("store.url: not a valid postgres:// URL".to_owned());
                } else if <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(url)
                    .is_err()
                {
                    // As `serve` reads it (`sslmode=bogus` parses as a URL);
                    // the client's reason may quote the URL, so it is not
                    // given.
                    problems.push(
                        "store.url: not a valid postgres:// URL for PostgreSQL's client (a query parameter such as sslmode?)"
                            .to_owned(),
                    );
                }
            }
        }
    }

    /// The command adapter's `env`, which the bridge reads at each call:
    /// checked now, so an unset variable or a placeholder stops the start
    /// instead of failing every sign-in.
    pub(super) fn check_command_env(&self, problems: &mut Vec<String>) {
        if let crate::domain::upstream::UpstreamConfig::Command(c) = &self.upstream {
            for (name, source) in &c.env {
                if let Err(e) = source.resolve() {
                    problems.push(format!("upstream.command.env.{name}: {e}"));
                }
            }
        }
    }

    /// The generated storage key `serve` would read from `data_dir` (when
    /// none is configured): a file that is there must hold a key.
    pub(super) fn check_data_dir(&self, problems: &mut Vec<String>) {
        if self.data_dir.exists() && !self.data_dir.is_dir() {
            problems.push(format!(
                "data_dir: {} is not a directory",
                self.data_dir.display()
            ));
            return;
        }
        let path = self.data_dir.join("storage.key");
        if self.storage_key.is_some() || !path.exists() {
            return;
        }
        let read = crate::util::secret::read_secret_file(&path)
            .and_then(|text| crate::util::secret::Key32::parse(&text).map_err(|e| e.to_string()));
        if let Err(e) = read {
            problems.push(format!("data_dir: {}: {e}", path.display()));
        }
    }

    /// Every listener on an address of its own: `listen`, `metrics.listen`
    /// and `gateway.listen` (the admin API's and the gateway's clash with
    /// `listen` are named by their own checks). `0.0.0.0:8080` clashes with
    /// `127.0.0.1:8080`; port 0 never clashes (a free port each time).
    pub(super) fn check_listeners(&self, problems: &mut Vec<String>) {
        let mut listeners = vec![("listen", self.listen.as_str())];
        if let Some(metrics) = &self.metrics.listen {
            listeners.push(("metrics.listen", metrics));
        }
        if let Some(gateway) = &self.gateway {
            listeners.push(("gateway.listen", &gateway.listen));
        }
        for (i, (key, addr)) in listeners.iter().enumerate() {
            for (other, other_addr) in &listeners[..i] {
                let named_elsewhere = *key == "gateway.listen" && *other == "listen";
                if !named_elsewhere && clash(addr, other_addr) {
                    problems.push(format!(
                        "{key}: `{addr}` clashes with `{other}` (`{other_addr}`); each listener needs an address of its own"
                    ));
                }
            }
        }
    }
}

/// Whether two listen addresses would take the same port: equal, or the
/// same fixed port where one is the wildcard address.
pub(super) fn clash(a: &str, b: &str) -> bool {
    use std::net::SocketAddr;
    match (a.parse::<SocketAddr>(), b.parse::<SocketAddr>()) {
        (Ok(a), Ok(b)) => {
            a.port() != 0
                && a.port() == b.port()
                && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
        }
        _ => a == b && !a.ends_with(":0"),
    }
}

#[cfg(test)]
mod tests {
    use super::clash;

    #[test]
    fn listeners_clash_on_one_port_and_the_wildcard() {
        assert!(clash("127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(clash("0.0.0.0:8080", "127.0.0.1:8080"));
        assert!(clash("[::]:9090", "[::1]:9090"));
        assert!(!clash("127.0.0.1:8080", "127.0.0.1:9090"));
        assert!(!clash("127.0.0.1:0", "127.0.0.1:0"));
        assert!(!clash("10.0.0.1:8080", "10.0.0.2:8080"));
        assert!(clash("localhost:8080", "localhost:8080"));
    }
}
