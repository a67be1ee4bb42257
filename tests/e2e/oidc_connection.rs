//! The `openidconnect` crate plays Auth0's OIDC enterprise connection (back
//! channel): discovery, `client_secret_post`, PKCE S256, strict ID token
//! validation — first without a nonce (Auth0's default), then with one.

use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AccessTokenHash, AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    Scope, TokenResponse,
};

use crate::support::{OIDC_SECRET, TestApp, oidc_client, oidc_http};

#[tokio::test]
async fn oidc_connection_without_nonce_gets_a_valid_id_token_and_the_legacy_token() {
    let app = TestApp::spawn().await;
    let client = oidc_client(&app, "auth0-oidc", OIDC_SECRET).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (mut url, csrf, _nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    // Auth0's back channel sends no nonce unless configured to.
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "nonce")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    let callback = app.browse(&url).await;
    assert_eq!(
        callback.param("state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        callback.param("iss").as_deref(),
        Some(app.issuer.as_str()),
        "RFC 9207 iss"
    );

    let response = client
        .exchange_code(AuthorizationCode::new(callback.code()))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&oidc_http())
        .await
        .expect("code exchange");
    let id_token = response.id_token().expect("id_token for openid");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, |nonce: Option<&Nonce>| match nonce {
            None => Ok(()),
            Some(_) => Err("a nonce was not sent, so none may come back".to_string()),
        })
        .expect("ID token valid");
    assert_eq!(claims.subject().as_str(), "u-1001");
    assert_eq!(claims.issuer().as_str(), app.issuer);
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    let expected_hash = AccessTokenHash::from_token(
        response.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(
        claims.access_token_hash(),
        Some(&expected_hash),
        "at_hash is correct"
    );

    let token = response.access_token().secret();
    assert!(token.starts_with("LT1."), "the legacy token, verbatim");
    assert!(
        app.legacy.api_accepts(token).await,
        "the legacy API accepts it"
    );
    let expires_in = response.expires_in().expect("expires_in").as_secs();
    assert!(
        (3500..=3600).contains(&expires_in),
        "from the legacy token's expiry: {expires_in}"
    );
}

#[tokio::test]
async fn oidc_connection_with_nonce_gets_it_back() {
    let app = TestApp::spawn().await;
    let client = oidc_client(&app, "auth0-oidc", OIDC_SECRET).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let callback = app.browse(&url).await;
    let response = client
        .exchange_code(AuthorizationCode::new(callback.code()))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&oidc_http())
        .await
        .expect("code exchange");
    let claims = response
        .id_token()
        .expect("id_token")
        .claims(&client.id_token_verifier(), &nonce)
        .expect("valid with the nonce");
    assert_eq!(claims.nonce().map(Nonce::secret), Some(nonce.secret()));
    assert_eq!(claims.audiences().len(), 1);
    assert_eq!(claims.audiences()[0].as_str(), "auth0-oidc");
    assert!(
        claims.email().is_none(),
        "no email claim without the email scope"
    );
}
