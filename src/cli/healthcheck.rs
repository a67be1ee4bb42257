//! `idp-bridge healthcheck`: asks the local bridge's `/healthz` and exits 0
//! when it answers 200 — the container image's HEALTHCHECK, which has no
//! curl. The URL comes from the configuration the bridge serves with
//! (`listen`, and `https` when `[tls]` is set), so the check follows the
//! port and the scheme; `--url` overrides it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::support::runtime;
use crate::domain::config::{BridgeConfig, load_raw, process_env};

/// Where `healthcheck` asks when neither `--url` nor a config is given.
const DEFAULT_URL: &str = "http://127.0.0.1:8080/healthz";

/// `healthcheck`'s arguments.
#[derive(Args)]
pub struct HealthcheckArgs {
    /// The config file `serve` runs with: its `listen` address (a wildcard
    /// `0.0.0.0` or `[::]` is asked on 127.0.0.1 or ::1) and, when `[tls]`
    /// is set, https. `IDP_BRIDGE_*` overrides apply as for `serve`.
    #[arg(long, env = "IDP_BRIDGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// The URL to ask instead (default without a config:
    /// `http://127.0.0.1:8080/healthz`). Over https to a loopback address
    /// the certificate is not verified (it names the public host, not
    /// 127.0.0.1; this asks the local process whether it answers, and sends
    /// nothing).
    #[arg(long)]
    pub url: Option<url::Url>,
}

/// Runs `healthcheck`: 0 healthy, 1 not (the reason on stderr).
pub fn run(args: &HealthcheckArgs) -> Result<ExitCode, String> {
    let (url, local) = match (&args.url, &args.config) {
        (Some(url), _) => (url.clone(), crate::util::net::is_loopback(url)),
        (None, Some(config)) => (url_from_config(config)?, true),
        (None, None) => (
            url::Url::parse(DEFAULT_URL).map_err(|e| e.to_string())?,
            true,
        ),
    };
    ask(&url, local)
}

/// The `/healthz` URL of the bridge that `config` (with the environment's
/// overrides) describes.
fn url_from_config(config: &Path) -> Result<url::Url, String> {
    let raw: BridgeConfig = load_raw(Some(config), &process_env())
        .map_err(|e| format!("healthcheck: {}: {e}", config.display()))?;
    healthz_url(&raw.listen, raw.tls.is_some())
}

/// `http(s)://HOST:PORT/healthz` for a bridge listening on `listen`; a
/// wildcard address is asked on the loopback address of its family.
fn healthz_url(listen: &str, tls: bool) -> Result<url::Url, String> {
    let scheme = if tls { "https" } else { "http" };
    let authority = match listen.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => {
            return Err(format!(
                "healthcheck: listen = \"{listen}\" picks a port at start; give --url"
            ));
        }
        Ok(addr) => {
            let ip = match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            SocketAddr::new(ip, addr.port()).to_string()
        }
        // A host name (`localhost:8080`) is asked as written.
        Err(_) => listen.to_owned(),
    };
    url::Url::parse(&format!("{scheme}://{authority}/healthz"))
        .map_err(|e| format!("healthcheck: listen = \"{listen}\": {e}"))
}

/// Asks `url`; `local` (a loopback URL, or this host's own listen address)
/// skips certificate verification over https.
fn ask(url: &url::Url, local: bool) -> Result<ExitCode, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(local && url.scheme() == "https")
        .build()
        .map_err(|e| format!("healthcheck: {e}"))?;
    runtime()?.block_on(async move {
        match client.get(url.clone()).send().await {
            Ok(r) if r.status().is_success() => Ok(ExitCode::SUCCESS),
            Ok(r) => {
                eprintln!("idp-bridge: {url} answered {}", r.status());
                Ok(ExitCode::from(1))
            }
            Err(e) => {
                eprintln!("idp-bridge: {url}: {e}");
                Ok(ExitCode::from(1))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::healthz_url;

    fn url(listen: &str, tls: bool) -> String {
        healthz_url(listen, tls).expect("a URL").to_string()
    }

    #[test]
    fn the_url_follows_listen_and_tls() {
        assert_eq!(
            url("127.0.0.1:9000", false),
            "http://127.0.0.1:9000/healthz"
        );
        assert_eq!(
            url("127.0.0.1:8443", true),
            "https://127.0.0.1:8443/healthz"
        );
        assert_eq!(
            url("localhost:8080", false),
            "http://localhost:8080/healthz"
        );
        assert_eq!(url("10.0.0.5:8080", true), "https://10.0.0.5:8080/healthz");
    }

    #[test]
    fn a_wildcard_listen_is_asked_on_loopback() {
        assert_eq!(url("0.0.0.0:8080", false), "http://127.0.0.1:8080/healthz");
        assert_eq!(url("[::]:8443", true), "https://[::1]:8443/healthz");
    }

    #[test]
    fn port_0_cannot_be_asked() {
        let e = healthz_url("127.0.0.1:0", false).unwrap_err();
        assert!(e.contains("--url"), "{e}");
    }
}
