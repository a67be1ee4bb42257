//! RP-initiated logout, with `logout_ends` `session` (the default) and `user`.

#[allow(clippy::wildcard_imports)]
use super::*;

#[tokio::test]
async fn a_logout_ends_the_user_everywhere_when_so_configured() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "\n[session]\nlogout_ends = \"user\"\n").await;
    let browser = TestApp::browser();
    let answer = redeemed(&app, &sign_in(&app, &browser, "auth0-oidc", "openid").await).await;
    // Another sign-in elsewhere (another browser, Token Vault's grant).
    let _ = redeemed(
        &app,
        &sign_in(&app, &TestApp::browser(), "auth0-oidc", "openid").await,
    )
    .await;
    assert_eq!(exchanged(&app, &tenant).await.0, 200);
    let logout = browser
        .get(format!("{}/logout", app.issuer))
        .query(&[("id_token_hint", answer["id_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    let (status, body) = exchanged(&app, &tenant).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(
        app.userinfo(answer["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn a_logout_ends_only_the_session_by_default() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let browser = TestApp::browser();
    let answer = redeemed(&app, &sign_in(&app, &browser, "auth0-oidc", "openid").await).await;
    let logout = browser
        .get(format!("{}/logout", app.issuer))
        .query(&[("id_token_hint", answer["id_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    assert_eq!(exchanged(&app, &tenant).await.0, 200);
}
