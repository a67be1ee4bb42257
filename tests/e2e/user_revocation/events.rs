//! Auth0 Event Streams at `/events/auth0`, and the printed stream.

#[allow(clippy::wildcard_imports)]
use super::*;

async fn deliver(app: &TestApp, authorization: Option<&str>, event: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/events/auth0", app.issuer))
        .json(event);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

fn event(id: &str, kind: &str, object: &Value) -> Value {
    json!({
        "specversion": "1.0",
        "type": kind,
        "source": "urn:auth0:example-tenant.us.auth0.com",
        "id": id,
        "time": "2026-12-06T10:00:00Z",
        "data": { "object": object.clone() },
        "a0tenant": "example-tenant",
        "a0stream": "est_1"
    })
}

#[tokio::test]
async fn auth0_events_revoke_deleted_and_blocked_users_once() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let bearer = format!("Bearer {EVENTS_TOKEN}");
    let _ = redeemed(
        &app,
        &sign_in(&app, &TestApp::browser(), "auth0-oidc", "openid").await,
    )
    .await;
    let blocked = event(
        "evt-1",
        "user.updated",
        &json!({"user_id": "oidc|legacy|u-1001", "blocked": true}),
    );
    // Unauthenticated or wrongly authenticated deliveries change nothing.
    for authorization in [None, Some("Bearer nope"), Some("Basic YTpi")] {
        let answer = deliver(&app, authorization, &blocked).await;
        assert_eq!(answer.status(), 401, "{authorization:?}");
    }
    assert_eq!(exchanged(&app, &tenant).await.0, 200);
    // Events that revoke nobody are acknowledged.
    for (id, kind, object) in [
        (
            "evt-2",
            "user.updated",
            json!({"user_id": "oidc|legacy|u-1001", "blocked": false}),
        ),
        (
            "evt-3",
            "user.deleted",
            json!({"user_id": "oidc|another|u-1001"}),
        ),
        (
            "evt-4",
            "user.created",
            json!({"user_id": "oidc|legacy|u-1001"}),
        ),
    ] {
        let answer = deliver(&app, Some(&bearer), &event(id, kind, &object)).await;
        assert_eq!(answer.status(), 200);
    }
    assert_eq!(exchanged(&app, &tenant).await.0, 200);
    let answer = deliver(&app, Some(&bearer), &blocked).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["outcome"], "revoked");
    assert_eq!(exchanged(&app, &tenant).await.0, 400);
    // The user signs in again; a replay of the same delivery changes nothing.
    let _ = redeemed(
        &app,
        &sign_in(&app, &TestApp::browser(), "auth0-oidc", "openid").await,
    )
    .await;
    let replay: Value = deliver(&app, Some(&bearer), &blocked)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replay["outcome"], "duplicate");
    assert_eq!(exchanged(&app, &tenant).await.0, 200);
    // A deletion, through a linked identity.
    let deleted = event(
        "evt-5",
        "user.deleted",
        &json!({"user_id": "auth0|42", "identities": [
            {"provider": "oidc", "connection": "legacy", "user_id": "u-1001"}
        ]}),
    );
    assert_eq!(deliver(&app, Some(&bearer), &deleted).await.status(), 200);
    assert_eq!(exchanged(&app, &tenant).await.0, 400);
}

#[tokio::test]
async fn the_events_endpoint_exists_only_when_configured() {
    let app = TestApp::spawn().await;
    let answer = deliver(
        &app,
        Some(&format!("Bearer {EVENTS_TOKEN}")),
        &event(
            "e",
            "user.deleted",
            &json!({"user_id": "oidc|legacy|u-1001"}),
        ),
    )
    .await;
    assert_eq!(answer.status(), 404);
    assert!(app.admin_url.is_none());
}

#[test]
fn the_auth0_printer_prints_the_event_stream_without_its_credential() {
    // The printer resolves no secret: the token's variable is unset.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    let issuer = "https://bridge.example.com";
    std::fs::write(
        &config,
        format!(
            "issuer = \"{issuer}\"\n[auth0_events]\ntoken = {{ env = \"IDP_BRIDGE_TEST_UNSET_EVENTS\" }}\nconnections = [\"legacy\"]\n\n[[clients]]\nid = \"auth0-oidc\"\nsecret = {{ env = \"IDP_BRIDGE_TEST_UNSET_SECRET\" }}\nredirect_uris = [\"https://example-tenant.us.auth0.com/login/callback\"]\n"
        ),
    )
    .unwrap();
    let printed = Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
        .args(["auth0", "--client", "auth0-oidc", "--strategy", "oidc"])
        .args([
            "--tenant",
            "example-tenant.us.auth0.com",
            "--name",
            "legacy",
        ])
        .args(["--format", "event-stream", "--config"])
        .arg(&config)
        .env_remove("IDP_BRIDGE_TEST_UNSET_EVENTS")
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    let text = String::from_utf8(printed.stdout).unwrap();
    let json_part = text.split("====").nth(2).expect("the Management API body");
    let body: Value = serde_json::from_str(json_part.trim()).expect("JSON");
    assert_eq!(
        body["destination"]["configuration"]["webhook_endpoint"],
        format!("{issuer}/events/auth0")
    );
    assert_eq!(
        body["subscriptions"],
        json!([{"event_type": "user.deleted"}, {"event_type": "user.updated"}])
    );
    // The Auth0 CLI line, run by a real shell against a stand-in `auth0`.
    let record = dir.path().join("args");
    let fake = dir.path().join("auth0");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\n",
            record.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &fake,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let (_, command) = text
        .split_once("==== Event Stream, Auth0 CLI ====")
        .expect("the CLI command");
    // The credential goes in through jq: quotes and backslashes survive.
    for token in [EVENTS_TOKEN, r#"to"k\en'$x"#] {
        let ran = Command::new("sh")
            .arg("-c")
            .arg(command)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    dir.path().display(),
                    std::env::var("PATH").unwrap()
                ),
            )
            .env("IDP_BRIDGE_EVENTS_TOKEN", token)
            .output()
            .unwrap();
        assert!(ran.status.success(), "{ran:?}");
        let args = std::fs::read_to_string(&record).unwrap();
        let configuration: Value =
            serde_json::from_str(args.lines().last().unwrap()).expect("--configuration is JSON");
        assert_eq!(
            configuration["webhook_authorization"],
            json!({"method": "bearer", "token": token})
        );
    }
}
