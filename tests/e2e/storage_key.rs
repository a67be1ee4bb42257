//! Storage-key rotation: with `storage_key` (new) and `storage_key_previous`
//! (old) set, the bridge serves values sealed under either;
//! `keys rotate-storage-key` moves every sealed value in the store under the
//! new key, in batches, while the bridge serves; run again it moves nothing;
//! then the bridge restarts with the new key alone and everything opens.

use std::process::Command;

use idp_bridge::util::crypto::{Purpose, StorageKey};
use idp_bridge::util::secret::Key32;
use serde_json::Value;

use crate::support::{AUTH0_CALLBACK, REFRESHER_SECRET, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");
const OLD: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const NEW: &str = "2222222222222222222222222222222222222222222222222222222222222222";

fn key(hex: &str) -> StorageKey {
    StorageKey::new(&Key32::parse(hex).expect("key"))
}

fn rotate_storage_key(config: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(["keys", "rotate-storage-key", "--batch", "2", "--config"])
        .arg(config)
        .env("IDP_BRIDGE_LOG", "warn")
        .output()
        .expect("runs")
}

async fn refresher_tokens(app: &TestApp) -> Value {
    let params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), "refresher".into()),
        ("redirect_uri".into(), AUTH0_CALLBACK.into()),
        ("scope".into(), "openid offline_access".into()),
    ];
    let code = app.login(&params).await.code();
    let response = app.redeem_as("refresher", REFRESHER_SECRET, &code).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", "refresher"),
        ("client_secret", REFRESHER_SECRET),
    ])
    .await
}

/// Whether every signing key in the running bridge's store opens under `k`.
async fn signing_keys_open_under(app: &TestApp, k: &StorageKey) -> bool {
    let keys = app.store().signing_keys().await.expect("keys");
    !keys.is_empty()
        && keys
            .iter()
            .all(|s| k.open(Purpose::SigningKey, &s.private_sealed).is_some())
}

#[tokio::test]
async fn every_sealed_value_moves_to_the_new_key_while_the_bridge_serves() {
    let mut app = TestApp::spawn_with(&format!("storage_key = \"{OLD}\"\n")).await;
    // Sealed state of every kind: signing key, grants with legacy access and
    // refresh tokens, a rotated refresh token's successor, an unredeemed
    // code's ID token — more rows than one batch.
    let mut refresh_tokens = Vec::new();
    for _ in 0..3 {
        let t = refresher_tokens(&app).await;
        let first = t["refresh_token"].as_str().expect("rt").to_owned();
        let second: Value = refresh(&app, &first).await.json().await.expect("json");
        refresh_tokens.push(second["refresh_token"].as_str().expect("rt").to_owned());
    }
    let pending_code = app.login(&app.params()).await.code();

    // The command refuses to run without the previous key.
    let refused = rotate_storage_key(&app.config_path());
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("storage_key_previous"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    app.config_text = app.config_text.replacen(
        &format!("storage_key = \"{OLD}\"\n"),
        &format!("storage_key = \"{NEW}\"\nstorage_key_previous = \"{OLD}\"\n"),
        1,
    );
    app.restart().await;
    assert!(
        !signing_keys_open_under(&app, &key(NEW)).await,
        "before the run the store is sealed under the old key"
    );
    // Serving with both keys: old values open, new ones are sealed anew.
    let during = refresher_tokens(&app).await;
    refresh_tokens.push(during["refresh_token"].as_str().expect("rt").to_owned());

    let config = app.config_path();
    let run = tokio::task::spawn_blocking(move || rotate_storage_key(&config));
    let served = refresh(&app, &refresh_tokens[0]).await;
    assert_eq!(served.status(), 200, "the bridge serves during the run");
    refresh_tokens[0] = served.json::<Value>().await.expect("json")["refresh_token"]
        .as_str()
        .expect("rt")
        .to_owned();
    let out = run.await.expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("signing_keys.private_sealed: 1 moved"),
        "{stdout}"
    );
    assert!(stdout.contains("0 unreadable"), "{stdout}");
    for column in [
        "grants.token_sealed",
        "grants.legacy_refresh_sealed",
        "grants.id_token_sealed",
        "refresh_tokens.successor_sealed",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(column))
            .unwrap_or_else(|| panic!("{column} in {stdout}"));
        assert!(!line.contains(": 0 moved"), "{line}");
    }
    assert!(signing_keys_open_under(&app, &key(NEW)).await);
    assert!(!signing_keys_open_under(&app, &key(OLD)).await);

    let again = rotate_storage_key(&app.config_path());
    let again = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(
        again.lines().filter(|l| l.contains(": 0 moved")).count() == 5,
        "a second run moves nothing: {again}"
    );

    // The new key alone opens everything.
    app.config_text =
        app.config_text
            .replacen(&format!("storage_key_previous = \"{OLD}\"\n"), "", 1);
    app.restart().await;
    for rt in &refresh_tokens {
        assert_eq!(refresh(&app, rt).await.status(), 200, "refresh token {rt}");
    }
    let redeemed = app.redeem(&pending_code).await;
    assert_eq!(redeemed.status(), 200, "a code made before the rotation");
    let body: Value = redeemed.json().await.expect("json");
    let access = body["access_token"].as_str().expect("access token");
    assert_eq!(app.userinfo(access).await.status(), 200);
    let code = app.login(&app.params()).await.code();
    assert_eq!(app.redeem(&code).await.status(), 200, "new logins");
}

