//! RP-initiated logout: the session ends; the user goes back only to a
//! registered post-logout URI of the client named by a valid hint.

use crate::support::TestApp;

const SIGNED_OUT: &str = "https://app.example.com/signed-out";

async fn signed_in(app: &TestApp) -> (reqwest::Client, String) {
    let browser = TestApp::browser();
    let response = app.attempt_login(&browser, "alice", "correct-horse").await;
    let location =
        url::Url::parse(response.headers()["location"].to_str().expect("ascii")).expect("url");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .into_owned();
    let tokens: serde_json::Value = app.redeem(&code).await.json().await.expect("json");
    (
        browser,
        tokens["id_token"].as_str().expect("id_token").to_owned(),
    )
}

async fn logout(
    app: &TestApp,
    browser: &reqwest::Client,
    params: &[(&str, &str)],
) -> reqwest::Response {
    browser
        .get(format!("{}/logout", app.issuer))
        .query(params)
        .send()
        .await
        .expect("logout")
}

#[tokio::test]
async fn logout_ends_the_session_and_returns_to_a_registered_uri_with_state() {
    let app = TestApp::spawn().await;
    let (browser, id_token) = signed_in(&app).await;
    let response = logout(
        &app,
        &browser,
        &[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "bye-1"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        response.headers()["location"],
        format!("{SIGNED_OUT}?state=bye-1")
    );
    let cleared = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| {
            c.starts_with("idp_bridge_session=") && (c.contains("Max-Age=0") || c.contains("1970"))
        });
    assert!(cleared, "the session cookie is removed");
    let discovery: serde_json::Value =
        crate::support::get_json(&format!("{}/.well-known/openid-configuration", app.issuer)).await;
    assert_eq!(
        discovery["end_session_endpoint"],
        format!("{}/logout", app.issuer)
    );
}

