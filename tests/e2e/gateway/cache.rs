//! The token cache: one lookup for concurrent misses; an expired legacy
//! token is never served from it; a revocation at one instance reaches the
//! other's gateway within the poll bound; a legacy API refusing the token
//! makes the next request look it up again.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{gateway, gateway_before, get, sections, url};
use crate::support::{REFRESHER_SECRET, TestApp};
use crate::token_exchange::Tenant;

#[tokio::test]
async fn a_hundred_concurrent_misses_make_one_lookup() {
    let tenant = Tenant::start().await;
    let mut app = gateway(&tenant, "", "").await;
    // mint_upstream needs the adapter's mint request in the same file.
    app.config_text = app.config_text.replacen(
        "[token_exchange]\n",
        "[token_exchange]\nmint_upstream = true\n",
        1,
    );
    let _ = write!(
        app.config_text,
        "\n[upstream.http.mint]\nurl = \"{}/api/v1/token-for-user\"\nheaders = {{ X-Api-Key = \"{}\" }}\n",
        app.legacy.idp_url(),
        idp_bridge::reference::legacy_idp::MINT_API_KEY
    );
    app.restart().await;
    // Bob never signed in: each lookup would mint at the legacy IdP.
    let token = tenant.token(&[("sub", json!("oidc|legacy|u-1002"))]);
    let before = app.legacy.idp.mints();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (u, t) = (url(&app, "/orders/c"), token.clone());
            tokio::spawn(async move {
                let r = reqwest::Client::new()
                    .get(u)
                    .bearer_auth(t)
                    .send()
                    .await
                    .expect("send");
                let seen: Value = r.json().await.expect("json");
                seen["sub"].as_str().unwrap_or("").to_owned()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), "u-1002");
    }
    assert_eq!(
        app.legacy.idp.mints() - before,
        1,
        "one lookup for 100 misses"
    );
    let metrics = app.metrics_text();
    assert!(
        metrics.contains("idp_bridge_gateway_cache_total{outcome=\"lookup\"} 1"),
        "{metrics}"
    );
    // Later requests are hits.
    assert_eq!(get(&app, "/orders/again", &token).await.status(), 200);
    assert_eq!(app.legacy.idp.mints() - before, 1);
    assert!(
        app.metrics_text()
            .contains("idp_bridge_gateway_cache_total{outcome=\"hit\"}")
    );
}

#[tokio::test]
async fn an_expired_legacy_token_is_not_served_from_the_cache() {
    let tenant = Tenant::start().await;
    let app = TestApp::spawn_full(
        &sections(
            &tenant,
            "renew_skew_seconds = 0",
            "cache_skew_seconds = 0",
            "",
        ),
        |o| o.token_ttl = 2,
    )
    .await;
    // A grant with a legacy refresh token, so it can be renewed.
    let params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), "refresher".into()),
        ("redirect_uri".into(), crate::support::AUTH0_CALLBACK.into()),
        ("scope".into(), "openid offline_access".into()),
    ];
    let code = app.login(&params).await.code();
    let answer = app.redeem_as("refresher", REFRESHER_SECRET, &code).await;
    assert_eq!(answer.status(), 200);
    let token = tenant.token(&[]);
    let first: Value = get(&app, "/orders/a", &token)
        .await
        .json()
        .await
        .expect("json");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let second = get(&app, "/orders/b", &token).await;
    assert_eq!(second.status(), 200, "renewed, not a stale token");
    let second: Value = second.json().await.expect("json");
    assert!(
        second["exp"].as_i64() > first["exp"].as_i64(),
        "a fresh legacy token"
    );
}

#[tokio::test]
async fn a_revocation_at_one_instance_reaches_the_other_gateway_within_the_poll_bound() {
    use crate::cluster::Cluster;
    let tenant = Tenant::start().await;
    let extra = sections(&tenant, "", "", "").replace("127.0.0.1:0", "127.0.0.1:{GATEWAY_PORT}");
    let c = Cluster::start_with(2, &crate::store_suite::pg_url(), &extra, |_| {}).await;
    let code = c.login(0, 0).await;
    let answer: Value = c.redeem(0, &code).await.json().await.expect("json");
    let legacy = answer["access_token"].as_str().expect("token").to_owned();
    let token = tenant.token(&[]);
    for gw in &c.gateway_urls {
        let r = reqwest::Client::new()
            .get(format!("{gw}/orders/a"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("gateway");
        assert_eq!(r.status(), 200, "{gw}");
    }
    // Revoked at instance 0 (the relying party revokes the legacy token).
    let revoked = reqwest::Client::new()
        .post(format!("{}/revoke", c.urls[0]))
        .form(&[
            ("client_id", "refresher"),
            ("client_secret", REFRESHER_SECRET),
            ("token", legacy.as_str()),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    let at = Instant::now();
    // Instance 1's gateway had the token cached; within the bound it stops.
    loop {
        let r = reqwest::Client::new()
            .get(format!("{}/orders/b", c.gateway_urls[1]))
            .bearer_auth(&token)
            .send()
            .await
            .expect("gateway");
        if r.status() == 401 {
            break;
        }
        assert_eq!(r.status(), 200);
        assert!(
            at.elapsed() < Duration::from_millis(200 + 1500),
            "still served {:?} after the revocation",
            at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.finish().await;
}

#[tokio::test]
async fn a_legacy_api_refusing_the_token_makes_the_next_request_look_it_up_again() {
    // An API that no longer takes the token (the legacy side ended the session).
    let upstream = axum::Router::new().route(
        "/{*path}",
        axum::routing::get(|| async { (http::StatusCode::UNAUTHORIZED, "session ended") }),
    );
    let (_server, tenant, app) = gateway_before(upstream, "/ended").await;
    let token = tenant.token(&[]);
    let lookups = |app: &TestApp| {
        app.metrics_text()
            .lines()
            .find(|l| l.starts_with("idp_bridge_gateway_cache_total{outcome=\"lookup\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert_eq!(get(&app, "/ended/x", &token).await.status(), 401);
    assert_eq!(lookups(&app), 1);
    assert_eq!(get(&app, "/ended/y", &token).await.status(), 401);
    assert_eq!(
        lookups(&app),
        2,
        "the refused legacy token was not served again from the cache"
    );
    // An API that takes it keeps it cached.
    assert_eq!(get(&app, "/orders/a", &token).await.status(), 200);
    assert_eq!(get(&app, "/orders/b", &token).await.status(), 200);
    assert_eq!(lookups(&app), 3);
}
