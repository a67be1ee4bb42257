//! Brute-force protection across client addresses: a burst from one
//! address locks the user there and not elsewhere, the username's ceiling
//! across addresses, `idp-bridge unlock`, a forwarded address believed only
//! from a trusted proxy, and audit lines that name the user and the address
//! and never a password. Every request comes from 127.0.0.1: a trusted
//! proxy's `X-Forwarded-For` plays the other addresses.

use std::time::Duration;

use crate::support::{TestApp, hidden_field};

/// The bridge with every request's peer (127.0.0.1) a trusted proxy, so
/// `X-Forwarded-For` names the client; `extra` adds `[throttle]` keys.
async fn behind_a_proxy(extra: &str) -> TestApp {
    TestApp::spawn_with(&format!(
        "[throttle]\nbase_delay_ms = 0\ntrusted_proxies = [\"127.0.0.1\"]\n{extra}"
    ))
    .await
}

/// One login attempt whose request carries `X-Forwarded-For: forwarded`;
/// the status.
pub(crate) async fn attempt_from(
    app: &TestApp,
    forwarded: &str,
    user: &str,
    password: &str,
) -> u16 {
    let browser = TestApp::browser();
    let page = app
        .authorize(&browser, &app.params())
        .await
        .text()
        .await
        .expect("html");
    browser
        .post(format!("{}/login", app.issuer))
        .header("x-forwarded-for", forwarded)
        .form(&[
            ("request", hidden_field(&page, "request").as_str()),
            ("csrf", hidden_field(&page, "csrf").as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .expect("login reachable")
        .status()
        .as_u16()
}

const A: &str = "203.0.113.1";
const B: &str = "198.51.100.2";

#[tokio::test]
async fn a_burst_from_one_address_locks_the_user_there_and_not_elsewhere() {
    let app =
        behind_a_proxy("max_failures_per_user_and_address = 3\nmax_failures_per_user = 6\n").await;
    assert_eq!(attempt_from(&app, A, "alice", "wrong-1").await, 401);
    assert_eq!(attempt_from(&app, A, "alice", "wrong-2").await, 401);
    assert_eq!(
        attempt_from(&app, A, "alice", "wrong-3").await,
        429,
        "the third failure from A locks alice at A"
    );
    let checks = app.legacy.idp.login_attempts();
    // Hammering the lockout at A: refused without asking the legacy IdP,
    // and counted nowhere, or it would reach alice's ceiling (6) and lock
    // her everywhere.
    for _ in 0..10 {
        assert_eq!(attempt_from(&app, A, "alice", "correct-horse").await, 429);
    }
    assert_eq!(
        app.legacy.idp.login_attempts(),
        checks,
        "the legacy IdP was not asked"
    );
    assert_eq!(
        attempt_from(&app, B, "alice", "correct-horse").await,
        303,
        "alice still signs in from B"
    );
    assert_eq!(
        attempt_from(&app, A, "bob", "battery-staple").await,
        303,
        "another user signs in from A"
    );
    assert_eq!(
        attempt_from(&app, A, "ALICE", "correct-horse").await,
        429,
        "alice is still locked at A, whatever the case"
    );
}

#[tokio::test]
async fn failures_from_many_addresses_reach_the_user_s_ceiling_and_lock_it_everywhere() {
    let app =
        behind_a_proxy("max_failures_per_user_and_address = 2\nmax_failures_per_user = 5\n").await;
    for (i, address) in ["203.0.113.10", "203.0.113.11"].into_iter().enumerate() {
        assert_eq!(attempt_from(&app, address, "alice", "wrong").await, 401);
        assert_eq!(
            attempt_from(&app, address, "alice", "wrong").await,
            429,
            "address {i}: its second failure locks alice there"
        );
    }
    assert_eq!(
        attempt_from(&app, "203.0.113.12", "alice", "wrong").await,
        429,
        "the fifth failure, from a third address, reaches the ceiling"
    );
    let checks = app.legacy.idp.login_attempts();
    assert_eq!(
        attempt_from(&app, "192.0.2.99", "alice", "correct-horse").await,
        429,
        "from a fresh address too: the ceiling holds everywhere"
    );
    assert_eq!(app.legacy.idp.login_attempts(), checks);
    assert_eq!(
        attempt_from(&app, "192.0.2.99", "bob", "battery-staple").await,
        303,
        "other users are not affected"
    );
}

#[tokio::test]
async fn unlock_on_the_command_line_lets_the_user_back_in() {
    let app = behind_a_proxy("max_failures_per_user_and_address = 2\n").await;
    assert_eq!(attempt_from(&app, A, "alice", "wrong").await, 401);
    assert_eq!(attempt_from(&app, A, "alice", "wrong").await, 429);
    assert_eq!(attempt_from(&app, A, "alice", "correct-horse").await, 429);
    let config = app.config_path();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
            .args(["unlock", "--user", " Alice ", "--config"])
            .arg(&config)
            .env("IDP_BRIDGE_LOG", "info")
            .output()
            .expect("runs")
    })
    .await
    .expect("unlock");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(": 2 counter(s) cleared"),
        "alice at A and alice everywhere: {stdout}"
    );
    assert!(
        stderr.contains("user_unlocked") && stderr.contains("hmac:"),
        "audited, with the username hashed: {stderr}"
    );
    assert_eq!(
        attempt_from(&app, A, "alice", "correct-horse").await,
        303,
        "unlocked at A"
    );
}

