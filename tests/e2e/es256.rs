//! ES256 ID tokens for a client that registers `id_token_signed_response_alg
//! = "ES256"`; RS256 stays the default for every other client. The EC key
//! is published in JWKS, kept across restarts, honoured as an
//! `id_token_hint`, used for refreshed ID tokens, and rotated with the RSA
//! key by `keys rotate`.

use std::time::Duration;

use openidconnect::core::CoreJwsSigningAlgorithm;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::key_rotation::{eventually, kid_of, kids, rotate_all};
use crate::support::{AUTH0_CALLBACK, TestApp, get_json, oidc_client, oidc_http, oidc_sign_in};

const ES_SECRET: &str = "es256-client-secret-0123456789";

async fn spawn() -> TestApp {
    TestApp::spawn_with(&format!(
        r#"
[keys]
reload_interval_seconds = 1

[[clients]]
id = "es-client"
secret = "{ES_SECRET}"
redirect_uris = ["{AUTH0_CALLBACK}"]
scopes = ["openid", "profile", "email", "offline_access"]
id_token_signed_response_alg = "ES256"
"#
    ))
    .await
}

fn alg_of(jwt: &str) -> jsonwebtoken::Algorithm {
    jsonwebtoken::decode_header(jwt).expect("header").alg
}

#[tokio::test]
async fn an_es256_client_gets_verifiable_es256_id_tokens_and_others_keep_rs256() {
    let app = spawn().await;
    let http = oidc_http();
    let client = oidc_client(&app, "es-client", ES_SECRET).await;
    let (tokens, nonce) = oidc_sign_in(&app, &client, &["offline_access"], &[]).await;
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let id_token = tokens.id_token().expect("id token");
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the ES256 ID token verifies against the published EC key");
    assert_eq!(claims.subject().as_str(), "u-1001");
    let jwt = id_token.to_string();
    assert_eq!(alg_of(&jwt), jsonwebtoken::Algorithm::ES256);
    let jwks = get_json(&format!("{}/jwks", app.issuer)).await;
    let ec = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid_of(&jwt).as_str())
        .expect("the signing key is published");
    assert_eq!(
        (&ec["kty"], &ec["crv"], &ec["alg"]),
        (&"EC".into(), &"P-256".into(), &"ES256".into())
    );
    assert!(ec.get("d").is_none(), "no private part");

    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("refresh token"))
        .expect("endpoint")
        .request_async(&http)
        .await
        .expect("refresh");
    let again = refreshed.id_token().expect("a fresh ID token").to_string();
    assert_eq!(
        alg_of(&again),
        jsonwebtoken::Algorithm::ES256,
        "after refresh too"
    );

    let default = app.login(&app.params()).await.code();
    let body: Value = app.redeem(&default).await.json().await.expect("json");
    assert_eq!(
        alg_of(body["id_token"].as_str().expect("id token")),
        jsonwebtoken::Algorithm::RS256,
        "RS256 stays the default"
    );
}

#[tokio::test]
async fn an_es256_id_token_is_a_valid_hint_and_its_key_survives_a_restart_and_rotates() {
    let mut app = spawn().await;
    let browser = TestApp::browser();
    let mut params = app.params();
    params[1].1 = "es-client".into();
    let page = app
        .authorize(&browser, &params)
        .await
        .text()
        .await
        .expect("html");
    let location = app
        .submit_login(&browser, &page, "alice", "correct-horse")
        .await
        .headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let code = url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .into_owned();
    let body: Value = app
        .redeem_as("es-client", ES_SECRET, &code)
        .await
        .json()
        .await
        .expect("json");
    let hint = body["id_token"].as_str().expect("id token").to_owned();
    let mut silent = params.clone();
    silent.push(("prompt".into(), "none".into()));
    silent.push(("id_token_hint".into(), hint.clone()));
    let response = app.authorize(&browser, &silent).await;
    let location = response.headers()["location"].to_str().expect("ascii");
    assert!(
        location.contains("code="),
        "the ES256 hint is accepted: {location}"
    );

    let before = kids(&app.issuer).await;
    assert_eq!(before.len(), 2, "one RSA and one EC key");
    app.restart().await;
    assert_eq!(
        kids(&app.issuer).await,
        before,
        "the same keys after a restart"
    );

    let published = rotate_all(&app.config_path(), 2);
    let algs: Vec<&str> = published.iter().map(|(alg, _)| alg.as_str()).collect();
    assert_eq!(algs, ["RS256", "ES256"], "both algorithms rotate");
    let new_ec = published[1].1.clone();
    assert!(
        eventually(
            async || kids(&app.issuer).await.contains(&new_ec),
            Duration::from_secs(3)
        )
        .await,
        "the new EC key is published"
    );
    assert!(
        kids(&app.issuer).await.contains(&kid_of(&hint)),
        "the old EC key stays published for its tokens"
    );
}