#[tokio::test]
async fn logout_is_never_an_open_redirector() {
    let app = TestApp::spawn().await;
    let (browser, id_token) = signed_in(&app).await;
    for params in [
        vec![
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://evil.example.com/"),
        ],
        vec![("post_logout_redirect_uri", SIGNED_OUT)],
        vec![
            ("client_id", "auth0-oauth2"),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ],
        vec![
            ("id_token_hint", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ],
        vec![
            ("id_token_hint", id_token.as_str()),
            ("client_id", "auth0-oauth2"),
        ],
    ] {
        let response = logout(&app, &browser, &params).await;
        assert_eq!(response.status(), 400, "{params:?}");
        assert!(response.headers().get("location").is_none(), "{params:?}");
    }
    // Without a hint the user is asked first; only a same-origin POST
    // signs out (RP-Initiated Logout §2).
    let plain = logout(&app, &browser, &[]).await;
    assert_eq!(plain.status(), 200);
    assert!(plain.text().await.expect("html").contains("Sign out?"));
    let signed_out = post_logout(&app, &browser, &[]).await;
    assert_eq!(signed_out.status(), 200);
    assert!(
        signed_out
            .text()
            .await
            .expect("html")
            .contains("You are signed out")
    );
    let params = [
        ("client_id", "auth0-oidc"),
        ("post_logout_redirect_uri", SIGNED_OUT),
    ];
    let asked = logout(&app, &browser, &params).await;
    assert_eq!(asked.status(), 200, "a confirmation, not a redirect");
    let page = asked.text().await.expect("html");
    assert!(page.contains(SIGNED_OUT), "the form posts the request back");
    let by_client = post_logout(&app, &browser, &params).await;
    assert_eq!(
        by_client.status(),
        303,
        "client_id alone may name the client"
    );
}

async fn post_logout(
    app: &TestApp,
    browser: &reqwest::Client,
    params: &[(&str, &str)],
) -> reqwest::Response {
    browser
        .post(format!("{}/logout", app.issuer))
        .header("sec-fetch-site", "same-origin")
        .form(params)
        .send()
        .await
        .expect("logout")
}

#[tokio::test]
async fn another_site_cannot_sign_a_user_out() {
    let app = TestApp::spawn().await;
    let (browser, id_token) = signed_in(&app).await;
    // A link or an image: GET without a hint only asks.
    let asked = logout(&app, &browser, &[]).await;
    assert_eq!(asked.status(), 200);
    // A cross-site form post without a hint is refused.
    let forged = browser
        .post(format!("{}/logout", app.issuer))
        .header("sec-fetch-site", "cross-site")
        .form(&[("state", "x")])
        .send()
        .await
        .expect("logout");
    assert_eq!(forged.status(), 403);
    // The session survived both: prompt=none still answers from it.
    let mut params = app.params();
    params.push(("prompt".into(), "none".into()));
    let silent = app.authorize(&browser, &params).await;
    let location = crate::support::location(&silent);
    assert!(location.contains("code="), "still signed in: {location}");
    // With a valid hint, a GET signs out at once.
    let out = logout(&app, &browser, &[("id_token_hint", &id_token)]).await;
    assert!(
        out.text()
            .await
            .expect("html")
            .contains("You are signed out")
    );
}

#[tokio::test]
async fn a_post_logout_uri_is_matched_as_a_string_and_a_repeated_one_never_smuggles_another() {
    let app = TestApp::spawn().await;
    let (browser, id_token) = signed_in(&app).await;
    for near in [
        "HTTPS://app.example.com/signed-out",
        "https://app.example.com:443/signed-out",
        "https://APP.example.com/signed-out",
        "https://app.example.com/signed-out/",
        "https://app.example.com/signed%2Dout",
        "https://app.example.com/./signed-out",
        "https://app.example.com/signed-out#x",
        "https://app.example.com/signed-out?",
        "https://user@app.example.com/signed-out",
        "https://app.example.com@evil.example/signed-out",
        "javascript:alert(1)//app.example.com/signed-out",
    ] {
        let response = logout(
            &app,
            &browser,
            &[
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", near),
            ],
        )
        .await;
        assert_eq!(response.status(), 400, "{near}");
        assert!(response.headers().get("location").is_none(), "{near}");
    }
    // The registered URI and another, each order: whichever one is taken is
    // the one checked.
    for pair in [
        [SIGNED_OUT, "https://evil.example/"],
        ["https://evil.example/", SIGNED_OUT],
    ] {
        let (browser, id_token) = signed_in(&app).await;
        let response = logout(
            &app,
            &browser,
            &[
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", pair[0]),
                ("post_logout_redirect_uri", pair[1]),
            ],
        )
        .await;
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        assert!(
            !location.contains("evil"),
            "{pair:?}: {} {location}",
            response.status()
        );
    }
}

/// A sign-out request the bridge cannot read gets the bridge's own error
/// page (HTML, 400), like every other refusal of `/logout`, never axum's
/// plain-text rejection; the session survives it.
#[tokio::test]
async fn an_unreadable_logout_request_gets_the_error_page_and_ends_nothing() {
    let app = TestApp::spawn().await;
    let (browser, _) = signed_in(&app).await;
    let no_type = browser
        .post(format!("{}/logout", app.issuer))
        .body("state=x")
        .send()
        .await
        .expect("logout");
    let not_a_form = browser
        .post(format!("{}/logout", app.issuer))
        .header("content-type", "text/plain")
        .body("state=x")
        .send()
        .await
        .expect("logout");
    for response in [no_type, not_a_form] {
        assert_eq!(response.status(), 400);
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("text/html"), "{kind}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("This sign-out request cannot be used"),
            "{page}"
        );
    }
    // Still signed in: prompt=none answers with a code.
    let mut params = app.params();
    params.push(("prompt".into(), "none".into()));
    let silent = app.authorize(&browser, &params).await;
    let location = crate::support::location(&silent);
    assert!(location.contains("code="), "still signed in: {location}");
}
