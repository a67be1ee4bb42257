//! `check-config --probe`: what a config needs from the network, checked
//! once with short timeouts — every upstream URL answers (any HTTP status
//! will do), a redirect upstream's discovery document loads with its issuer
//! and JWKS, the store opens and its schema reads, and each Auth0 tenant's
//! JWKS loads when token exchange is configured. Failures carry the cause
//! the upstream fetcher sorts out (DNS, refused, TLS, timeout), never a
//! secret: URLs are shown without credentials or query.

use std::time::Duration;

use url::Url;

use crate::domain::config::Settings;
use crate::domain::upstream::UpstreamConfig;
use crate::domain::upstream::config::Protocol;
use crate::domain::upstream::fetch::Fetcher;

/// How long one check may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// One check: what was probed, and what it found or why it failed.
#[derive(Debug)]
pub struct Check {
    /// The config key or thing probed, with its public address.
    pub what: String,
    /// `Ok(finding)` or `Err(cause)`.
    pub outcome: Result<String, String>,
}

impl Check {
    /// `ok   what: finding` or `FAIL what: cause`.
    pub fn line(&self) -> String {
        match &self.outcome {
            Ok(found) => format!("ok   {}: {found}", self.what),
            Err(cause) => format!("FAIL {}: {cause}", self.what),
        }
    }
}

/// Runs every check for `settings`, in order, each within `timeout`.
pub async fn run(settings: &Settings, timeout: Duration) -> Vec<Check> {
    let mut checks = Vec::new();
    let fetcher = match Fetcher::new(timeout, timeout, 1 << 20) {
        Ok(f) => f,
        Err(e) => {
            checks.push(Check {
                what: "HTTP client".into(),
                outcome: Err(e),
            });
            return checks;
        }
    };
    if let UpstreamConfig::Redirect(c) = &settings.upstream {
        // oauth2's issuer is only the callback's expected `iss`: no
        // discovery is read there.
        let discovered = c.issuer.as_ref().filter(|_| c.protocol == Protocol::Oidc);
        if let Some(issuer) = discovered {
            let found = tokio::time::timeout(
                timeout * 2,
                crate::domain::upstream::redirect::discovery::read(c, &fetcher),
            )
            .await
            .map_err(|_| "timed out".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map(|e| {
                format!(
                    "discovery loaded, its issuer matches, {} signing key(s)",
                    e.jwks.keys().len()
                )
            });
            checks.push(Check {
                what: format!("{}.issuer {}", c.key(), public(issuer)),
                outcome: found,
            });
        }
    }
    for (key, url) in upstream_urls(&settings.upstream) {
        checks.push(Check {
            what: format!("{key} {}", public(url.as_str())),
            outcome: answers(&fetcher, &url).await,
        });
    }
    checks.push(store(settings, timeout).await);
    if let Some(exchange) = &settings.token_exchange {
        for issuer in &exchange.issuers {
            checks.push(auth0_jwks(&fetcher, issuer).await);
        }
    }
    checks
}

/// The upstream URLs a login or renewal calls, by config key.
fn upstream_urls(upstream: &UpstreamConfig) -> Vec<(String, Url)> {
    let mut urls = Vec::new();
    match upstream {
        UpstreamConfig::Http(c) => {
            urls.push(("upstream.http.login.url".to_owned(), c.login.url.clone()));
            if let Some(p) = &c.profile {
                urls.push(("upstream.http.profile.url".to_owned(), p.url.clone()));
            }
            if let Some(r) = &c.renew {
                urls.push(("upstream.http.renew.url".to_owned(), r.url.clone()));
            }
            if let Some(m) = &c.mint {
                urls.push(("upstream.http.mint.url".to_owned(), m.url.clone()));
            }
        }
        UpstreamConfig::OAuth2Password(c) => {
            let key = "upstream.oauth2-password";
            urls.push((format!("{key}.token_url"), c.token_url.clone()));
            urls.push((format!("{key}.userinfo_url"), c.userinfo_url.clone()));
        }
        UpstreamConfig::Redirect(c) => {
            let key = c.key();
            for (name, url) in [
                ("authorization_endpoint", &c.authorization_endpoint),
                ("token_endpoint", &c.token_endpoint),
                ("userinfo_endpoint", &c.userinfo_endpoint),
            ] {
                if let Some(url) = url {
                    urls.push((format!("{key}.{name}"), url.clone()));
                }
            }
        }
        // A program of the operator's: nothing on the network to probe.
        UpstreamConfig::Command(_) => {}
    }
    urls
}

/// Whether anything answers at `url`: any HTTP status counts (a login
/// endpoint may well refuse a HEAD); no answer gives the transport's cause.
async fn answers(fetcher: &Fetcher, url: &Url) -> Result<String, String> {
    let request = fetcher
        .client()
        .head(url.clone())
        .build()
        .map_err(|e| crate::domain::upstream::fetch::classify(e).to_string())?;
    let answer = fetcher.send(request).await.map_err(|e| e.to_string())?;
    Ok(format!("answered {}", answer.status.as_u16()))
}

/// The store opens (PostgreSQL accepts the connection and the schema is
/// migrated; SQLite's file in `data_dir` can be created and written) and
/// its signing keys read.
async fn store(settings: &Settings, timeout: Duration) -> Check {
    let what = match settings
        .store
        .url
        .as_ref()
        .map(crate::util::secret::SecretSource::resolve)
    {
        None => format!(
            "store (SQLite in {})",
            settings.data_dir.join("bridge.db").display()
        ),
        Some(Ok(url)) => format!("store.url ({})", public(url.secret())),
        Some(Err(e)) => {
            return Check {
                what: "store.url".into(),
                outcome: Err(e),
            };
        }
    };
    let opened = tokio::time::timeout(timeout, async {
        if let Some(Ok(url)) = settings
            .store
            .url
            .as_ref()
            .map(crate::util::secret::SecretSource::resolve)
        {
            // The pool reports only that it timed out: reach the server
            // first, so a refused port or an unknown host says so.
            reachable(url.secret()).await?;
        }
        if settings.store.url.is_none() {
            // Private, as `serve` would make it.
            crate::app::open_storage::prepare_data_dir(&settings.data_dir)
                .map_err(|e| e.to_string())?;
        }
        let store = crate::app::open_storage::open_store_at(&settings.data_dir, &settings.store)
            .await
            .map_err(|e| e.to_string())?;
        let keys = store
            .signing_keys()
            .await
            .map_err(|e| format!("the schema cannot be read: {e}"))?;
        Ok::<_, String>(format!(
            "opened, schema migrated, {} signing key(s)",
            keys.len()
        ))
    })
    .await
    .unwrap_or_else(|_| Err(format!("timed out after {} s", timeout.as_secs())));
    Check {
        what,
        outcome: opened,
    }
}

/// Whether a TCP connection reaches a `postgres://` URL's host and port
/// (a Unix socket path is left to the driver).
async fn reachable(url: &str) -> Result<(), String> {
    let Ok(parsed) = Url::parse(url) else {
        return Ok(());
    };
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return Ok(());
    };
    let port = parsed.port().unwrap_or(5432);
    tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map(drop)
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))
}

