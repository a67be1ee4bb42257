//! The `claims` request parameter (OIDC Core §5.5): individual claims in the
//! ID token and at userinfo, limited to what the client may get, kept
//! through refresh; `sub` values and essential `acr`; malformed requests.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::support::{
    AUTH0_CALLBACK, REFRESHER_SECRET, TestApp, VAULT_SECRET, jwt_claims, oidc_client, oidc_http,
    oidc_sign_in,
};

/// Authorization parameters for `client` with `scope` and a claims request.
fn params(client: &str, scope: &str, claims: &str) -> Vec<(String, String)> {
    vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), client.into()),
        ("redirect_uri".into(), AUTH0_CALLBACK.into()),
        ("scope".into(), scope.into()),
        ("state".into(), "st-claims".into()),
        ("claims".into(), claims.into()),
    ]
}

/// Redeems `code` for `client` and returns the token answer.
async fn redeem(app: &TestApp, client: &str, secret: &str, code: &str) -> Value {
    let response = app.redeem_as(client, secret, code).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// The error of an authorization answer that redirects without a page.
async fn redirect_error(app: &TestApp, params: &[(String, String)]) -> (String, String) {
    let response = app.authorize(&TestApp::browser(), params).await;
    assert_eq!(response.status(), 303, "an error redirect, not a page");
    let location =
        url::Url::parse(response.headers()["location"].to_str().expect("ascii")).expect("absolute");
    let get = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    assert_eq!(get("state"), "st-claims");
    assert_eq!(get("iss"), app.issuer);
    (get("error"), get("error_description"))
}

#[tokio::test]
async fn requested_claims_reach_the_verified_id_token_and_userinfo_and_survive_refresh() {
    let app = TestApp::spawn().await;
    let http = oidc_http();
    let client = oidc_client(&app, "refresher", REFRESHER_SECRET).await;
    // Only `openid` (and offline_access) by scope: email and roles in the
    // ID token, the name at userinfo, each by the claims parameter alone.
    let claims = r#"{"id_token":{"email":{"essential":true},"roles":null,"nickname":null},
                     "userinfo":{"name":null}}"#;
    let (tokens, nonce) =
        oidc_sign_in(&app, &client, &["offline_access"], &[("claims", claims)]).await;
    let id_token = tokens.id_token().expect("id token");
    let verified = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the ID token verifies");
    assert_eq!(
        verified.email().map(|e| e.as_str()),
        Some("alice@example.com"),
        "email asked for in the ID token"
    );
    assert!(
        verified.name().is_none(),
        "the name was asked for at userinfo only"
    );
    let raw = jwt_claims(&id_token.to_string());
    assert_eq!(raw["roles"], "orders.read,orders.write");
    assert!(
        raw.get("nickname").is_none(),
        "a claim the user lacks is left out"
    );

    let info: Value = app
        .userinfo(tokens.access_token().secret())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(info["name"], "Alice Example");
    assert_eq!(info["sub"], "u-1001");
    assert!(
        info.get("email").is_none(),
        "email went to the ID token only"
    );
    assert!(info.get("roles").is_none());

    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("refresh token"))
        .expect("endpoint")
        .request_async(&http)
        .await
        .expect("refresh");
    let again = jwt_claims(&refreshed.id_token().expect("id token").to_string());
    assert_eq!(again["email"], "alice@example.com", "kept through refresh");
    assert_eq!(again["roles"], "orders.read,orders.write");
    let info: Value = app
        .userinfo(refreshed.access_token().secret())
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        info["name"], "Alice Example",
        "userinfo still answers the name"
    );
}

#[tokio::test]
async fn a_claims_request_never_widens_what_the_client_may_get() {
    let app = TestApp::spawn().await;
    // token-vault may be granted only openid and offline_access.
    let claims =
        r#"{"id_token":{"email":{"essential":true},"name":null},"userinfo":{"email":null}}"#;
    let code = app
        .login(&params("token-vault", "openid", claims))
        .await
        .code();
    let tokens = redeem(&app, "token-vault", VAULT_SECRET, &code).await;
    let id = jwt_claims(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(id["sub"], "u-1001");
    assert!(id.get("email").is_none(), "{id}");
    assert!(id.get("name").is_none(), "{id}");
    let info: Value = app
        .userinfo(tokens["access_token"].as_str().expect("access token"))
        .await
        .json()
        .await
        .expect("json");
    assert!(info.get("email").is_none(), "{info}");
}

#[tokio::test]
async fn a_sub_value_must_be_the_user_who_signs_in() {
    let app = TestApp::spawn().await;
    let for_bob = params(
        "refresher",
        "openid",
        r#"{"id_token":{"sub":{"value":"u-1002"}}}"#,
    );
    let alice = app.login(&for_bob).await;
    assert_eq!(alice.param("error").as_deref(), Some("login_required"));
    assert!(alice.param("code").is_none(), "no code for another user");
    assert_eq!(alice.param("state").as_deref(), Some("st-claims"));
    let bob = app.login_as(&for_bob, "bob", "battery-staple").await;
    let tokens = redeem(&app, "refresher", REFRESHER_SECRET, &bob.code()).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().expect("id token"))["sub"],
        "u-1002"
    );
}

#[tokio::test]
async fn malformed_claims_and_an_essential_acr_are_refused_before_any_password() {
    let app = TestApp::spawn().await;
    for bad in [
        "not json",
        "[1,2]",
        r#"{"id_token":["email"]}"#,
        r#"{"userinfo":{"email":{"essential":"yes"}}}"#,
        r#"{"id_token":{"sub":{"value":"a"}},"userinfo":{"sub":{"value":"b"}}}"#,
    ] {
        let (error, _) = redirect_error(&app, &params("refresher", "openid", bad)).await;
        assert_eq!(error, "invalid_request", "claims={bad}");
    }
    let (error, description) = redirect_error(
        &app,
        &params(
            "refresher",
            "openid",
            r#"{"id_token":{"acr":{"essential":true,"values":["urn:mace:incommon:iap:silver"]}}}"#,
        ),
    )
    .await;
    assert_eq!(error, "access_denied");
    assert!(
        description.contains("authentication context"),
        "{description}"
    );
    // A voluntary acr is simply not answered.
    let page = app
        .authorize(
            &TestApp::browser(),
            &params(
                "refresher",
                "openid",
                r#"{"id_token":{"acr":{"values":["x"]}}}"#,
            ),
        )
        .await;
    assert_eq!(page.status(), 200, "the login page");
}
