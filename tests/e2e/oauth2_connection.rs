//! The `oauth2` crate plays Auth0's custom social connection (`oauth2`
//! strategy): authorize, code exchange with `client_secret_post`, then
//! `GET /userinfo` with the legacy token as Auth0's fetchUserProfile does.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, RedirectUrl, Scope,
    TokenResponse, TokenUrl,
};

use crate::support::{AUTH0_CALLBACK, OAUTH2_SECRET, TestApp};

#[tokio::test]
async fn oauth2_connection_gets_the_legacy_token_and_fetches_the_profile() {
    let app = TestApp::spawn().await;
    let client = BasicClient::new(ClientId::new("auth0-oauth2".into()))
        .set_client_secret(ClientSecret::new(OAUTH2_SECRET.into()))
        .set_auth_uri(AuthUrl::new(format!("{}/authorize", app.issuer)).expect("auth url"))
        .set_token_uri(TokenUrl::new(format!("{}/token", app.issuer)).expect("token url"))
        .set_redirect_uri(RedirectUrl::new(AUTH0_CALLBACK.into()).expect("redirect"))
        .set_auth_type(AuthType::RequestBody);
    // Auth0 sends scopes comma-separated for some connections.
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile,email".into()))
        .url();
    let params: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let callback = app.login(&params).await;
    assert_eq!(
        callback.param("state").as_deref(),
        Some(csrf.secret().as_str())
    );

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let token = client
        .exchange_code(AuthorizationCode::new(callback.code()))
        .request_async(&http)
        .await
        .expect("code exchange");
    let access = token.access_token().secret();
    assert!(app.legacy.api_accepts(access).await);
    let scopes: Vec<String> = token
        .scopes()
        .expect("scope")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["profile", "email"]);

    let userinfo = app.userinfo(access).await;
    assert_eq!(userinfo.status(), 200);
    let profile: serde_json::Value = userinfo.json().await.expect("json");
    assert_eq!(profile["sub"], "u-1001");
    assert_eq!(profile["user_id"], "u-1001");
    assert_eq!(profile["email"], "alice@example.com");
    assert_eq!(profile["name"], "Alice Example");
}
