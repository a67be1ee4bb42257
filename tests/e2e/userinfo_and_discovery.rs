//! `/userinfo` (GET, POST header, POST body, refusals), discovery and JWKS,
//! health endpoints.

use crate::support::TestApp;

async fn issued_token(app: &TestApp) -> String {
    let code = app.login(&app.params()).await.code();
    let body: serde_json::Value = app.redeem(&code).await.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

#[tokio::test]
async fn userinfo_by_get_post_header_and_post_body() {
    let app = TestApp::spawn().await;
    let token = issued_token(&app).await;
    let get: serde_json::Value = app.userinfo(&token).await.json().await.expect("json");
    assert_eq!(get["sub"], "u-1001");
    assert_eq!(get["roles"], "orders.read,orders.write");
    let client = reqwest::Client::new();
    let url = format!("{}/userinfo", app.issuer);
    let header = client
        .post(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("reachable");
    assert_eq!(header.status(), 200);
    let body = client
        .post(&url)
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .expect("reachable");
    assert_eq!(body.json::<serde_json::Value>().await.expect("json"), get);
    let both = client
        .post(&url)
        .bearer_auth(&token)
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .expect("reachable");
    assert_eq!(both.status(), 400);
}

#[tokio::test]
async fn unknown_or_missing_tokens_get_invalid_token() {
    let app = TestApp::spawn().await;
    let response = app.userinfo("LT1.x.unknown").await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    let none = reqwest::Client::new()
        .get(format!("{}/userinfo", app.issuer))
        .send()
        .await
        .expect("reachable");
    assert_eq!(none.status(), 401);
    assert!(
        none.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
}

#[tokio::test]
async fn an_expired_legacy_token_is_refused_at_userinfo() {
    let app = TestApp::spawn_full("", |o| o.token_ttl = 1).await;
    let token = issued_token(&app).await;
    assert_eq!(app.userinfo(&token).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = app.userinfo(&token).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
}

#[tokio::test]
async fn discovery_is_complete_for_auth0_and_small() {
    let app = TestApp::spawn().await;
    let response = reqwest::get(format!("{}/.well-known/openid-configuration", app.issuer))
        .await
        .expect("reachable");
    let text = response.text().await.expect("text");
    assert!(text.len() < 128 * 1024);
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(doc["issuer"], app.issuer);
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
    ] {
        assert_eq!(doc[key], format!("{}{path}", app.issuer));
    }
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert!(
        doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .expect("array")
            .contains(&"client_secret_post".into())
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["claims_parameter_supported"], true);

    let jwks: serde_json::Value = reqwest::get(doc["jwks_uri"].as_str().expect("jwks"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert_eq!(
        jwks["keys"].as_array().map(Vec::len),
        Some(1),
        "no client asks for ES256 here: one RSA key"
    );
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(key.get("d").is_none(), "no private part");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    assert_eq!(
        reqwest::get(format!("{}/healthz", app.issuer))
            .await
            .expect("up")
            .status(),
        200
    );
    let ready = reqwest::get(format!("{}/readyz", app.issuer))
        .await
        .expect("up");
    assert_eq!(ready.status(), 200);
    let id = ready.headers()["x-request-id"].to_str().expect("ascii");
    assert_eq!(
        id.split('-').map(str::len).collect::<Vec<_>>(),
        [16, 16],
        "every response names its request id (process prefix, counter): {id}"
    );
}

#[tokio::test]
async fn the_root_says_what_this_is_and_where_its_metadata_is() {
    let app = TestApp::spawn().await;
    let root = reqwest::get(format!("{}/", app.issuer))
        .await
        .expect("root");
    assert_eq!(root.status(), 200);
    let text = root.text().await.expect("text");
    assert!(
        text.contains(&format!("{}/.well-known/openid-configuration", app.issuer)),
        "{text}"
    );
}
