//! The Action `idp-bridge auth0 token-exchange` prints, run under Node
//! against a live bridge and the reference legacy stack, with a stand-in
//! for Auth0's `event` and `api` that records every call. Node is required:
//! the test fails, never skips, without it.

use std::path::Path;

use idp_bridge::cli::auth0::token_exchange::{
    TokenExchangeArgs, TokenExchangeFormat, action_code, load,
};
use serde_json::{Value, json};

use super::{CTE, CTE_SECRET, alice_token, lt1_bridge, lt1_for};
use crate::support::TestApp;

const TOKEN_TYPE: &str = "urn:acme:legacy-token";

/// Auth0's sandbox as far as a Custom Token Exchange Action sees it: the
/// documented `event` members and an `api` recording its calls.
const HARNESS: &str = r#"
const action = require(process.argv[2]);
const input = JSON.parse(process.argv[3]);
const calls = [];
const api = {
  access: {
    deny: (code, reason) => calls.push(["deny", code, reason]),
    rejectInvalidSubjectToken: (reason) => calls.push(["rejectInvalidSubjectToken", reason]),
  },
  authentication: {
    setUserById: (id) => calls.push(["setUserById", id]),
    setUserByConnection: (...args) => calls.push(["setUserByConnection", ...args]),
  },
};
const event = {
  transaction: {
    subject_token: input.token,
    subject_token_type: input.type,
    protocol: "oauth2-token-exchange",
    requested_scopes: ["openid"],
  },
  secrets: input.secrets,
  client: { client_id: "auth0-app-client-id", name: "Legacy app" },
  request: { ip: "203.0.113.7", hostname: "tenant.example.com", method: "POST", body: {} },
  resource_server: { identifier: "https://api.example.com" },
  tenant: { id: "example-tenant" },
};
action
  .onExecuteCustomTokenExchange(event, api)
  .then(() => process.stdout.write(JSON.stringify(calls)))
  .catch((err) => {
    process.stdout.write(JSON.stringify([["threw", String(err)]]));
    process.exitCode = 3;
  });
"#;

/// The Action printed for `app`'s config, in a directory with the harness.
fn printed(app: &TestApp, dir: &Path) -> std::path::PathBuf {
    let exchange = load(&TokenExchangeArgs {
        config: app.config_path(),
        client: CTE.into(),
        subject_token_type: TOKEN_TYPE.into(),
        name: "legacy token exchange".into(),
        format: TokenExchangeFormat::Json,
    })
    .expect("the printer accepts the config");
    let action = dir.join("action.js");
    std::fs::write(&action, action_code(&exchange)).expect("write action");
    std::fs::write(dir.join("harness.js"), HARNESS).expect("write harness");
    action
}

/// Runs the Action once; the `api` calls it made.
async fn run(dir: &Path, action: &Path, token: &str, token_type: &str, secret: &str) -> Value {
    let input = json!({
        "token": token,
        "type": token_type,
        "secrets": {"IDP_BRIDGE_CLIENT_ID": CTE, "IDP_BRIDGE_CLIENT_SECRET": secret},
    });
    let output = tokio::process::Command::new("node")
        .arg(dir.join("harness.js"))
        .arg(action)
        .arg(input.to_string())
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("this test runs the printed Auth0 Action under Node.js 20 or later; `node` cannot be started ({e}): install Node.js")
        });
    assert!(
        output.status.success(),
        "node failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the calls as JSON")
}

fn only(calls: &Value) -> (&str, &Value) {
    let list = calls.as_array().expect("calls");
    assert_eq!(list.len(), 1, "exactly one decision: {calls}");
    (list[0][0].as_str().expect("name"), &list[0])
}

#[tokio::test]
async fn the_printed_action_sets_the_migrated_user_for_a_live_token_and_rejects_the_rest() {
    let app = lt1_bridge().await;
    let dir = tempfile::tempdir().expect("dir");
    let action = printed(&app, dir.path());
    let run = |token: String, secret: &'static str| {
        let (dir, action) = (dir.path().to_owned(), action.clone());
        async move { run(&dir, &action, &token, TOKEN_TYPE, secret).await }
    };

    let live = alice_token(&app).await;
    let calls = run(live.clone(), CTE_SECRET).await;
    assert_eq!(calls, json!([["setUserById", "auth0|u-1001"]]));

    let expired = lt1_for(&app, "u-1001", -7200, -3600);
    let mut forged = lt1_for(&app, "u-1002", 0, 600);
    forged.replace_range(forged.len() - 2.., "AA");
    for (what, token) in [
        ("expired", expired),
        ("forged", forged),
        ("garbage", "garbage".to_owned()),
    ] {
        let calls = run(token, CTE_SECRET).await;
        assert_eq!(
            only(&calls).0,
            "rejectInvalidSubjectToken",
            "{what}: {calls}"
        );
    }

    let calls = run(live.clone(), "not-the-client-secret-012345").await;
    let (name, call) = only(&calls);
    assert_eq!(
        (name, call[1].as_str()),
        ("deny", Some("server_error")),
        "wrong bridge credentials fail closed"
    );

    app.store()
        .revoke_user("u-1001", idp_bridge::util::clock::now_unix())
        .await
        .expect("revoke");
    let calls = run(live, CTE_SECRET).await;
    assert_eq!(
        only(&calls).0,
        "rejectInvalidSubjectToken",
        "a revoked user: {calls}"
    );
}

#[tokio::test]
async fn the_printed_action_fails_closed_when_the_bridge_is_down_or_the_type_is_not_its_own() {
    let mut app = lt1_bridge().await;
    let dir = tempfile::tempdir().expect("dir");
    let action = printed(&app, dir.path());
    let live = lt1_for(&app, "u-1001", 0, 600);
    let calls = run(dir.path(), &action, &live, "urn:other:token", CTE_SECRET).await;
    assert_eq!(
        (only(&calls).0, calls[0][1].as_str()),
        ("deny", Some("invalid_request"))
    );
    app.stop().await;
    let calls = run(dir.path(), &action, &live, TOKEN_TYPE, CTE_SECRET).await;
    assert_eq!(
        (only(&calls).0, calls[0][1].as_str()),
        ("deny", Some("server_error")),
        "a bridge that cannot answer is a no, not a forged token"
    );
}
