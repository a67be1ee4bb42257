//! What a migration sign-in leaves in the logs: one audit line per sign-in
//! and per failure (with the path), one line per refusal, and no secret.

use serde_json::Value;

use super::{TOKEN, error_kind, post, script_login, section};
use crate::support::TestApp;

#[tokio::test]
async fn each_migration_sign_in_is_audited_and_each_refusal_logged_once_without_a_secret() {
    let mut app = TestApp::spawn_with(&section("")).await;
    app.stop().await;
    let log_path = app.data_dir.path().join("migration.log");
    let _child = crate::restart::serve_logging_json(&app.config_path(), &log_path, "debug");
    crate::cluster::wait_ready(&app.issuer).await;
    let good = script_login(&app, "alice", "correct-horse").await;
    assert_eq!(good["profile"]["user_id"], "u-1001");
    let wrong = script_login(&app, "alice", "wrong-password-SECRET").await;
    assert_eq!(error_kind(&wrong), "WrongUsernameOrPasswordError");
    let forged = post(
        &app,
        "/migration/login",
        Some("a-presented-credential-SECRET-0123456789"),
        r#"{"username":"alice","password":"correct-horse"}"#,
    )
    .await;
    assert_eq!(forged.status(), 401);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let logs = std::fs::read_to_string(&log_path).expect("logs");
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let audit = |event: &str| {
        lines
            .iter()
            .filter(|l| l["target"] == "audit" && l["fields"]["event"] == event)
            .collect::<Vec<_>>()
    };
    let migrated = audit("migration_login");
    assert_eq!(migrated.len(), 1, "{logs}");
    assert_eq!(migrated[0]["fields"]["subject"], "u-1001");
    // As [throttle] audit_username says (hashed by default).
    assert!(
        migrated[0]["fields"]["user"]
            .as_str()
            .is_some_and(|u| u.starts_with("hmac:")),
        "{}",
        migrated[0]
    );
    let failures = audit("login_failure");
    assert_eq!(failures.len(), 1, "{logs}");
    assert_eq!(failures[0]["fields"]["path"], "migration_script");
    let refusals = |code: &str| {
        lines
            .iter()
            .filter(|l| l["fields"]["message"] == "request refused" && l["fields"]["code"] == code)
            .count()
    };
    assert_eq!(refusals("wrong_credentials"), 1, "{logs}");
    assert_eq!(refusals("invalid_token"), 1, "{logs}");
    for (what, secret) in [
        ("password", "correct-horse"),
        ("wrong password", "wrong-password-SECRET"),
        ("migration credential", TOKEN),
        ("presented credential", "a-presented-credential-SECRET"),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}
