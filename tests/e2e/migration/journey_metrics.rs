//! The phase-3 metric: legacy tokens handed to token exchange, by origin —
//! `grant` and `renewed` passed through from a sign-in at the legacy IdP,
//! `minted` the bridge's own — each counted once per token handed out.

use std::time::Duration;

use serde_json::json;

use super::counter;
use crate::support::TestApp;
use crate::token_exchange::{Tenant, exchange, exchanger_client, signed_in};

fn handed_out(app: &TestApp, origin: &str) -> u64 {
    counter(
        app,
        &format!("idp_bridge_legacy_tokens_total{{origin=\"{origin}\"}}"),
    )
}

#[tokio::test]
async fn tokens_passed_through_and_minted_are_counted_apart() {
    let tenant = Tenant::start().await;
    let section = format!(
        "[token_exchange]\nissuers = [\"{}\"]\nconnections = [\"legacy\"]\nrenew_skew_seconds = 0\n",
        tenant.issuer
    );
    let mut app =
        TestApp::spawn_edited(&section, |o| o.token_ttl = 1, |t| t + &exchanger_client()).await;
    let mint = format!(
        "\n[legacy_token.keys]\ntest = \"{}\"\n[token_exchange.mint_lt1]\nttl_seconds = 600\n",
        app.legacy.key_hex
    );
    app.config_text += &mint;
    app.restart().await;

    let alice = tenant.token(&[("sub", json!("oidc|legacy|u-1001"))]);
    let bob = tenant.token(&[("sub", json!("oidc|legacy|u-1002"))]);
    let _ = signed_in(&app).await;
    assert_eq!(exchange(&app, &alice).await.status(), 200);
    assert_eq!(
        (
            handed_out(&app, "grant"),
            handed_out(&app, "renewed"),
            handed_out(&app, "minted")
        ),
        (1, 0, 0),
        "alice's own token, passed through"
    );
    assert_eq!(exchange(&app, &bob).await.status(), 200);
    assert_eq!(handed_out(&app, "minted"), 1, "bob never signed in");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(exchange(&app, &alice).await.status(), 200);
    assert_eq!(
        (
            handed_out(&app, "grant"),
            handed_out(&app, "renewed"),
            handed_out(&app, "minted")
        ),
        (1, 1, 1),
        "alice's expired token renewed at the legacy IdP: {}",
        app.metrics_text()
    );
}
