//! `/authorize`: what is shown on the bridge's page, what is redirected,
//! and what Auth0's requests need (long state, comma scopes, extra params).

use crate::support::{AUTH0_CALLBACK, TestApp};

fn set(params: &mut Vec<(String, String)>, key: &str, value: &str) {
    params.retain(|(k, _)| k != key);
    params.push((key.into(), value.into()));
}

fn remove(params: &mut Vec<(String, String)>, key: &str) {
    params.retain(|(k, _)| k != key);
}

async fn redirect_error(
    app: &TestApp,
    params: &[(String, String)],
) -> (String, Option<String>, Option<String>) {
    let browser = TestApp::browser();
    let response = app.authorize(&browser, params).await;
    assert_eq!(
        response.status(),
        303,
        "errors after the redirect URI is validated redirect"
    );
    let location =
        url::Url::parse(response.headers()["location"].to_str().expect("ascii")).expect("url");
    assert!(location.as_str().starts_with(AUTH0_CALLBACK));
    let get = |k: &str| {
        location
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(
        get("iss").as_deref(),
        Some(app.issuer.as_str()),
        "iss on every authorization response"
    );
    (
        get("error").expect("error"),
        get("state"),
        get("error_description"),
    )
}

async fn page_error(app: &TestApp, params: &[(String, String)]) -> String {
    let response = app.authorize(&TestApp::browser(), params).await;
    assert_eq!(response.status(), 400);
    assert!(
        response.headers().get("location").is_none(),
        "never redirected"
    );
    response.text().await.expect("html")
}

#[tokio::test]
async fn unknown_client_is_an_error_page_not_a_redirect() {
    let app = TestApp::spawn().await;
    let mut params = app.params();
    set(&mut params, "client_id", "nobody");
    let html = page_error(&app, &params).await;
    assert!(html.contains("not registered"), "{html}");
    remove(&mut params, "client_id");
    page_error(&app, &params).await;
}

#[tokio::test]
async fn unregistered_redirect_uris_are_error_pages() {
    let app = TestApp::spawn().await;
    for bad in [
        "https://evil.example.com/login/callback",
        "https://example-tenant.us.auth0.com/login/callback/extra",
        "https://example-tenant.us.auth0.com/login/callback?x=1",
        "https://EXAMPLE-tenant.us.auth0.com/login/callback/",
        "",
        // Compared as strings (RFC 6749 §3.1.2.3): what a URL parser would
        // normalize to the registered one is still another URI.
        "HTTPS://example-tenant.us.auth0.com/login/callback",
        "https://example-tenant.us.auth0.com:443/login/callback",
        "https://example-tenant.us.auth0.com./login/callback",
        "https://example-tenant.us.auth0.com/login/Callback",
        "https://example-tenant.us.auth0.com/login/%63allback",
        "https://example-tenant.us.auth0.com/login/./callback",
        "https://example-tenant.us.auth0.com/login//callback",
        "https://example-tenant.us.auth0.com/login/callback?",
        "https://example-tenant.us.auth0.com/login/callback#",
        "https://example-tenant.us.auth0.com/login/callback#x",
        "https://example-tenant.us.auth0.com/login/callback ",
        " https://example-tenant.us.auth0.com/login/callback",
        "https://alice@example-tenant.us.auth0.com/login/callback",
        "https://example-tenant.us.auth0.com@evil.example/login/callback",
        "https://example-tenant.us.auth0.com.evil.example/login/callback",
        "https://ex\u{430}mple-tenant.us.auth0.com/login/callback",
        "https://xn--exmple-tenant-5bj.us.auth0.com/login/callback",
        "http://example-tenant.us.auth0.com/login/callback",
        "javascript:alert(1)//example-tenant.us.auth0.com/login/callback",
    ] {
        let mut params = app.params();
        set(&mut params, "redirect_uri", bad);
        let html = page_error(&app, &params).await;
        assert!(html.contains("return address"), "{bad}: {html}");
        // An error that would be redirected to a valid URI is a page too.
        set(&mut params, "response_type", "token");
        set(&mut params, "code_challenge_method", "plain");
        let html = page_error(&app, &params).await;
        assert!(html.contains("return address"), "{bad}: {html}");
    }
    let mut params = app.params();
    remove(&mut params, "redirect_uri");
    page_error(&app, &params).await;
}

#[tokio::test]
async fn a_second_registered_redirect_uri_works_exactly() {
    let app = TestApp::spawn().await;
    let mut params = app.params();
    set(
        &mut params,
        "redirect_uri",
        "https://login.example.com/login/callback",
    );
    let callback = app.login(&params).await;
    assert!(
        callback
            .location
            .as_str()
            .starts_with("https://login.example.com/login/callback?code=")
    );
}

#[tokio::test]
async fn wrong_response_type_redirects_with_the_error_and_state() {
    let app = TestApp::spawn().await;
    let mut params = app.params();
    set(&mut params, "response_type", "token");
    let (error, state, _) = redirect_error(&app, &params).await;
    assert_eq!(error, "unsupported_response_type");
    assert_eq!(state.as_deref(), Some("st-123"));
    remove(&mut params, "response_type");
    assert_eq!(redirect_error(&app, &params).await.0, "invalid_request");
}

#[tokio::test]
async fn pkce_plain_and_malformed_challenges_are_refused() {
    let app = TestApp::spawn().await;
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let mut params = app.params();
    set(&mut params, "code_challenge", challenge);
    set(&mut params, "code_challenge_method", "plain");
    assert_eq!(redirect_error(&app, &params).await.0, "invalid_request");
    remove(&mut params, "code_challenge_method");
    assert_eq!(
        redirect_error(&app, &params).await.0,
        "invalid_request",
        "a missing method means plain"
    );
    set(&mut params, "code_challenge_method", "S256");
    set(&mut params, "code_challenge", "short");
    assert_eq!(redirect_error(&app, &params).await.0, "invalid_request");
}

#[tokio::test]
async fn pkce_is_required_when_the_client_says_so() {
    let app = TestApp::spawn().await;
    let mut params = app.params();
    set(&mut params, "client_id", "pkce-required");
    let (error, _, description) = redirect_error(&app, &params).await;
    assert_eq!(error, "invalid_request");
    assert!(description.expect("description").contains("PKCE"));
}

#[tokio::test]
async fn request_objects_are_refused_after_the_redirect_uri_is_validated() {
    let app = TestApp::spawn().await;
    let mut params = app.params();
    set(&mut params, "request", "eyJhbGciOiJub25lIn0.e30.");
    assert_eq!(
        redirect_error(&app, &params).await.0,
        "request_not_supported"
    );
    let mut params = app.params();
    set(&mut params, "request_uri", "https://example.com/r");
    assert_eq!(
        redirect_error(&app, &params).await.0,
        "request_uri_not_supported"
    );
}

#[tokio::test]
async fn a_long_state_is_echoed_byte_for_byte_and_unknown_params_are_ignored() {
    let app = TestApp::spawn().await;
    // Auth0 sends about 400 characters; go to 2 KB with characters that
    // need encoding.
    let state: String = "aZ09-._~+/=%&?#é ".chars().cycle().take(2048).collect();
    let mut params = app.params();
    set(&mut params, "state", &state);
    set(&mut params, "connection", "legacy");
    set(&mut params, "auth0Client", "eyJuYW1lIjoiYXV0aDAifQ");
    set(&mut params, "scope", "openid,profile email,offline_access");
    let callback = app.login(&params).await;
    assert_eq!(callback.param("state").as_deref(), Some(state.as_str()));
    let token: serde_json::Value = app
        .redeem(&callback.code())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        token["scope"], "openid profile email",
        "commas split; scopes the client may not have dropped"
    );
}

