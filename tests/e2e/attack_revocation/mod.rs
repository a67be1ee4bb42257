//! Attacks on "revoking a user everywhere" (issue 26), kept whether they
//! held or broke: races of sign-ins, redemptions, renewals and `prompt=none`
//! against a user's revocation; a session saved after it; the admin API's
//! credential and bodies; Auth0 event deliveries; subjects that are
//! prefixes or case variants of others; minting after cleanup and restart.
//!
//! A race "holds" when the outcome is one some order of the two requests
//! allows: whatever a request under way when the revocation answered got,
//! it is dead at the bridge afterwards (userinfo 401, refresh refused,
//! exchange refused), and a request started after it gets nothing.

mod admin;
mod events;
mod races;
mod sessions;
mod subjects;

use std::time::{Duration, Instant};

use idp_bridge::domain::store::RefreshState;
use idp_bridge::reference::legacy_idp::{Faults, LegacyIdpOptions};
use idp_bridge::reference::users::{User, hash_password};
use idp_bridge::util::crypto::sha256;
use serde_json::{Value, json};

use crate::gateway::sections;
use crate::support::{REFRESHER_SECRET, TestApp, VAULT_SECRET, location, query_param};
use crate::token_exchange::{Tenant, exchange, exchanger_client};

const ADMIN_TOKEN: &str = "attack-admin-credential-0123456789abcdef";
const EVENTS_TOKEN: &str = "attack-events-credential-0123456789abcdef";
const ALICE: &str = "u-1001";

/// A PostgreSQL `[store]` section in a fresh schema, and the schema.
fn postgres_store() -> (String, String) {
    let schema = crate::store_suite::fresh_schema();
    (
        format!(
            "\n[store]\nurl = \"{}\"\nschema = \"{schema}\"\n",
            crate::store_suite::pg_url()
        ),
        schema,
    )
}

/// Token exchange, the gateway, the admin API and the Auth0 events webhook
/// (bearer), with `extra` appended and the legacy IdP adjusted.
async fn bridge_full(
    tenant: &Tenant,
    extra: &str,
    adjust: impl FnOnce(&mut LegacyIdpOptions),
) -> TestApp {
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n\n[auth0_events]\ntoken = \"{EVENTS_TOKEN}\"\n{extra}",
        sections(tenant, "", "", "")
    );
    TestApp::spawn_edited(&text, adjust, |t| t + &exchanger_client()).await
}

async fn bridge(tenant: &Tenant, extra: &str) -> TestApp {
    bridge_full(tenant, extra, |_| {}).await
}

/// `username` signs in in `browser` for `client` with `scope`; the code.
async fn sign_in_as(
    app: &TestApp,
    browser: &reqwest::Client,
    (client, scope): (&str, &str),
    (username, password): (&str, &str),
) -> String {
    let mut params = app.params();
    params[1].1 = client.into();
    params[3].1 = scope.into();
    let page = app.authorize(browser, &params).await.text().await.unwrap();
    let answer = app.submit_login(browser, &page, username, password).await;
    assert_eq!(answer.status(), 303, "{username} signs in");
    query_param(&location(&answer), "code").expect("a code")
}

/// alice signs in in `browser` for `auth0-oidc`; the code.
async fn sign_in(app: &TestApp, browser: &reqwest::Client) -> String {
    sign_in_as(
        app,
        browser,
        ("auth0-oidc", "openid"),
        ("alice", "correct-horse"),
    )
    .await
}

/// alice signs in for `refresher` (offline_access) and redeems; the answer.
async fn refresher_tokens(app: &TestApp) -> Value {
    let code = sign_in_as(
        app,
        &TestApp::browser(),
        ("refresher", "openid offline_access"),
        ("alice", "correct-horse"),
    )
    .await;
    let answer = app.redeem_as("refresher", REFRESHER_SECRET, &code).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// Redeems for `auth0-oidc`; the token response.
async fn redeemed(app: &TestApp, code: &str) -> Value {
    let answer = app.redeem(code).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn refresh_as(
    app: &TestApp,
    (client, secret): (&str, &str),
    token: &str,
) -> reqwest::Response {
    app.token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", client),
        ("client_secret", secret),
    ])
    .await
}

/// The status of a token exchange for `sub` (an Auth0 user id).
async fn exchange_status_for(app: &TestApp, tenant: &Tenant, sub: &str) -> u16 {
    exchange(app, &tenant.token(&[("sub", json!(sub))]))
        .await
        .status()
        .as_u16()
}

async fn exchange_status(app: &TestApp, tenant: &Tenant) -> u16 {
    exchange_status_for(app, tenant, "oidc|legacy|u-1001").await
}

async fn admin_post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(format!(
        "{}{path}",
        app.admin_url.as_deref().expect("an admin listener")
    ));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(body).send().await.unwrap()
}

/// `POST /users/revoke` with the right credential; the answer's JSON.
async fn revoke_user(app: &TestApp, subject: &str) -> Value {
    let answer = admin_post(
        app,
        "/users/revoke",
        &[
            ("authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ("content-type", "application/json"),
        ],
        json!({ "subject": subject }).to_string(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// `prompt=none` for `auth0-oidc` in `browser`: the code, or the error.
async fn silent(app: &TestApp, browser: &reqwest::Client) -> Result<String, String> {
    let mut params = app.params();
    params.push(("prompt".into(), "none".into()));
    let answer = app.authorize(browser, &params).await;
    let at = location(&answer);
    query_param(&at, "code").ok_or_else(|| query_param(&at, "error").unwrap_or(at))
}

/// Polls the gateway with `token` until it refuses, within `bound`.
async fn gateway_refuses_within(app: &TestApp, token: &str, bound: Duration) {
    let at = Instant::now();
    loop {
        let status = gateway_status(app, token).await;
        if status == 401 {
            return;
        }
        assert!(
            at.elapsed() < bound,
            "still served after {:?}",
            at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn gateway_status(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "{}/orders/list",
            app.gateway_url.as_deref().unwrap()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A delay spread over `0..window` by round (a race needs no randomness to
/// sweep the window).
fn spread(round: u32, rounds: u32, window: Duration) -> Duration {
    window * round / rounds.max(1)
}
