//! `/token`: client authentication, code lifetime and single use, PKCE,
//! redirect URI binding, and the answer's shape.

use base64::Engine as _;

use crate::support::{AUTH0_CALLBACK, OAUTH2_SECRET, OIDC_SECRET, TestApp};

fn basic(id: &str, secret: &str) -> String {
    // RFC 6749 §2.3.1: form-urlencode each part, then base64.
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

async fn post(app: &TestApp, auth: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/token", app.issuer))
        .form(form);
    if let Some(a) = auth {
        request = request.header("authorization", a);
    }
    request.send().await.expect("token reachable")
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.expect("RFC 6749 §5.2 JSON");
    (status, body["error"].as_str().expect("error").to_owned())
}

#[tokio::test]
async fn the_answer_carries_the_legacy_token_verbatim_and_no_store() {
    let app = TestApp::spawn().await;
    let code = app.login(&app.params()).await.code();
    let response = app.redeem(&code).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().expect("token");
    let claims = app
        .legacy
        .keys
        .validate(token, idp_bridge::util::clock::now_unix())
        .expect("the legacy IdP's own LT1");
    assert_eq!(claims.sub, "u-1001");
    assert!(body["id_token"].as_str().is_some());
}

#[tokio::test]
async fn client_secret_basic_with_special_characters_works() {
    let app = TestApp::spawn().await;
    let code = app.login(&app.params()).await.code();
    let response = post(
        &app,
        Some(&basic("auth0-oidc", OIDC_SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", AUTH0_CALLBACK),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn same_credentials_in_header_and_body_are_fine_different_ones_are_not() {
    let app = TestApp::spawn().await;
    let code = app.login(&app.params()).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", AUTH0_CALLBACK),
        ("client_id", "auth0-oidc"),
        ("client_secret", OIDC_SECRET),
    ];
    assert_eq!(
        post(&app, Some(&basic("auth0-oidc", OIDC_SECRET)), &form)
            .await
            .status(),
        200
    );

    let code = app.login(&app.params()).await.code();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", AUTH0_CALLBACK),
        ("client_id", "auth0-oidc"),
        ("client_secret", "another-secret"),
    ];
    let response = post(&app, Some(&basic("auth0-oidc", OIDC_SECRET)), &form).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=\"idp-bridge\""
    );
    assert_eq!(error_of(response).await, (401, "invalid_client".into()));
}

#[tokio::test]
async fn wrong_or_missing_client_credentials_are_invalid_client() {
    let app = TestApp::spawn().await;
    let code = app.login(&app.params()).await.code();
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", AUTH0_CALLBACK),
    ];
    let with = |id: &'static str, secret: &'static str| {
        let mut f = base.to_vec();
        f.push(("client_id", id));
        f.push(("client_secret", secret));
        f
    };
    let response = post(&app, None, &with("auth0-oidc", "wrong")).await;
    assert!(
        response.headers().get("www-authenticate").is_none(),
        "no Basic challenge when Basic was not used"
    );
    assert_eq!(error_of(response).await, (401, "invalid_client".into()));
    assert_eq!(
        error_of(post(&app, None, &with("nobody", "x")).await).await,
        (401, "invalid_client".into())
    );
    assert_eq!(
        error_of(post(&app, None, &base).await).await,
        (401, "invalid_client".into())
    );
    let response = post(&app, Some(&basic("auth0-oidc", "wrong")), &base).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=\"idp-bridge\""
    );
    assert_eq!(error_of(response).await.1, "invalid_client");
    // auth0-oauth2 allows only client_secret_post.
    let response = post(&app, Some(&basic("auth0-oauth2", OAUTH2_SECRET)), &base).await;
    assert_eq!(error_of(response).await.1, "invalid_client");
    // The code was never spent by the refusals above.
    assert_eq!(app.redeem(&code).await.status(), 200);
}

#[tokio::test]
async fn replayed_code_is_rejected_and_revokes_the_grant() {
    let app = TestApp::spawn().await;
    let code = app.login(&app.params()).await.code();
    let first: serde_json::Value = app.redeem(&code).await.json().await.expect("json");
    let token = first["access_token"].as_str().expect("token");
    assert_eq!(app.userinfo(token).await.status(), 200);
    assert_eq!(
        error_of(app.redeem(&code).await).await,
        (400, "invalid_grant".into())
    );
    let after = app.userinfo(token).await;
    assert_eq!(
        after.status(),
        401,
        "the first access token stops working at userinfo"
    );
}

#[tokio::test]
async fn code_for_another_client_or_redirect_uri_is_invalid_grant() {
    let app = TestApp::spawn().await;
    let code = app.login(&app.params()).await.code();
    let other = post(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", AUTH0_CALLBACK),
            ("client_id", "auth0-oauth2"),
            ("client_secret", OAUTH2_SECRET),
        ],
    )
    .await;
    assert_eq!(error_of(other).await, (400, "invalid_grant".into()));

    let code = app.login(&app.params()).await.code();
    let wrong_uri = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://login.example.com/login/callback"),
            ("client_id", "auth0-oidc"),
            ("client_secret", OIDC_SECRET),
        ])
        .await;
    assert_eq!(error_of(wrong_uri).await, (400, "invalid_grant".into()));
    let unknown = app.redeem("not-a-code").await;
    assert_eq!(error_of(unknown).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let app = TestApp::spawn_with("[tokens]\ncode_ttl_seconds = 1\n").await;
    let code = app.login(&app.params()).await.code();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        error_of(app.redeem(&code).await).await,
        (400, "invalid_grant".into())
    );
}

