//! `check-config --probe` against real servers on port 0: the reference
//! legacy IdP (its password API and its OpenID Connect discovery), the
//! PostgreSQL the store suite uses, a stand-in Auth0 JWKS; and the causes
//! a refused port, an unresolvable host and a database that is not there
//! give.

use std::process::{Command, Output};

use crate::store_suite::pg_url;
use crate::support::{LegacyStack, closed_port_url};

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

/// A config with this `[upstream]` (and whatever else `extra` adds).
fn config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("bridge.toml");
    std::fs::write(
        &path,
        format!(
            r#"issuer = "http://127.0.0.1:8080"
data_dir = "{data}"
[[clients]]
id = "auth0"
secret = "a-long-enough-client-secret"
redirect_uris = ["https://example-tenant.us.auth0.com/login/callback"]
{extra}"#,
            data = dir.join("data").display()
        ),
    )
    .expect("write config");
    path
}

/// Runs `check-config --probe` off the runtime (the servers keep serving).
async fn probe(path: std::path::PathBuf) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["check-config", "--probe", "--config"])
            .arg(&path)
            .env("IDP_BRIDGE_LOG", "off")
            .output()
            .expect("runs")
    })
    .await
    .expect("joins")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A stand-in Auth0 tenant serving `/.well-known/jwks.json`.
async fn auth0_jwks() -> idp_bridge::reference::RunningServer {
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({"keys": [{"kty": "RSA", "kid": "k1", "n": "AQAB", "e": "AQAB"}]}))
        }),
    );
    idp_bridge::reference::RunningServer::bind("127.0.0.1:0", router)
        .await
        .expect("bind")
}

#[tokio::test]
async fn a_good_config_probes_ok_with_postgres_the_legacy_idp_and_auth0() {
    let legacy = LegacyStack::spawn().await;
    let tenant = auth0_jwks().await;
    let dir = tempfile::tempdir().expect("dir");
    let idp = legacy.idp_url();
    let schema = format!("probe_{}", std::process::id());
    let path = config(
        dir.path(),
        &format!(
            r#"[store]
url = "{pg}"
schema = "{schema}"
[upstream]
adapter = "http"
[upstream.http.login]
url = "{idp}/api/v1/login"
[upstream.http.renew]
url = "{idp}/api/v1/renew"
[upstream.http.claims]
subject = "/user/id"
[token_exchange]
issuers = ["{auth0}/"]
connections = ["legacy-idp"]
"#,
            pg = pg_url(),
            auth0 = tenant.url(),
        ),
    );
    let out = probe(path).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    for line in [
        format!("ok   upstream.http.login.url {idp}/api/v1/login: answered "),
        format!("ok   upstream.http.renew.url {idp}/api/v1/renew: answered "),
        "ok   store.url (postgres://".to_owned(),
        "): opened, schema migrated, ".to_owned(),
        format!(
            "ok   token_exchange.issuers {}/ (JWKS): 1 key(s)",
            tenant.url()
        ),
    ] {
        assert!(all.contains(&line), "{line} missing from:\n{all}");
    }
    assert!(!all.contains("FAIL"), "{all}");
}

#[tokio::test]
async fn a_redirect_upstreams_discovery_is_loaded_and_its_issuer_checked() {
    let legacy = LegacyStack::spawn().await;
    let dir = tempfile::tempdir().expect("dir");
    let idp = legacy.idp_url();
    let section = |issuer: &str| {
        format!(
            r#"[upstream]
adapter = "oidc"
[upstream.oidc]
issuer = "{issuer}"
client_id = "idp-bridge"
client_secret = "legacy-client-secret"
"#
        )
    };
    let out = probe(config(dir.path(), &section(&idp))).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains(&format!(
            "ok   upstream.oidc.issuer {idp}/: discovery loaded, its issuer matches"
        )),
        "{all}"
    );
    assert!(all.contains("ok   store (SQLite in "), "{all}");

    // With a trailing slash it is another issuer than discovery names.
    let other = format!("{idp}/");
    let out = probe(config(dir.path(), &section(&other))).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("FAIL upstream.oidc.issuer"), "{all}");
}

#[tokio::test]
async fn a_refused_port_an_unknown_host_and_a_missing_database_fail_with_their_causes() {
    let refused = closed_port_url().await;
    let no_db = closed_port_url()
        .await
        .replace("http://", "postgres://root@")
        + "/test";
    let dir = tempfile::tempdir().expect("dir");
    let path = config(
        dir.path(),
        &format!(
            r#"[store]
url = "{no_db}"
[upstream]
adapter = "http"
[upstream.http.login]
url = "{refused}/api/v1/login"
[upstream.http.renew]
url = "https://legacy.invalid/api/v1/renew"
[upstream.http.claims]
subject = "/user/id"
"#
        ),
    );
    let out = probe(path).await;
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let line = |prefix: &str| {
        all.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix} in:\n{all}"))
            .to_owned()
    };
    let login = line(&format!(
        "FAIL upstream.http.login.url {refused}/api/v1/login: "
    ));
    assert!(login.contains("could not connect"), "{login}");
    assert!(login.to_lowercase().contains("refused"), "{login}");
    let renew = line("FAIL upstream.http.renew.url https://legacy.invalid/api/v1/renew: ");
    assert!(renew.contains("dns error"), "{renew}");
    let store = line("FAIL store.url (postgres://127.0.0.1:");
    assert!(store.contains("cannot connect to 127.0.0.1:"), "{store}");
    assert!(store.to_lowercase().contains("refused"), "{store}");
    assert!(!all.contains("root@"), "no credentials printed: {all}");
}

#[test]
fn without_probe_check_config_stays_offline() {
    let dir = tempfile::tempdir().expect("dir");
    let path = config(
        dir.path(),
        r#"[upstream]
adapter = "http"
[upstream.http.login]
url = "https://legacy.invalid/api/v1/login"
[upstream.http.claims]
subject = "/user/id"
"#,
    );
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .env("IDP_BRIDGE_LOG", "off")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("upstream.http.login.url"));
    assert!(!dir.path().join("data").exists(), "nothing was opened");
}
