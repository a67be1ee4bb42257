//! "This user, everywhere, now": only a redeemed grant is a source of the
//! legacy token (an abandoned sign-in never is); revoking a user through the
//! admin API, the command, a logout or an Auth0 event ends every grant,
//! refresh token and session of theirs, for token exchange and the gateway
//! too, on every instance.

mod admin;
mod events;
mod logout;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::gateway::sections;
use crate::support::{OIDC_SECRET, REFRESHER_SECRET, TestApp};
use crate::token_exchange::{Tenant, exchange, exchanger_client};

const ADMIN_TOKEN: &str = "admin-credential-0123456789abcdefghij";
const EVENTS_TOKEN: &str = "events-credential-0123456789abcdefghij";
const ALICE: &str = "u-1001";

/// Token exchange, the gateway, the admin API and the Auth0 events
/// webhook, with `extra` appended.
async fn bridge(tenant: &Tenant, extra: &str) -> TestApp {
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n\n[auth0_events]\ntoken = \"{EVENTS_TOKEN}\"\n{extra}",
        sections(tenant, "", "", "")
    );
    TestApp::spawn_edited(&text, |_| {}, |t| t + &exchanger_client()).await
}

/// alice signs in in `browser` for `client`; the code.
async fn sign_in(app: &TestApp, browser: &reqwest::Client, client: &str, scope: &str) -> String {
    let mut params = app.params();
    params[1].1 = client.into();
    params[3].1 = scope.into();
    let page = app.authorize(browser, &params).await.text().await.unwrap();
    let answer = app
        .submit_login(browser, &page, "alice", "correct-horse")
        .await;
    assert_eq!(answer.status(), 303);
    crate::support::query_param(&crate::support::location(&answer), "code").expect("a code")
}

/// Redeems for `auth0-oidc`; the token response.
async fn redeemed(app: &TestApp, code: &str) -> Value {
    let answer = app.redeem(code).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn exchanged(app: &TestApp, tenant: &Tenant) -> (u16, Value) {
    let answer = exchange(app, &tenant.token(&[])).await;
    (answer.status().as_u16(), answer.json().await.unwrap())
}

async fn through_gateway(app: &TestApp, tenant: &Tenant) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "{}/orders/list",
            app.gateway_url.as_deref().unwrap()
        ))
        .bearer_auth(tenant.token(&[]))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls the gateway until it refuses (401), within `bound`.