#[tokio::test]
async fn a_previous_key_without_a_current_one_is_refused() {
    let app = TestApp::spawn().await;
    let path = app.data_dir.path().join("previous-only.toml");
    std::fs::write(
        &path,
        format!("storage_key_previous = \"{OLD}\"\n") + &app.config_text,
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("storage_key_previous: needs storage_key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The JSON log lines of a `serve` started on `app`'s configuration, once
/// it is ready (the start-up sample of sealed grants runs before).
async fn startup_log(app: &TestApp, name: &str) -> String {
    std::fs::write(app.config_path(), &app.config_text).expect("write config");
    let log = app.data_dir.path().join(name);
    let child = crate::restart::serve_logging_json(&app.config_path(), &log, "info");
    crate::cluster::wait_ready(&app.issuer).await;
    drop(child);
    std::fs::read_to_string(&log).expect("log")
}

/// After a storage-key change, `serve` says at start-up what is left in
/// the grants: values still under `storage_key_previous` (run the rotation
/// before removing it), and values no configured key opens (a key removed
/// too early, a restored backup, a tampered row), which otherwise fail one
/// by one as `login_required` or `invalid_grant` without a word.
#[tokio::test]
async fn serve_says_at_start_up_what_a_storage_key_change_left_in_the_grants() {
    let mut app = TestApp::spawn_with(&format!("storage_key = \"{OLD}\"\n")).await;
    let tokens = refresher_tokens(&app).await;
    app.stop().await;
    let quiet = startup_log(&app, "same-key.log").await;
    assert!(
        !quiet.contains("storage_key_previous") && !quiet.contains("no configured storage key"),
        "nothing to say under the key that sealed everything: {quiet}"
    );

    app.config_text = app.config_text.replacen(
        &format!("storage_key = \"{OLD}\"\n"),
        &format!("storage_key = \"{NEW}\"\nstorage_key_previous = \"{OLD}\"\n"),
        1,
    );
    let pending = startup_log(&app, "previous.log").await;
    let line = pending
        .lines()
        .find(|l| l.contains("still sealed under storage_key_previous"))
        .unwrap_or_else(|| panic!("a line about the rotation still to run: {pending}"));
    assert!(line.contains("rotate-storage-key"), "{line}");
    assert!(
        line.contains("\"under_previous\":2"),
        "the access and refresh tokens: {line}"
    );

    // A grant whose sealed values open under no configured key.
    let db = rusqlite::Connection::open(app.data_dir.path().join("bridge.db")).expect("db");
    db.execute(
        "UPDATE grants SET token_sealed = X'00112233', legacy_refresh_sealed = X'00112233'",
        [],
    )
    .expect("tamper");
    drop(db);
    let broken = startup_log(&app, "unreadable.log").await;
    let line = broken
        .lines()
        .find(|l| l.contains("no configured storage key"))
        .unwrap_or_else(|| panic!("a line about unreadable grants: {broken}"));
    assert!(line.contains("\"level\":\"ERROR\""), "{line}");
    assert!(line.contains("\"unreadable\":2"), "{line}");
    for secret in [OLD, NEW, tokens["refresh_token"].as_str().expect("rt")] {
        assert!(!broken.contains(secret), "no key or token in the log");
    }
}
