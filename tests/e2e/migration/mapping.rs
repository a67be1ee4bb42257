//! The mapping of Auth0 database users (`auth0|<id>`) to legacy subjects,
//! as an attacker would try it: Auth0's `sub` for a database user does not
//! name its connection, so without `migrated_users` no `auth0|` user maps
//! (a user of another database connection whose id happens to be a legacy
//! subject reaches nothing), and with it an empty or hostile id is refused
//! before any token is minted — at `/token` and at the gateway alike.

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::token_exchange::{Tenant, exchange, exchanger_client, refusal};

/// Token exchange and the gateway for `auth0|` users as `exchange_extra`
/// says, minting LT1 for users without a grant.
async fn minting_bridge(tenant: &Tenant, exchange_extra: &str) -> TestApp {
    let mut app = TestApp::spawn_edited(
        &crate::gateway::sections(tenant, exchange_extra, "", ""),
        |_| {},
        |text| text + &exchanger_client(),
    )
    .await;
    let mint = format!(
        "\n[legacy_token.keys]\ntest = \"{}\"\n[token_exchange.mint_lt1]\nttl_seconds = 600\n",
        app.legacy.key_hex
    );
    app.config_text.push_str(&mint);
    app.restart().await;
    app
}

async fn through_gateway(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "{}/orders/list",
            app.gateway_url.as_deref().expect("a gateway")
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("gateway reachable")
        .status()
        .as_u16()
}

#[tokio::test]
async fn without_migrated_users_no_database_user_maps_to_a_legacy_subject() {
    let tenant = Tenant::start().await;
    let app = minting_bridge(&tenant, "").await;
    // The federation connection's user is minted for: the bridge mints.
    let federated = tenant.token(&[("sub", json!("oidc|legacy|u-1001"))]);
    assert_eq!(exchange(&app, &federated).await.status(), 200);
    // A database user whose id is a legacy subject: not without the setting.
    let database = tenant.token(&[("sub", json!("auth0|u-1001"))]);
    let (status, error) = refusal(exchange(&app, &database).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
    assert_eq!(through_gateway(&app, &database).await, 401);
    assert_eq!(through_gateway(&app, &federated).await, 200);
}

#[tokio::test]
async fn with_migrated_users_an_empty_or_hostile_id_is_refused_before_minting() {
    let tenant = Tenant::start().await;
    let app = minting_bridge(&tenant, "migrated_users = true\n").await;
    let migrated = tenant.token(&[("sub", json!("auth0|u-1002"))]);
    let answer = exchange(&app, &migrated).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("json");
    let minted = body["access_token"].as_str().expect("a legacy token");
    let claims = app
        .legacy
        .keys
        .validate(minted, idp_bridge::util::clock::now_unix())
        .expect("LT1");
    assert_eq!(claims.sub, "u-1002", "the id after `auth0|`, whole");
    assert_eq!(through_gateway(&app, &migrated).await, 200);

    let long = format!("auth0|{}", "a".repeat(7000));
    for (what, sub) in [
        ("empty", "auth0|"),
        ("newline", "auth0|u-1002\nevent=\"user_unlocked\""),
        ("NUL", "auth0|u-1002\u{0}"),
        ("bidi override", "auth0|\u{202E}2001-u"),
        ("trailing space", "auth0|u-1002 "),
        ("7000 characters", long.as_str()),
    ] {
        let token = tenant.token(&[("sub", json!(sub))]);
        let (status, error) = refusal(exchange(&app, &token).await).await;
        assert!(
            status == 400 && (error == "invalid_grant" || error == "invalid_request"),
            "{what}: {status} {error}"
        );
        assert_eq!(through_gateway(&app, &token).await, 401, "{what}");
    }
    // Another strategy's user is not a database user.
    let social = tenant.token(&[("sub", json!("google-oauth2|u-1002"))]);
    assert_ne!(exchange(&app, &social).await.status(), 200);
    assert_eq!(through_gateway(&app, &social).await, 401);
}