#[tokio::test]
async fn a_forwarded_address_from_an_untrusted_peer_is_not_believed() {
    // 127.0.0.1 is no trusted proxy: every attempt counts under it,
    // whatever address the header claims.
    let app = TestApp::spawn_with(
        "[throttle]\nbase_delay_ms = 0\nmax_failures_per_address = 2\n\
         client_address_header = \"X-Forwarded-For\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n",
    )
    .await;
    assert_eq!(attempt_from(&app, A, "u1", "wrong").await, 401);
    assert_eq!(
        attempt_from(&app, B, "u2", "wrong").await,
        429,
        "B is the same peer as A: its address limit is reached"
    );
    assert_eq!(
        attempt_from(&app, "192.0.2.77", "bob", "battery-staple").await,
        429
    );
    // From a trusted proxy, only the address it appended counts: entries
    // the client wrote to the left of it are not believed either.
    let app = behind_a_proxy("max_failures_per_address = 2\n").await;
    assert_eq!(
        attempt_from(&app, &format!("192.0.2.1, {A}"), "u1", "wrong").await,
        401
    );
    assert_eq!(
        attempt_from(&app, &format!("192.0.2.2, {A}"), "u2", "wrong").await,
        429,
        "the client's own entries do not make it another address"
    );
    assert_eq!(attempt_from(&app, B, "bob", "battery-staple").await, 303);
}

#[tokio::test]
async fn a_failure_s_audit_line_names_the_user_and_the_address_and_no_password() {
    for mode in ["hashed", "plain"] {
        let mut app = behind_a_proxy(&format!("audit_username = \"{mode}\"\n")).await;
        app.stop().await;
        let log_path = app.data_dir.path().join("bridge.log");
        let _child = crate::restart::serve_logging_json(&app.config_path(), &log_path, "info");
        crate::cluster::wait_ready(&app.issuer).await;
        assert_eq!(
            attempt_from(&app, A, "Alice", "wrong-password-SECRET").await,
            401
        );
        assert_eq!(
            attempt_from(&app, "192.0.2.5", "mallory", "locked-out").await,
            403
        );
        tokio::time::sleep(Duration::from_millis(300)).await;

        let logs = std::fs::read_to_string(&log_path).expect("logs");
        let failures: Vec<serde_json::Value> = logs
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["target"] == "audit" && l["fields"]["event"] == "login_failure")
            .collect();
        assert_eq!(failures.len(), 2, "{mode}: two failures in:\n{logs}");
        let storage =
            std::fs::read_to_string(app.data_dir.path().join("storage.key")).expect("storage key");
        let storage = idp_bridge::util::crypto::StorageKey::new(
            &idp_bridge::util::secret::Key32::parse(storage.trim()).expect("key"),
        );
        let expected = |name: &str| match mode {
            "plain" => name.to_owned(),
            _ => idp_bridge::browser::throttle::audit_user(
                idp_bridge::domain::config::AuditUsername::Hashed,
                &storage,
                name,
            ),
        };
        let wrong = &failures[0]["fields"];
        assert_eq!(wrong["reason"], "invalid_credentials");
        assert_eq!(wrong["user"], expected("Alice").as_str(), "{mode}");
        assert_eq!(wrong["address"], A);
        let locked = &failures[1]["fields"];
        assert_eq!(locked["reason"], "locked");
        assert_eq!(locked["user"], expected("mallory").as_str());
        assert_eq!(locked["address"], "192.0.2.5");
        if mode == "hashed" {
            assert!(
                wrong["user"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("hmac:")),
                "{wrong}"
            );
            for name in ["Alice", "alice", "mallory"] {
                assert!(!logs.contains(name), "{name} appears in the hashed logs");
            }
        }
        for secret in ["wrong-password-SECRET", "locked-out"] {
            assert!(!logs.contains(secret), "a password appears in the logs");
        }
    }
}
