//! The admin API (its own listener, its credential, revoke and unlock) and
//! `idp-bridge revoke`.

#[allow(clippy::wildcard_imports)]
use super::*;

#[tokio::test]
async fn the_admin_api_is_on_its_own_listener_and_refuses_without_its_credential() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let url = app.admin_url.clone().expect("an admin listener");
    let body = json!({ "subject": ALICE });
    for credential in [None, Some("wrong"), Some(&ADMIN_TOKEN[1..])] {
        let answer = admin(&url, "/users/revoke", credential, &body).await;
        assert_eq!(answer.status(), 401, "{credential:?}");
        assert!(
            answer.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
    // Not on the public listener, credential or not.
    let public = admin(&app.issuer, "/users/revoke", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(public.status(), 404);
    // Bad bodies are 4xx with a reason, and never echo a token.
    let bad = admin(
        &url,
        "/grants/revoke",
        Some(ADMIN_TOKEN),
        &json!({"token": 5}),
    )
    .await;
    assert_eq!(bad.status(), 400);
    // Only the documented object: serde would read a struct from an array
    // by position, so `["u-1001"]` would revoke alice.
    for (path, array) in [
        ("/users/revoke", json!([ALICE])),
        ("/grants/revoke", json!(["no-such-token"])),
    ] {
        let by_position = admin(&url, path, Some(ADMIN_TOKEN), &array).await;
        assert_eq!(by_position.status(), 400, "{path} {array}");
        let text = by_position.text().await.unwrap();
        assert!(text.contains("JSON object"), "{text}");
    }
    let unknown = admin(
        &url,
        "/grants/revoke",
        Some(ADMIN_TOKEN),
        &json!({"token": "no-such-token"}),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    // A grant by its refresh token.
    let code = sign_in(
        &app,
        &TestApp::browser(),
        "refresher",
        "openid offline_access",
    )
    .await;
    let answer: Value = app
        .redeem_as("refresher", REFRESHER_SECRET, &code)
        .await
        .json()
        .await
        .unwrap();
    let by_refresh = admin(
        &url,
        "/grants/revoke",
        Some(ADMIN_TOKEN),
        &json!({"token": answer["refresh_token"]}),
    )
    .await;
    assert_eq!(by_refresh.status(), 200);
    assert_eq!(
        app.userinfo(answer["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn the_revoke_command_revokes_a_user_and_a_grant_by_a_token_from_stdin() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let legacy = redeemed(
        &app,
        &sign_in(&app, &TestApp::browser(), "auth0-oidc", "openid").await,
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
            .arg("revoke")
            .arg("--config")
            .arg(app.config_path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let by_token = run(&["--grant"], &legacy);
    assert!(by_token.status.success(), "{by_token:?}");
    let said = String::from_utf8_lossy(&by_token.stdout).to_string()
        + &String::from_utf8_lossy(&by_token.stderr);
    assert!(!said.contains(&legacy), "the token is never printed");
    assert_eq!(app.userinfo(&legacy).await.status(), 401);
    assert_eq!(run(&["--grant"], "no-such-token").status.code(), Some(1));

    let _ = redeemed(
        &app,
        &sign_in(&app, &TestApp::browser(), "auth0-oidc", "openid").await,
    )
    .await;
    assert_eq!(exchanged(&app, &tenant).await.0, 200);
    let by_user = run(&["--user", ALICE], "");
    assert!(by_user.status.success(), "{by_user:?}");
    assert!(String::from_utf8_lossy(&by_user.stdout).contains("1 grant(s)"));
    assert_eq!(exchanged(&app, &tenant).await.0, 400);
}

#[tokio::test]
async fn the_admin_api_unlocks_a_username_locked_out_at_an_address() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "\n[throttle]\nbase_delay_ms = 0\n").await;
    for attempt in 1..=5 {
        let answer = app
            .attempt_login(&TestApp::browser(), "alice", "wrong")
            .await;
        // The failure that reaches the limit is answered as the lockout.
        let expected = if attempt == 5 { 429 } else { 401 };
        assert_eq!(answer.status(), expected, "attempt {attempt}");
    }
    let locked = app
        .attempt_login(&TestApp::browser(), "alice", "correct-horse")
        .await;
    assert_eq!(locked.status(), 429, "locked at this address");
    let url = app.admin_url.clone().unwrap();
    let body = json!({ "username": "Alice" });
    assert_eq!(
        admin(&url, "/users/unlock", None, &body).await.status(),
        401
    );
    let unlocked = admin(&url, "/users/unlock", Some(ADMIN_TOKEN), &body).await;
    assert_eq!(unlocked.status(), 200);
    let answer: Value = unlocked.json().await.unwrap();
    assert!(
        answer["counters_cleared"].as_u64().unwrap() >= 1,
        "{answer}"
    );
    assert!(
        answer["user"].as_str().unwrap().starts_with("hmac:"),
        "hashed in audit lines by default: {answer}"
    );
    let again = app
        .attempt_login(&TestApp::browser(), "alice", "correct-horse")
        .await;
    assert_eq!(again.status(), 303, "signs in again");
}
