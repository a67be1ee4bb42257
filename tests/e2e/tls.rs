//! Native TLS (`[tls]`): the bridge serves https itself with certificates
//! made here by a test CA (rcgen), a renewed certificate is served without
//! a restart, a broken replacement leaves the working one in place, plain
//! http on the https port gets a readable 400, and `check-config` names a
//! bad pair.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, ServerName};

use crate::support::TestApp;

/// A test certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, as PEM files would hold them.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        Self { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for 127.0.0.1 and localhost.
    fn leaf(&self) -> Leaf {
        self.leaf_with(|_| {})
    }

    /// A server certificate for 127.0.0.1 and localhost, its parameters
    /// adjusted.
    fn leaf_with(&self, adjust: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("params");
        adjust(&mut params);
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

/// Where the bridge reads its pair from.
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(leaf: &Leaf) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let files = Self {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            _dir: dir,
        };
        files.write(&leaf.cert_pem, &leaf.key_pem);
        files
    }

    /// Replaces both files in place, as a renewal job would.
    fn write(&self, cert_pem: &str, key_pem: &str) {
        std::fs::write(&self.key, key_pem).expect("write key");
        std::fs::write(&self.cert, cert_pem).expect("write cert");
    }

    fn toml(&self) -> String {
        format!(
            "[tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\nreload_interval_seconds = 1\n",
            self.cert.display(),
            self.key.display()
        )
    }
}

/// The bridge on https with `files`; returns it and its https base URL.
async fn spawn_tls(files: &Files) -> (TestApp, String) {
    let app = TestApp::spawn_edited(
        &files.toml(),
        |_| {},
        |text| text.replacen("issuer = \"http://", "issuer = \"https://", 1),
    )
    .await;
    let https = app.issuer.replacen("http://", "https://", 1);
    (app, https)
}

/// A real HTTP client that trusts only `ca`.
fn client_trusting(ca: &Ca) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).expect("ca"))
        .build()
        .expect("client")
}

/// The leaf certificate the bridge presents now, seen by a TLS handshake
/// that trusts `ca`; `None` when the handshake fails (what is served is not
/// `ca`'s).
async fn try_served_leaf(https: &str, ca: &Ca) -> Option<CertificateDer<'static>> {
    let addr = https.trim_start_matches("https://");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("name");
    let tls = connector.connect(name, tcp).await.ok()?;
    Some(tls.get_ref().1.peer_certificates()?[0].clone())
}

async fn served_leaf(https: &str, ca: &Ca) -> CertificateDer<'static> {
    try_served_leaf(https, ca)
        .await
        .expect("a handshake with the expected CA")
}

