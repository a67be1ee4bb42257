//! The journey's last step: a user migrated through the printed login
//! script, the legacy IdP switched off, and an Auth0 token for
//! `auth0|<legacy subject>` still opens the legacy API — exchanged at
//! `/token` (RFC 8693) and through the gateway — with an LT1 token the
//! bridge mints with the key the API knows. The journey's metrics move on
//! the way.

use serde_json::{Value, json};

use super::{counter, script_login, section};
use crate::support::TestApp;
use crate::token_exchange::{Tenant, exchange, exchanger_client};
use idp_bridge::reference::RunningServer;

/// Switches the reference legacy IdP off: its listener closes, and its
/// port answers nothing any more.
pub async fn stop_legacy_idp(app: &mut TestApp) {
    let nothing = RunningServer::bind("127.0.0.1:0", axum::Router::new())
        .await
        .expect("bind");
    let running = std::mem::replace(&mut app.legacy.idp_server, nothing);
    running.stop().await;
}

/// The bridge with `[migration]`, token exchange for migrated users, the
/// gateway in front of the legacy API, and LT1 minting with its key.
async fn retiring_bridge(tenant: &Tenant) -> TestApp {
    let sections = format!(
        "{}{}",
        section(""),
        crate::gateway::sections(tenant, "migrated_users = true\n", "", "")
    );
    let mut app = TestApp::spawn_edited(&sections, |_| {}, |text| text + &exchanger_client()).await;
    let mint = format!(
        "\n[legacy_token.keys]\ntest = \"{}\"\n[token_exchange.mint_lt1]\nttl_seconds = 600\nscope = \"orders.read\"\n",
        app.legacy.key_hex
    );
    app.config_text.push_str(&mint);
    app.restart().await;
    app
}

#[tokio::test]
async fn a_migrated_user_reaches_the_legacy_api_with_the_legacy_idp_switched_off() {
    let tenant = Tenant::start().await;
    let mut app = retiring_bridge(&tenant).await;
    // Federation still works before the switch-off: a login-page sign-in.
    let _ = app.login(&app.params()).await.code();
    assert_eq!(
        counter(
            &app,
            "idp_bridge_legacy_sign_ins_total{path=\"login_page\",outcome=\"ok\"}"
        ),
        1
    );
    // 1. Bob signs in to Auth0 for the first time: the printed script
    // migrates him, and Auth0 stores him as auth0|<his legacy subject>.
    let migrated = script_login(&app, "bob", "battery-staple").await;
    let user_id = migrated["profile"]["user_id"]
        .as_str()
        .unwrap_or_else(|| panic!("bob migrated: {migrated}"))
        .to_owned();
    assert_eq!(user_id, "u-1002");
    assert_eq!(counter(&app, "idp_bridge_users_migrated_total"), 1);

    // 2. The legacy IdP is switched off.
    stop_legacy_idp(&mut app).await;
    let down = script_login(&app, "carol", "anything").await;
    assert_eq!(
        down["error"]["kind"], "Error",
        "an outage, not a wrong password: {down}"
    );

    // 3. An app holding Auth0's token for him exchanges it (RFC 8693).
    let auth0 = tenant.token(&[("sub", json!(format!("auth0|{user_id}")))]);
    let answer = exchange(&app, &auth0).await;
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
    let body: Value = answer.json().await.expect("json");
    let minted = body["access_token"].as_str().expect("a legacy token");
    let claims = app
        .legacy
        .keys
        .validate(minted, idp_bridge::util::clock::now_unix())
        .expect("an LT1 token under the legacy API's key");
    assert_eq!(claims.sub, "u-1002");
    assert!(
        app.legacy.api_accepts(minted).await,
        "the legacy API accepts it"
    );

    // 4. And through the gateway, with the Auth0 token only.
    let through = reqwest::Client::new()
        .get(format!(
            "{}/orders/list",
            app.gateway_url.as_deref().expect("a gateway")
        ))
        .bearer_auth(&auth0)
        .send()
        .await
        .expect("gateway reachable");
    assert_eq!(
        through.status(),
        200,
        "the legacy API answered through the gateway"
    );

    // A user of a connection the bridge was not told about maps to no
    // legacy subject: nothing is minted for them.
    let stranger = tenant.token(&[("sub", json!("oidc|other-connection|u-1002"))]);
    assert_ne!(exchange(&app, &stranger).await.status(), 200);

    assert!(
        counter(&app, "idp_bridge_legacy_tokens_total{origin=\"minted\"}") >= 2,
        "{}",
        app.metrics_text()
    );
    assert_eq!(
        counter(
            &app,
            "idp_bridge_legacy_sign_ins_total{path=\"migration_script\",outcome=\"unavailable\"}"
        ),
        1
    );
}