async fn gateway_refuses_within(url: &str, token: &str, bound: Duration) -> Duration {
    let at = Instant::now();
    loop {
        let status = reqwest::Client::new()
            .get(format!("{url}/orders/poll"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status();
        if status == 401 {
            return at.elapsed();
        }
        assert_eq!(status, 200, "the gateway either serves or refuses");
        assert!(
            at.elapsed() < bound,
            "still served after {:?}",
            at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn admin(url: &str, path: &str, credential: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .json(body);
    if let Some(credential) = credential {
        request = request.bearer_auth(credential);
    }
    request.send().await.unwrap()
}

async fn revoke_at_admin(app: &TestApp, subject: &str) -> Value {
    let answer = admin(
        app.admin_url.as_deref().unwrap(),
        "/users/revoke",
        Some(ADMIN_TOKEN),
        &json!({ "subject": subject }),
    )
    .await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn revoke_at_bridge(app: &TestApp, client: (&str, &str), token: &str) {
    let answer = reqwest::Client::new()
        .post(format!("{}/revoke", app.issuer))
        .form(&[
            ("client_id", client.0),
            ("client_secret", client.1),
            ("token", token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn an_abandoned_sign_in_is_never_a_source_for_exchange_or_the_gateway() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    // A sign-in whose redemption fails (wrong client secret): its code
    // stays unredeemed, and its legacy token reached no client.
    let abandoned = sign_in(&app, &TestApp::browser(), "auth0-oidc", "openid").await;
    let failed = app
        .redeem_as("auth0-oidc", "a-wrong-secret", &abandoned)
        .await;
    assert_eq!(failed.status(), 401);
    let (status, body) = exchanged(&app, &tenant).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "an unredeemed grant is no source: {body}"
    );
    assert_eq!(through_gateway(&app, &tenant).await, 401);

    // A real sign-in, then its revocation at /revoke: the orphan must not
    // take over.
    let code = sign_in(&app, &TestApp::browser(), "auth0-oidc", "openid").await;
    let legacy = redeemed(&app, &code).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = exchanged(&app, &tenant).await;
    assert_eq!(status, 200);
    assert_eq!(body["access_token"].as_str(), Some(legacy.as_str()));
    assert_eq!(through_gateway(&app, &tenant).await, 200);
    revoke_at_bridge(&app, ("auth0-oidc", OIDC_SECRET), &legacy).await;
    let (status, body) = exchanged(&app, &tenant).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    gateway_refuses_within(
        app.gateway_url.as_deref().unwrap(),
        &tenant.token(&[]),
        Duration::from_millis(200 + 1500),
    )
    .await;
    // And the orphan goes with its code, not with its token.
    let now = idp_bridge::util::clock::now_unix();
    assert!(app.cleanup_at(now + 700).await.grants >= 1);
}

#[tokio::test]
async fn revoking_a_user_ends_every_sign_in_refresh_token_session_and_gateway_entry() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    // Two sign-ins: one with a refresh token (its own browser), one whose
    // browser keeps its session.
    let first = sign_in(
        &app,
        &TestApp::browser(),
        "refresher",
        "openid offline_access",
    )
    .await;
    let first = app.redeem_as("refresher", REFRESHER_SECRET, &first).await;
    let first: Value = first.json().await.unwrap();
    let refresh = first["refresh_token"].as_str().expect("refresh").to_owned();
    let browser = TestApp::browser();
    let second = redeemed(&app, &sign_in(&app, &browser, "auth0-oidc", "openid").await).await;
    let second_token = second["access_token"].as_str().unwrap().to_owned();
    assert_eq!(exchanged(&app, &tenant).await.0, 200);
    assert_eq!(through_gateway(&app, &tenant).await, 200);

    // Revoking the newest grant alone leaves the older one serving: that is
    // what a grant's revocation means.
    revoke_at_bridge(&app, ("auth0-oidc", OIDC_SECRET), &second_token).await;
    let (status, body) = exchanged(&app, &tenant).await;
    assert_eq!(status, 200);
    assert_eq!(body["access_token"], first["access_token"]);

    // The user's revocation ends everything.
    let ended = revoke_at_admin(&app, ALICE).await;
    assert_eq!(ended["subject"], ALICE);
    assert_eq!(ended["grants_revoked"], 1, "{ended}");
    assert_eq!(ended["refresh_tokens_revoked"], 1, "{ended}");
    assert_eq!(
        ended["sessions_ended"], 2,
        "both browsers' sessions: {ended}"
    );
    let (status, body) = exchanged(&app, &tenant).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    gateway_refuses_within(
        app.gateway_url.as_deref().unwrap(),
        &tenant.token(&[]),
        Duration::from_millis(200 + 1500),
    )
    .await;
    let refreshed = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "refresher"),
            ("client_secret", REFRESHER_SECRET),
        ])
        .await;
    assert_eq!(refreshed.status(), 400);
    for token in [first["access_token"].as_str().unwrap(), &second_token] {
        assert_eq!(app.userinfo(token).await.status(), 401);
    }
    // The browser's session is gone: prompt=none asks for a login.
    let mut params = app.params();
    params.push(("prompt".into(), "none".into()));
    let silent = app.authorize(&browser, &params).await;
    assert_eq!(
        crate::support::query_param(&crate::support::location(&silent), "error").as_deref(),
        Some("login_required")
    );
    // Signing in again works, and serves again.
    let again = redeemed(
        &app,
        &sign_in(&app, &TestApp::browser(), "auth0-oidc", "openid").await,
    )
    .await;
    let (status, body) = exchanged(&app, &tenant).await;
    assert_eq!(status, 200);
    assert_eq!(body["access_token"], again["access_token"]);
}

#[tokio::test]
async fn a_sign_in_under_way_cannot_be_completed_after_its_user_is_revoked() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let code = sign_in(&app, &TestApp::browser(), "auth0-oidc", "openid").await;
    let ended = revoke_at_admin(&app, ALICE).await;
    assert_eq!(ended["grants_revoked"], 1, "the unredeemed grant too");
    let answer = app.redeem(&code).await;
    assert_eq!(answer.status(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_revoked_user_is_not_minted_for_until_they_sign_in_again() {
    let tenant = Tenant::start().await;
    let mint = "[token_exchange.mint_lt1]\nttl_seconds = 300\n";
    let lt1 = "\n[legacy_token.keys]\nk1 = \"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\"\n";
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n{lt1}",
        sections(&tenant, mint, "", "")
    );
    let app = TestApp::spawn_edited(&text, |_| {}, |t| t + &exchanger_client()).await;
    let (status, minted) = exchanged(&app, &tenant).await;
    assert_eq!(status, 200, "never signed in: minted {minted}");
    revoke_at_admin(&app, ALICE).await;
    let (status, body) = exchanged(&app, &tenant).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a revoked user with no grant at all is not minted for"
    );
    let again = redeemed(
        &app,
        &sign_in(&app, &TestApp::browser(), "auth0-oidc", "openid").await,
    )
    .await;
    let (status, body) = exchanged(&app, &tenant).await;
    assert_eq!(status, 200);
    assert_eq!(body["access_token"], again["access_token"]);
}

#[tokio::test]
async fn a_user_revoked_at_one_instance_is_refused_by_the_others_exchange_and_gateway() {
    use crate::cluster::Cluster;
    let tenant = Tenant::start().await;
    let extra = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:{{ADMIN_PORT}}\"\ntoken = \"{ADMIN_TOKEN}\"\n{}",
        sections(&tenant, "", "", "").replace("127.0.0.1:0", "127.0.0.1:{GATEWAY_PORT}"),
        exchanger_client()
    );
    let c = Cluster::start_with(2, &crate::store_suite::pg_url(), &extra, |_| {}).await;
    let code = c.login(0, 0).await;
    assert_eq!(c.redeem(0, &code).await.status(), 200);
    let token = tenant.token(&[]);
    let exchange_at = |i: usize| {
        let (url, token) = (c.urls[i].clone(), token.clone());
        async move {
            reqwest::Client::new()
                .post(format!("{url}/token"))
                .form(&[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("client_id", "exchanger"),
                    ("client_secret", "exchanger-client-secret-0123456"),
                    ("subject_token", token.as_str()),
                    (
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:access_token",
                    ),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(exchange_at(1).await, 200);
    for gw in &c.gateway_urls {
        let r = reqwest::Client::new()
            .get(format!("{gw}/orders/a"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{gw}: cached now");
    }
    let answer = admin(
        &c.admin_urls[0],
        "/users/revoke",
        Some(ADMIN_TOKEN),
        &json!({ "subject": ALICE }),
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        exchange_at(1).await,
        400,
        "exchange reads the store: at once"
    );
    let took = gateway_refuses_within(
        &c.gateway_urls[1],
        &token,
        Duration::from_millis(200 + 1500),
    )
    .await;
    eprintln!("instance 1's gateway refused {took:?} after the revocation at instance 0");
    c.finish().await;
}

#[test]
fn the_revocation_table_is_the_same_in_tokens_and_security() {
    let table = |page: &str| {
        let text = std::fs::read_to_string(format!("{}/docs/{page}", env!("CARGO_MANIFEST_DIR")))
            .expect("the page");
        let start = text
            .find("<!-- ANCHOR: revocation_table -->")
            .unwrap_or_else(|| panic!("{page} has the table's start"));
        let end = text
            .find("<!-- ANCHOR_END: revocation_table -->")
            .unwrap_or_else(|| panic!("{page} has the table's end"));
        text[start..end].to_owned()
    };
    let tokens = table("tokens.md");
    assert!(tokens.contains("| what it stops |"), "{tokens}");
    assert_eq!(tokens, table("security.md"));
}