#[tokio::test]
async fn authorization_requests_may_be_posted() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let page = browser
        .post(format!("{}/authorize", app.issuer))
        .form(&app.params())
        .send()
        .await
        .expect("reachable");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let response = app
        .submit_login(&browser, &html, "alice", "correct-horse")
        .await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn login_hint_prefills_the_username() {
    let app = TestApp::spawn().await;
    let mut params = app.params();
    set(&mut params, "login_hint", "alice\"><script>");
    let html = app
        .authorize(&TestApp::browser(), &params)
        .await
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("value=\"alice&#34;&#62;&#60;script&#62;\""),
        "escaped: {html}"
    );
    assert!(!html.contains("<script>"));
}

#[tokio::test]
async fn form_post_answers_with_an_auto_submitting_form_under_a_nonce_csp() {
    let app = TestApp::spawn().await;
    let mut params = app.params();
    set(&mut params, "response_mode", "form_post");
    let browser = TestApp::browser();
    let page = app
        .authorize(&browser, &params)
        .await
        .text()
        .await
        .expect("html");
    let response = app
        .submit_login(&browser, &page, "alice", "correct-horse")
        .await;
    assert_eq!(
        response.status(),
        200,
        "no redirect: the code travels in a POST body"
    );
    assert!(response.headers().get("location").is_none());
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("script-src 'nonce-")
            && csp.contains("form-action https://example-tenant.us.auth0.com"),
        "{csp}"
    );
    let html = response.text().await.expect("html");
    assert!(
        html.contains(&format!(
            "<form method=\"post\" action=\"{AUTH0_CALLBACK}\">"
        )),
        "{html}"
    );
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("nonce");
    assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap_or_else(|| panic!("no {name}")) + marker.len();
        html[start..start + html[start..].find('"').expect("quote")].to_owned()
    };
    assert_eq!(field("state"), "st-123");
    assert_eq!(
        field("iss").replace("&#58;", ":").replace("&#47;", "/"),
        app.issuer
    );
    assert_eq!(app.redeem(&field("code")).await.status(), 200);

    set(&mut params, "response_type", "token");
    let error = app.authorize(&TestApp::browser(), &params).await;
    assert_eq!(error.status(), 200);
    assert!(
        error
            .text()
            .await
            .expect("html")
            .contains("name=\"error\" value=\"unsupported_response_type\"")
    );
}

