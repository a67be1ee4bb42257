//! The `command` adapter, running the reference program
//! (`idp-bridge reference legacy-command`) and small shell scripts that
//! misbehave in each way the contract covers.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use idp_bridge::domain::types::Subject;
use idp_bridge::domain::upstream::UpstreamError;
use idp_bridge::util::secret::{LegacyRefreshToken, Password};

use crate::support::{LegacyStack, adapter};

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

fn reference_config(key_hex: &str) -> String {
    format!(
        r#"
[upstream]
adapter = "command"
[upstream.command]
program = "{BIN}"
args = ["reference", "legacy-command"]
env = {{ LT1_KEYS = "test={key_hex}" }}
timeout_ms = 5000
"#
    )
}

#[tokio::test]
async fn the_reference_program_logs_in_renews_and_fetches_profiles() {
    let stack = LegacyStack::spawn().await;
    let idp = adapter(&reference_config(&stack.key_hex));
    let grant = idp
        .authenticate("alice", &Password::new("correct-horse"))
        .await
        .expect("login");
    assert_eq!(grant.profile.subject, "u-1001");
    assert_eq!(grant.profile.attributes["department"], "Sales");
    assert!(
        stack.api_accepts(grant.access_token.secret()).await,
        "same key, so the legacy API accepts it"
    );
    let renewed = idp
        .renew(&grant.refresh_token.expect("refresh"), Some(&grant.profile))
        .await
        .expect("renew");
    assert!(stack.api_accepts(renewed.access_token.secret()).await);
    let profile = idp.profile(&renewed.access_token).await.expect("profile");
    assert_eq!(profile.email.as_deref(), Some("alice@example.com"));

    let minted = idp
        .mint(&Subject::new("u-1002").expect("a subject"))
        .await
        .expect("a token for bob, no password");
    assert!(stack.api_accepts(minted.access_token.secret()).await);
    assert_eq!(
        idp.mint(&Subject::new("u-nobody").expect("a subject"))
            .await
            .unwrap_err(),
        UpstreamError::InvalidCredentials,
        "no such user"
    );

    crate::support::assert_refusals(idp.as_ref()).await;
    assert_eq!(
        idp.renew(&LegacyRefreshToken::new("forged"), None)
            .await
            .unwrap_err(),
        UpstreamError::InvalidCredentials
    );
}

/// A config running a shell script with `body`.
fn script(dir: &tempfile::TempDir, name: &str, body: &str, timeout_ms: u64) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    format!(
        "[upstream]\nadapter = \"command\"\n[upstream.command]\nprogram = \"{}\"\ntimeout_ms = {timeout_ms}\nmax_output_bytes = 4096\n",
        path.display()
    )
}

async fn outcome(body: &str, timeout_ms: u64) -> Result<String, UpstreamError> {
    let dir = tempfile::tempdir().expect("dir");
    let idp = adapter(&script(&dir, "legacy.sh", body, timeout_ms));
    idp.authenticate("alice", &Password::new("pw-SECRET"))
        .await
        .map(|g| g.profile.subject.into())
}

#[tokio::test]
async fn every_misbehaviour_maps_to_its_error() {
    let ok = r#"cat >/dev/null; echo '{"status":"ok","access_token":"opaque-1","expires_in":60,"profile":{"sub":"s-1"}}'"#;
    assert_eq!(outcome(ok, 5000).await, Ok("s-1".into()));
    assert_eq!(
        outcome("exit 1", 5000).await,
        Err(UpstreamError::InvalidCredentials)
    );
    assert_eq!(outcome("exit 2", 5000).await, Err(UpstreamError::Locked));
    assert!(matches!(
        outcome("exit 75", 5000).await,
        Err(UpstreamError::Unavailable(_))
    ));
    assert_eq!(
        outcome(r#"echo '{"status":"locked"}'"#, 5000).await,
        Err(UpstreamError::Locked)
    );
    assert!(matches!(
        outcome("echo not json", 5000).await,
        Err(UpstreamError::Protocol(_))
    ));
    assert!(matches!(
        outcome("exit 3", 5000).await,
        Err(UpstreamError::Protocol(_))
    ));
    assert!(matches!(
        outcome("kill -9 $$", 5000).await,
        Err(UpstreamError::Protocol(_))
    ));
    assert!(
        matches!(
            outcome(r#"echo '{"status":"ok","profile":{"sub":"s"}}'"#, 5000).await,
            Err(UpstreamError::Protocol(_))
        ),
        "no access token"
    );
    assert_eq!(
        outcome("head -c 100000 /dev/zero | tr '\\0' x", 5000).await,
        Err(UpstreamError::Protocol(
            "the command wrote more than 4096 bytes".into()
        ))
    );
    let started = Instant::now();
    assert_eq!(
        outcome("sleep 10", 300).await,
        Err(UpstreamError::Unavailable("the command timed out".into()))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "killed at the timeout"
    );
}

#[tokio::test]
async fn the_program_gets_the_request_on_stdin_and_no_inherited_environment() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("seen");
    let body = format!(
        "cat > {out}; env > {out}.env; echo '{{\"status\":\"ok\",\"access_token\":\"t\",\"profile\":{{\"sub\":\"x\"}}}}'",
        out = out.display()
    );
    let idp = adapter(&script(&dir, "spy.sh", &body, 5000));
    idp.authenticate("alice", &Password::new("pw"))
        .await
        .expect("ok");
    let seen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("request")).expect("json");
    assert_eq!(seen["action"], "authenticate");
    assert_eq!(seen["username"], "alice");
    assert_eq!(seen["password"], "pw");
    let env = std::fs::read_to_string(format!("{}.env", out.display())).expect("env");
    assert!(
        !env.contains("CARGO"),
        "the bridge's environment is not passed on"
    );
}
