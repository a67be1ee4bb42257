//! The reference legacy stack itself and the `legacy-token` CLI.

use idp_bridge::util::clock::now_unix;
use idp_bridge::util::legacy_token::Lt1Claims;

use crate::support::LegacyStack;

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

#[tokio::test]
async fn legacy_api_accepts_only_valid_lt1_under_its_key() {
    let stack = LegacyStack::spawn().await;
    let now = now_unix();
    let claims = |exp| Lt1Claims {
        sub: "u-1".into(),
        iat: now - 10,
        exp,
        scope: None,
        attributes: vec![],
    };
    let good = stack.keys.mint(&claims(now + 60)).expect("mint");
    assert!(stack.api_accepts(&good).await);
    let expired = stack.keys.mint(&claims(now - 3600)).expect("mint");
    assert!(!stack.api_accepts(&expired).await);
    assert!(!stack.api_accepts("eyJhbGciOiJSUzI1NiJ9.e30.sig").await);
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    assert!(!stack.api_accepts(&tampered).await);

    let response = reqwest::Client::new()
        .get(format!("{}/api/orders", stack.api_server.url()))
        .bearer_auth(&expired)
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .expect("ascii");
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn simulator_faults_can_be_set_over_http() {
    let stack = LegacyStack::spawn().await;
    let client = reqwest::Client::new();
    let put = client
        .put(format!("{}/_control/faults", stack.idp_url()))
        .json(&serde_json::json!({"latency_ms": 0, "mode": "status", "value": 503}))
        .send()
        .await
        .expect("control");
    assert!(put.status().is_success());
    let login = client
        .post(format!("{}/api/v1/login", stack.idp_url()))
        .json(&serde_json::json!({"username": "alice", "password": "correct-horse"}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 503);
}

#[test]
fn cli_mints_and_inspects_without_printing_the_key() {
    let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let mint = std::process::Command::new(BIN)
        .args([
            "legacy-token",
            "mint",
            "--key",
            &format!("k1={key}"),
            "--sub",
            "alice",
            "--claim",
            "email=a@example.com",
        ])
        .output()
        .expect("runs");
    assert!(
        mint.status.success(),
        "{}",
        String::from_utf8_lossy(&mint.stderr)
    );
    let token = String::from_utf8(mint.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    assert!(token.starts_with("LT1.k1."));

    let keyfile = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(keyfile.path(), format!("{key}\n")).expect("write");
    let inspect = std::process::Command::new(BIN)
        .args([
            "legacy-token",
            "inspect",
            "--key-file",
            &format!("k1={}", keyfile.path().display()),
            &token,
        ])
        .output()
        .expect("runs");
    assert!(inspect.status.success());
    let out: serde_json::Value = serde_json::from_slice(&inspect.stdout).expect("json");
    assert_eq!(out["valid"], true);
    assert_eq!(out["claims"]["sub"], "alice");
    assert_eq!(out["claims"]["email"], "a@example.com");
    assert!(!String::from_utf8_lossy(&inspect.stdout).contains(key));

    let bad = std::process::Command::new(BIN)
        .args([
            "legacy-token",
            "inspect",
            "--key",
            &format!("k1={key}"),
            "LT1.k1.AAAA",
        ])
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(1));
    let out: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("json");
    assert_eq!(
        out["error"],
        "the payload is shorter than a nonce and a tag"
    );
}