#[tokio::test]
async fn pkce_missing_wrong_and_downgrade_are_refused() {
    let app = TestApp::spawn().await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"; // RFC 7636 Appendix B
    let mut params = app.params();
    params.push(("code_challenge".into(), challenge.into()));
    params.push(("code_challenge_method".into(), "S256".into()));
    let redeem = |code: String, verifier: Option<&'static str>| {
        let app = &app;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", AUTH0_CALLBACK.to_owned()),
                ("client_id", "auth0-oidc".to_owned()),
                ("client_secret", OIDC_SECRET.to_owned()),
            ];
            if let Some(v) = verifier {
                form.push(("code_verifier", v.to_owned()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.token(&form).await
        }
    };
    let code = app.login(&params).await.code();
    assert_eq!(
        error_of(redeem(code, None).await).await.1,
        "invalid_grant",
        "verifier missing"
    );
    let code = app.login(&params).await.code();
    assert_eq!(
        error_of(redeem(code, Some("wrong-verifier-wrong-verifier-wrong-verifier-x")).await)
            .await
            .1,
        "invalid_grant"
    );
    let code = app.login(&params).await.code();
    assert_eq!(
        redeem(code, Some(verifier)).await.status(),
        200,
        "the RFC 7636 example verifies"
    );
    // Downgrade: a verifier for a code issued without a challenge.
    let code = app.login(&app.params()).await.code();
    assert_eq!(
        error_of(redeem(code, Some(verifier)).await).await.1,
        "invalid_grant"
    );
}

#[tokio::test]
async fn malformed_requests_get_rfc_errors() {
    let app = TestApp::spawn().await;
    let auth = [("client_id", "auth0-oidc"), ("client_secret", OIDC_SECRET)];
    let mut form = auth.to_vec();
    form.push(("grant_type", "password"));
    assert_eq!(
        error_of(app.token(&form).await).await,
        (400, "unsupported_grant_type".into())
    );
    let mut form = auth.to_vec();
    form.push(("grant_type", "authorization_code"));
    assert_eq!(
        error_of(app.token(&form).await).await,
        (400, "invalid_request".into()),
        "no code"
    );
    let dup = reqwest::Client::new()
        .post(format!("{}/token", app.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=authorization_code&code=a&code=b&client_id=auth0-oidc&client_secret={}",
            form_urlencoded::byte_serialize(OIDC_SECRET.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .expect("reachable");
    assert_eq!(error_of(dup).await, (400, "invalid_request".into()));
    let json = reqwest::Client::new()
        .post(format!("{}/token", app.issuer))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .expect("reachable");
    assert_eq!(error_of(json).await, (400, "invalid_request".into()));
}

/// The `error_description` of a refusal.
async fn description_of(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("json");
    body["error_description"].as_str().unwrap_or("").to_owned()
}

/// Redeems `code` as `client` with `redirect_uri` and `verifier`.
async fn redeem_with(
    app: &TestApp,
    (client, secret): (&str, &str),
    redirect_uri: &str,
    verifier: &str,
    code: &str,
) -> reqwest::Response {
    app.token(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", client),
        ("client_secret", secret),
        ("code_verifier", verifier),
    ])
    .await
}

#[tokio::test]
async fn a_failed_redemption_burns_nothing_and_another_client_learns_nothing() {
    let app = TestApp::spawn().await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let mut params = app.params();
    params.push((
        "code_challenge".into(),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
    ));
    params.push(("code_challenge_method".into(), "S256".into()));
    let code = app.login(&params).await.code();
    let owner = ("auth0-oidc", OIDC_SECRET);
    let other = ("auth0-oauth2", OAUTH2_SECRET);
    // A wrong redirect URI, a wrong verifier: refused, the code unspent.
    let wrong_uri = redeem_with(&app, owner, "https://elsewhere.example/cb", verifier, &code).await;
    assert_eq!(error_of(wrong_uri).await.1, "invalid_grant");
    let wrong_verifier = redeem_with(
        &app,
        owner,
        AUTH0_CALLBACK,
        "wrong-verifier-wrong-verifier-wrong-verifier-x",
        &code,
    )
    .await;
    assert_eq!(
        description_of(wrong_verifier).await,
        "code_verifier does not match the code challenge"
    );
    // Another client: the same answer as a code that does not exist.
    let theirs = redeem_with(&app, other, AUTH0_CALLBACK, verifier, &code).await;
    let unknown = redeem_with(&app, other, AUTH0_CALLBACK, verifier, "no-such-code").await;
    let (status, text) = (theirs.status(), description_of(theirs).await);
    assert_eq!(status, unknown.status());
    assert_eq!(text, description_of(unknown).await, "nothing learned");
    // The rightful redemption still succeeds, and nothing was revoked.
    let answer = redeem_with(&app, owner, AUTH0_CALLBACK, verifier, &code).await;
    assert_eq!(answer.status(), 200, "the code was not burned");
    let body: serde_json::Value = answer.json().await.expect("json");
    let token = body["access_token"].as_str().expect("token");
    assert_eq!(app.userinfo(token).await.status(), 200, "nothing revoked");
    // Another client replaying the spent code revokes nothing either.
    let replay = redeem_with(&app, other, AUTH0_CALLBACK, verifier, &code).await;
    assert_eq!(error_of(replay).await.1, "invalid_grant");
    assert_eq!(app.userinfo(token).await.status(), 200);
}
