//! Signing-key rotation while serving: `idp-bridge keys rotate` publishes a
//! new key in JWKS before it signs anything, old keys stay published, and on
//! several instances every one serves the new key within the reload interval.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::cluster::Cluster;
use crate::store_suite::pg_url;
use crate::support::{TestApp, get_json};

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

/// Runs `keys rotate`; returns the kid published for each algorithm, RS256 first.
pub fn rotate_all(config: &std::path::Path, delay: u32) -> Vec<(String, String)> {
    let out = Command::new(BIN)
        .args(["keys", "rotate", "--config"])
        .arg(config)
        .args(["--activation-delay-seconds", &delay.to_string()])
        .env("IDP_BRIDGE_LOG", "warn")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    text.lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("published ")?.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect()
}

/// Runs `keys rotate`; returns the new RS256 kid.
fn rotate(config: &std::path::Path, delay: u32) -> String {
    let published = rotate_all(config, delay);
    assert_eq!(published.len(), 1, "one algorithm in use: {published:?}");
    assert_eq!(published[0].0, "RS256");
    published[0].1.clone()
}

pub async fn kids(url: &str) -> Vec<String> {
    let jwks = get_json(&format!("{url}/jwks")).await;
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

pub fn kid_of(id_token: &str) -> String {
    jsonwebtoken::decode_header(id_token)
        .expect("header")
        .kid
        .expect("kid")
}

async fn id_token(app: &TestApp) -> String {
    let code = app.login(&app.params()).await.code();
    let body: Value = app.redeem(&code).await.json().await.expect("json");
    body["id_token"].as_str().expect("id_token").to_owned()
}

pub async fn eventually(mut check: impl AsyncFnMut() -> bool, within: Duration) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs_and_the_old_one_stays() {
    let app = TestApp::spawn_with("[keys]\nreload_interval_seconds = 1\n").await;
    let old = kids(&app.issuer).await;
    assert_eq!(old.len(), 1);
    let new = rotate(&app.config_path(), 4);
    assert!(
        eventually(
            async || kids(&app.issuer).await.contains(&new),
            Duration::from_secs(3)
        )
        .await,
        "published within the reload interval"
    );
    assert_eq!(
        kid_of(&id_token(&app).await),
        old[0],
        "not signing with it yet"
    );
    assert!(
        eventually(
            async || kid_of(&id_token(&app).await) == new,
            Duration::from_secs(8)
        )
        .await,
        "signing with it once active"
    );
    assert!(
        kids(&app.issuer).await.contains(&old[0]),
        "the old key stays published for its tokens"
    );
    let list = Command::new(BIN)
        .args(["keys", "list", "--config"])
        .arg(app.config_path())
        .env("IDP_BRIDGE_LOG", "warn")
        .output()
        .expect("runs");
    let list = String::from_utf8(list.stdout).expect("utf8");
    assert!(
        list.contains(&format!("{new}  RS256  signing"))
            && list.contains("retired, still published"),
        "{list}"
    );
}

#[tokio::test]
async fn a_rotation_through_one_instance_reaches_every_instance_before_it_signs() {
    let c = Cluster::start(2, &pg_url()).await;
    let before = kids(&c.urls[0]).await;
    let new = rotate(&c.config_path(0), 30);
    for url in &c.urls {
        assert!(
            eventually(
                async || kids(url).await.contains(&new),
                Duration::from_secs(3)
            )
            .await,
            "{url} serves the new key within the reload interval"
        );
    }
    let code = c.login(1, 1).await;
    let body: Value = c.redeem(1, &code).await.json().await.expect("json");
    assert_eq!(
        kid_of(body["id_token"].as_str().expect("id_token")),
        before[0],
        "no instance signs with it before it activates"
    );
    c.finish().await;
}

#[tokio::test]
async fn keys_commands_need_no_client_secret() {
    let mut app = TestApp::spawn().await;
    app.stop().await;
    let text = app.config_text.replacen(
        &format!("secret = \"{}\"", crate::support::OIDC_SECRET),
        "secret = { env = \"IDP_BRIDGE_TEST_NEVER_SET_SECRET\" }",
        1,
    );
    assert_ne!(text, app.config_text, "a client secret was replaced");
    let config = app.data_dir.path().join("no-secrets.toml");
    std::fs::write(&config, text).expect("write");
    let out = Command::new(BIN)
        .args(["keys", "list", "--config"])
        .arg(&config)
        .env_remove("IDP_BRIDGE_TEST_NEVER_SET_SECRET")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("RS256"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // serve still needs it, and says so.
    let check = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert!(!check.status.success());
}
