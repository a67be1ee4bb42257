//! `prompt`, `max_age` and `id_token_hint` (OIDC Core §3.1.2.1).

use crate::support::{
    TestApp, jwt_claims as claims, location as location_of, query_param as param,
};

async fn authorize(
    app: &TestApp,
    browser: &reqwest::Client,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut params = app.params();
    for (k, v) in extra {
        params.push(((*k).into(), (*v).into()));
    }
    app.authorize(browser, &params).await
}

/// Signs in through the form in `browser`; returns the token answer.
async fn sign_in(
    app: &TestApp,
    browser: &reqwest::Client,
    user: &str,
    password: &str,
) -> serde_json::Value {
    let page = authorize(app, browser, &[])
        .await
        .text()
        .await
        .expect("html");
    let response = app.submit_login(browser, &page, user, password).await;
    let location = location_of(&response);
    app.redeem(&param(&location, "code").expect("code"))
        .await
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = TestApp::spawn().await;
    let response = authorize(&app, &TestApp::browser(), &[("prompt", "none")]).await;
    assert_eq!(response.status(), 303, "never a page");
    let location = location_of(&response);
    assert_eq!(param(&location, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
    assert_eq!(
        param(&location, "iss").as_deref(),
        Some(app.issuer.as_str())
    );
}

#[tokio::test]
async fn prompt_none_with_a_session_returns_a_code_for_the_same_login() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let first = sign_in(&app, &browser, "alice", "correct-horse").await;
    let first_claims = claims(first["id_token"].as_str().expect("id_token"));
    let hint = first["id_token"].as_str().expect("id_token").to_owned();
    let response = authorize(
        &app,
        &browser,
        &[
            ("prompt", "none"),
            ("id_token_hint", &hint),
            ("max_age", "3600"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let location = location_of(&response);
    let code = param(&location, "code").unwrap_or_else(|| panic!("a code: {location}"));
    let second: serde_json::Value = app.redeem(&code).await.json().await.expect("json");
    assert_eq!(
        second["access_token"], first["access_token"],
        "the session's legacy token"
    );
    let second_claims = claims(second["id_token"].as_str().expect("id_token"));
    assert_eq!(
        second_claims["auth_time"], first_claims["auth_time"],
        "auth_time of the original login"
    );
    assert_eq!(second_claims["sub"], "u-1001");
}

#[tokio::test]
async fn prompt_none_refuses_an_old_login_or_another_users_hint() {
    let app = TestApp::spawn().await;
    let bob = sign_in(&app, &TestApp::browser(), "bob", "battery-staple").await;
    let browser = TestApp::browser();
    sign_in(&app, &browser, "alice", "correct-horse").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for extra in [
        vec![("prompt", "none"), ("max_age", "0")],
        vec![
            ("prompt", "none"),
            ("id_token_hint", bob["id_token"].as_str().expect("t")),
        ],
    ] {
        let response = authorize(&app, &browser, &extra).await;
        let location = location_of(&response);
        assert_eq!(
            param(&location, "error").as_deref(),
            Some("login_required"),
            "{extra:?}"
        );
    }
    let forged = authorize(
        &app,
        &browser,
        &[
            ("prompt", "none"),
            ("id_token_hint", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"),
        ],
    )
    .await;
    let location = location_of(&forged);
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    let mixed = authorize(&app, &browser, &[("prompt", "none login")]).await;
    let location = location_of(&mixed);
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
}

#[tokio::test]
async fn prompt_login_and_max_age_always_show_the_form() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    sign_in(&app, &browser, "alice", "correct-horse").await;
    for extra in [[("prompt", "login")], [("max_age", "0")]] {
        let page = authorize(&app, &browser, &extra).await;
        assert_eq!(page.status(), 200);
        assert!(
            page.text()
                .await
                .expect("html")
                .contains("name=\"password\""),
            "re-authentication"
        );
    }
}

#[tokio::test]
async fn an_interactive_login_as_another_user_than_the_hint_gets_no_code() {
    let app = TestApp::spawn().await;
    let bob = sign_in(&app, &TestApp::browser(), "bob", "battery-staple").await;
    let hint = bob["id_token"].as_str().expect("id_token");
    let mut params = app.params();
    params.push(("id_token_hint".into(), hint.into()));
    let alice = app.login(&params).await;
    assert_eq!(alice.param("error").as_deref(), Some("login_required"));
    assert!(alice.param("code").is_none(), "no code for another user");
    let again = app.login_as(&params, "bob", "battery-staple").await;
    assert!(again.param("code").is_some(), "the hinted user gets a code");
}