/// An Auth0 tenant's JWKS, as token exchange fetches it.
async fn auth0_jwks(fetcher: &Fetcher, issuer: &str) -> Check {
    let url = format!("{issuer}.well-known/jwks.json");
    let what = format!("token_exchange.issuers {issuer} (JWKS)");
    let outcome = async {
        let request = fetcher
            .client()
            .get(&url)
            .build()
            .map_err(|e| crate::domain::upstream::fetch::classify(e).to_string())?;
        let answer = fetcher.send(request).await.map_err(|e| e.to_string())?;
        if !answer.status.is_success() {
            return Err(format!("{url} answered {}", answer.status.as_u16()));
        }
        let set: serde_json::Value =
            serde_json::from_slice(&answer.body).map_err(|_| format!("{url} answered no JSON"))?;
        let keys = set
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| format!("{url} answered no JWK Set"))?;
        Ok(format!("{} key(s)", keys.len()))
    }
    .await;
    Check { what, outcome }
}

/// `url` without user, password, query or fragment, for printing.
fn public(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(not a URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::public;

    #[test]
    fn printed_urls_carry_no_credentials() {
        assert_eq!(
            public("postgres://app:hunter2@db.internal:5432/bridge?sslmode=require&password=x"),
            "postgres://db.internal:5432/bridge"
        );
        assert_eq!(public("not a url"), "(not a URL)");
    }
}