/// Polls until the bridge serves `want` (the reload interval is 1 s).
async fn wait_for_leaf(https: &str, ca: &Ca, want: &CertificateDer<'static>) -> bool {
    for _ in 0..50 {
        if try_served_leaf(https, ca).await.as_ref() == Some(want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn serves_discovery_over_https_and_a_renewed_certificate_without_restart() {
    let ca = Ca::new("test CA");
    let first = ca.leaf();
    let files = Files::new(&first);
    let (_app, https) = spawn_tls(&files).await;

    let client = client_trusting(&ca);
    let discovery: serde_json::Value = client
        .get(format!("{https}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery over https")
        .json()
        .await
        .expect("json");
    assert_eq!(discovery["issuer"], https.as_str());
    assert_eq!(served_leaf(&https, &ca).await, first.der);

    // Renewal by another CA: a client trusting only the new CA proves
    // which certificate a real client gets.
    let new_ca = Ca::new("renewed CA");
    let renewed = new_ca.leaf();
    files.write(&renewed.cert_pem, &renewed.key_pem);
    assert!(
        wait_for_leaf(&https, &new_ca, &renewed.der).await,
        "the renewed certificate is served within 5 s, without a restart"
    );
    let status = client_trusting(&new_ca)
        .get(format!("{https}/jwks"))
        .send()
        .await
        .expect("https with the renewed certificate")
        .status();
    assert_eq!(status, 200);
    assert!(
        client_trusting(&ca)
            .get(format!("{https}/jwks"))
            .send()
            .await
            .is_err(),
        "the old CA no longer verifies what is served"
    );
}

#[tokio::test]
async fn a_broken_replacement_keeps_the_working_certificate() {
    let ca = Ca::new("test CA");
    let first = ca.leaf();
    let files = Files::new(&first);
    let (_app, https) = spawn_tls(&files).await;
    assert_eq!(served_leaf(&https, &ca).await, first.der);

    // Garbage, then a certificate with another certificate's key.
    let other = ca.leaf();
    for (cert, key) in [
        (
            "-----BEGIN CERTIFICATE-----\nnot base64 at all\n",
            first.key_pem.as_str(),
        ),
        (other.cert_pem.as_str(), first.key_pem.as_str()),
    ] {
        files.write(cert, key);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(
            served_leaf(&https, &ca).await,
            first.der,
            "a broken pair is not served"
        );
        let status = client_trusting(&ca)
            .get(format!("{https}/healthz"))
            .send()
            .await
            .expect("still serving https")
            .status();
        assert_eq!(status, 200);
    }

    // A good pair after the broken ones is picked up.
    files.write(&other.cert_pem, &other.key_pem);
    assert!(wait_for_leaf(&https, &ca, &other.der).await);
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_told_to_use_https() {
    let ca = Ca::new("test CA");
    let files = Files::new(&ca.leaf());
    let (app, https) = spawn_tls(&files).await;
    let response = reqwest::get(format!("{}/healthz", app.issuer))
        .await
        .expect("an HTTP answer, not a broken connection");
    assert_eq!(response.status(), 400);
    let body = response.text().await.expect("body");
    assert!(body.contains("https"), "{body}");

    // The image's HEALTHCHECK asks the local process over https.
    let health = crate::cli::healthcheck(format!("{https}/healthz")).await;
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );
}

#[tokio::test]
async fn healthcheck_asks_over_https_when_the_config_has_tls() {
    let ca = Ca::new("test CA");
    let files = Files::new(&ca.leaf());
    let (app, _https) = spawn_tls(&files).await;
    let health =
        crate::cli::healthcheck_with(vec!["--config".into(), app.config_path().into()]).await;
    assert!(
        health.status.success(),
        "from the config alone: {}",
        String::from_utf8_lossy(&health.stderr)
    );
}

fn check(config: &str) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, config).expect("write");
    let raw: idp_bridge::domain::config::BridgeConfig =
        idp_bridge::domain::config::load_raw(Some(&path), &[]).expect("parses");
    match idp_bridge::domain::config::Settings::validate(raw) {
        Ok(_) => "OK".to_owned(),
        Err(e) => e.to_string(),
    }
}

fn config(issuer: &str, cert: &Path, key: &Path) -> String {
    format!(
        r#"issuer = "{issuer}"
[tls]
certificate = "{}"
private_key = "{}"
[[clients]]
id = "c"
secret = "a-client-secret-of-some-length-123"
redirect_uris = ["https://example.us.auth0.com/login/callback"]
{}"#,
        cert.display(),
        key.display(),
        idp_bridge::reference::legacy_idp::upstream_toml("http://127.0.0.1:9", 1000),
    )
}

#[test]
fn config_check_names_a_bad_pair_and_an_http_issuer() {
    let ca = Ca::new("test CA");
    let leaf = ca.leaf();
    let other = ca.leaf();
    let files = Files::new(&leaf);
    let issuer = "https://bridge.example.com";

    let ok = check(&config(issuer, &files.cert, &files.key));
    assert_eq!(ok, "OK", "a good pair passes");

    let missing = Path::new("/nonexistent/tls.crt");
    let e = check(&config(issuer, missing, &files.key));
    assert!(e.contains("tls: cannot read /nonexistent/tls.crt"), "{e}");

    files.write(&other.cert_pem, &leaf.key_pem);
    let e = check(&config(issuer, &files.cert, &files.key));
    assert!(e.contains("do not make a usable pair"), "{e}");
    assert!(!e.contains("PRIVATE KEY"), "no key material: {e}");

    files.write(&leaf.cert_pem, &leaf.key_pem);
    let e = check(&config("http://127.0.0.1:8080", &files.cert, &files.key));
    assert!(e.contains("issuer: must be https when [tls] is set"), "{e}");
}

/// `idp_bridge_tls_certificate_not_after_seconds` in `text`.
fn not_after_metric(text: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix("idp_bridge_tls_certificate_not_after_seconds "))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn the_served_certificate_s_expiry_is_exported_and_follows_a_renewal() {
    let ca = Ca::new("metrics CA");
    let until =
        |year| move |p: &mut CertificateParams| p.not_after = rcgen::date_time_ymd(year, 1, 1);
    let files = Files::new(&ca.leaf_with(until(2031)));
    let app = TestApp::spawn_edited(
        &(files.toml() + "[metrics]\nlisten = \"127.0.0.1:0\"\n"),
        |_| {},
        |text| text.replacen("issuer = \"http://", "issuer = \"https://", 1),
    )
    .await;
    let metrics_url = format!("{}/metrics", app.metrics_url.as_deref().expect("metrics"));
    let scrape = async || {
        reqwest::get(&metrics_url)
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let text = scrape().await;
    assert_eq!(not_after_metric(&text), Some(1_924_992_000), "2031-01-01");
    assert!(
        crate::ops_metrics::families(&text)
            .contains("idp_bridge_tls_certificate_not_after_seconds")
    );
    let renewed = ca.leaf_with(until(2032));
    files.write(&renewed.cert_pem, &renewed.key_pem);
    let https = app.issuer.replacen("http://", "https://", 1);
    assert!(wait_for_leaf(&https, &ca, &renewed.der).await);
    assert_eq!(
        not_after_metric(&scrape().await),
        Some(1_956_528_000),
        "2032-01-01"
    );
}
