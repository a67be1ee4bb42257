//! Who holds a legacy token. A token belongs to the client whose login got
//! it: `prompt=none` from the session answers only that client, so another
//! client never receives it. That client's silent re-authorizations share
//! the session's token, and the grants holding one token live and die
//! together — a replayed code, a revoked access token or a revoked refresh
//! token stops the token at userinfo at once, and the owner's introspection
//! and revocation always find its own grant — whether the grants were made
//! in the same second (whole-second timestamps tie) or later.

use std::time::Duration;

use crate::support::{AUTH0_CALLBACK, REFRESHER_SECRET, TestApp, location, query_param as param};

fn params(client: &str, prompt_none: bool) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), client.into()),
        ("redirect_uri".into(), AUTH0_CALLBACK.into()),
        ("scope".into(), "openid offline_access".into()),
        ("state".into(), "st".into()),
    ];
    if prompt_none {
        p.push(("prompt".into(), "none".into()));
    }
    p
}

/// A login of `refresher` in `browser`: its code.
async fn login_code(app: &TestApp, browser: &reqwest::Client) -> String {
    let page = app
        .authorize(browser, &params("refresher", false))
        .await
        .text()
        .await
        .expect("html");
    let answer = app
        .submit_login(browser, &page, "alice", "correct-horse")
        .await;
    param(&location(&answer), "code").expect("code")
}

/// A silent authorization of `client` in `browser`: the redirect's query.
async fn silent(app: &TestApp, browser: &reqwest::Client, client: &str) -> String {
    let answer = app.authorize(browser, &params(client, true)).await;
    assert_eq!(answer.status(), 303, "prompt=none never shows a page");
    location(&answer)
}

async fn redeem(app: &TestApp, code: &str) -> serde_json::Value {
    let answer = app.redeem_as("refresher", REFRESHER_SECRET, code).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.expect("json")
}

async fn post(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    let form = [
        ("client_id", "refresher"),
        ("client_secret", REFRESHER_SECRET),
        ("token", token),
    ];
    match path {
        "/revoke" => app.revoke(&form).await,
        _ => app.introspect(&form).await,
    }
}

/// Two grants of `refresher` sharing one legacy token, made `apart` apart:
/// the first code, the first answer, the second answer.
async fn shared_pair(
    app: &TestApp,
    apart: Duration,
) -> (String, serde_json::Value, serde_json::Value) {
    let browser = TestApp::browser();
    let first_code = login_code(app, &browser).await;
    let first = redeem(app, &first_code).await;
    tokio::time::sleep(apart).await;
    let query = silent(app, &browser, "refresher").await;
    let second_code = param(&query, "code").unwrap_or_else(|| panic!("a code: {query}"));
    let second = redeem(app, &second_code).await;
    assert_eq!(
        first["access_token"], second["access_token"],
        "the client's silent grant shares the session's token"
    );
    (first_code, first, second)
}

const APART: [Duration; 2] = [Duration::ZERO, Duration::from_millis(1100)];

#[tokio::test]
async fn another_client_never_receives_a_clients_legacy_token() {
    let app = TestApp::spawn().await;
    for apart in APART {
        let browser = TestApp::browser();
        let code = login_code(&app, &browser).await;
        let _ = redeem(&app, &code).await;
        tokio::time::sleep(apart).await;
        let query = silent(&app, &browser, "token-vault").await;
        assert_eq!(
            param(&query, "error").as_deref(),
            Some("login_required"),
            "{apart:?} apart: {query}"
        );
        assert!(param(&query, "code").is_none());
    }
}

#[tokio::test]
async fn a_replayed_code_stops_the_shared_token_at_userinfo() {
    let app = TestApp::spawn().await;
    for apart in APART {
        let (first_code, first, _) = shared_pair(&app, apart).await;
        let token = first["access_token"].as_str().expect("token");
        assert_eq!(app.userinfo(token).await.status(), 200);
        let replay = app
            .redeem_as("refresher", REFRESHER_SECRET, &first_code)
            .await;
        assert_eq!(replay.status(), 400);
        assert_eq!(
            app.userinfo(token).await.status(),
            401,
            "{apart:?} apart: the replay revoked the token for every grant holding it"
        );
    }
}

#[tokio::test]
async fn the_owner_introspects_and_revokes_its_shared_token() {
    let app = TestApp::spawn().await;
    for apart in APART {
        let (_, first, _) = shared_pair(&app, apart).await;
        let token = first["access_token"].as_str().expect("token");
        let answer: serde_json::Value = post(&app, "/introspect", token)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(answer["active"], true, "{apart:?} apart: {answer}");
        assert_eq!(answer["client_id"], "refresher");
        assert_eq!(post(&app, "/revoke", token).await.status(), 200);
        assert_eq!(
            app.userinfo(token).await.status(),
            401,
            "{apart:?} apart: revoked for both grants"
        );
        let answer: serde_json::Value = post(&app, "/introspect", token)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(answer["active"], false);
    }
}

#[tokio::test]
async fn revoking_the_refresh_token_stops_the_shared_access_token() {
    let app = TestApp::spawn().await;
    for apart in APART {
        let (_, first, _) = shared_pair(&app, apart).await;
        let token = first["access_token"].as_str().expect("token");
        let refresh = first["refresh_token"].as_str().expect("refresh token");
        assert_eq!(post(&app, "/revoke", refresh).await.status(), 200);
        assert_eq!(
            app.userinfo(token).await.status(),
            401,
            "{apart:?} apart: the family's legacy token stops with it"
        );
    }
}