/// oidcc-redirect-uri-query-OK / -query-added / -query-mismatch: a
/// registered redirect URI with a query matches only exactly, and the
/// response keeps its query.
#[tokio::test]
async fn a_redirect_uri_with_a_query_matches_exactly_and_keeps_its_query() {
    const REGISTERED: &str = "https://rp.example.com/cb?tenant=acme";
    let app = TestApp::spawn_with(&format!(
        "[[clients]]\nid = \"rp-query\"\nsecret = \"rp-query-secret-0123456789\"\nredirect_uris = [\"{REGISTERED}\"]\n"
    ))
    .await;
    let mut params = app.params();
    set(&mut params, "client_id", "rp-query");
    set(&mut params, "redirect_uri", REGISTERED);
    let callback = app.login(&params).await;
    assert!(
        callback
            .location
            .as_str()
            .starts_with("https://rp.example.com/cb?tenant=acme&code="),
        "{}",
        callback.location
    );
    let tokens = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &callback.code()),
            ("redirect_uri", REGISTERED),
            ("client_id", "rp-query"),
            ("client_secret", "rp-query-secret-0123456789"),
        ])
        .await;
    assert_eq!(tokens.status(), 200);
    for bad in [
        "https://rp.example.com/cb?tenant=acme&extra=1",
        "https://rp.example.com/cb?tenant=other",
        "https://rp.example.com/cb",
    ] {
        set(&mut params, "redirect_uri", bad);
        let html = page_error(&app, &params).await;
        assert!(html.contains("return address"), "{bad}: {html}");
    }
}

#[tokio::test]
async fn a_state_that_is_not_utf8_is_refused_not_mangled() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let query = |state: &str| {
        format!(
            "{}/authorize?response_type=code&client_id=auth0-oidc&redirect_uri={}&scope=openid&state={state}",
            app.issuer,
            form_urlencoded::byte_serialize(AUTH0_CALLBACK.as_bytes()).collect::<String>()
        )
    };
    let bad = browser
        .get(query("ab%FF%FEcd"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(bad.status(), 303, "after the redirect URI: a redirect");
    let location = bad.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let pairs: Vec<(String, String)> = url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect();
    assert!(
        pairs.contains(&("error".into(), "invalid_request".into())),
        "{location}"
    );
    assert!(
        !pairs.iter().any(|(k, _)| k == "state"),
        "no lossy copy of the state: {location}"
    );
    // UTF-8 beyond ASCII is echoed exactly (and by form post too).
    let page = browser
        .get(query("%C3%A9t%C3%A9"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(page.status(), 200, "a valid request shows the form");
}
