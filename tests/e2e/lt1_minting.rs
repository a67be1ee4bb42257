//! Minting LT1 that a company can retire its legacy IdP on (issue 31 item
//! 5): a legacy id that cannot be carried is refused before any token is
//! minted (never a 500), `legacy-token inspect --config` reads a whole
//! bridge configuration, and the configuration refuses what would mint
//! the wrong thing (reserved claims, `mint_upstream` without a way to
//! mint, both ways at once).

use serde_json::{Value, json};

use crate::support::TestApp;
use crate::token_exchange::{Tenant, bridge, exchange};

const MINT: &str = "\n[legacy_token.keys]\ntest = \"{LT1_KEY_HEX}\"\n";

/// A bridge minting LT1 for users without a grant.
async fn minting(tenant: &Tenant) -> TestApp {
    let section = format!(
        "[token_exchange]\nissuers = [\"{}\"]\nconnections = [\"legacy\"]\njwks_min_refresh_seconds = 1\n\n[token_exchange.mint_lt1]\nttl_seconds = 600\nclaims = {{ realm = \"corp\" }}\n{MINT}",
        tenant.issuer
    );
    TestApp::spawn_edited(
        &section,
        |_| {},
        |t| t + &crate::token_exchange::exchanger_client(),
    )
    .await
}

#[tokio::test]
async fn a_legacy_id_that_cannot_be_carried_is_refused_before_minting() {
    let tenant = Tenant::start().await;
    let app = minting(&tenant).await;
    let ok = exchange(&app, &tenant.token(&[("sub", json!("oidc|legacy|u-1002"))])).await;
    assert_eq!(ok.status(), 200, "an ordinary id is minted for");
    let long = "a".repeat(7000);
    for (what, id) in [
        ("7000 characters", long.as_str()),
        ("NUL", "u-1002\u{0}"),
        (
            "newline",
            "u-1002\n2026-01-01T00:00:00Z INFO audit: event=\"user_unlocked\"",
        ),
        ("carriage return", "u-1002\r"),
        ("bidi override", "\u{202E}2001-u"),
        ("trailing space", "u-1002 "),
        ("leading space", " u-1002"),
    ] {
        let answer = exchange(
            &app,
            &tenant.token(&[("sub", json!(format!("oidc|legacy|{id}")))]),
        )
        .await;
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.expect("json");
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{what}: {body}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("legacy id")),
            "{what}: {body}"
        );
    }
    let metrics = app.metrics_text();
    assert!(
        metrics.contains("reason=\"subject_too_long\"")
            && metrics.contains("reason=\"subject_control_character\"")
            && metrics.contains("reason=\"subject_padded\""),
        "each refusal counted by its class"
    );
}

#[tokio::test]
async fn inspect_reads_the_keys_of_a_whole_bridge_configuration() {
    let tenant = Tenant::start().await;
    let app = minting(&tenant).await;
    let token = app
        .legacy
        .keys
        .mint(&idp_bridge::util::legacy_token::Lt1Claims {
            sub: "u-1001".into(),
            iat: idp_bridge::util::clock::now_unix(),
            exp: idp_bridge::util::clock::now_unix() + 600,
            scope: None,
            attributes: vec![],
        })
        .expect("mint");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
        .args(["legacy-token", "inspect", "--config"])
        .arg(app.config_path())
        .arg(&token)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(shown["claims"]["sub"], "u-1001");
}

/// Validates `text` as `check-config` and `serve` do.
fn problems(text: &str) -> String {
    let file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(file.path(), text).expect("write");
    match idp_bridge::domain::config::Settings::load(file.path()) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn the_configuration_refuses_what_would_mint_the_wrong_thing() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let text = app
        .config_text
        .replace("{LT1_KEY_HEX}", &app.legacy.key_hex);
    let keys = format!("\n[legacy_token.keys]\ntest = \"{}\"\n", app.legacy.key_hex);
    let with_exchange = |extra: &str| {
        text.replacen(
            "[token_exchange]\n",
            &format!("[token_exchange]\n{extra}"),
            1,
        )
    };
    let found = problems(&format!(
        "{}\n[token_exchange.mint_lt1]\nclaims = {{ sub = \"u-admin\", exp = \"99999999999\" }}\n{keys}",
        with_exchange("")
    ));
    assert!(
        found.contains("mint_lt1.claims.sub: reserved")
            && found.contains("mint_lt1.claims.exp: reserved"),
        "{found}"
    );
    let found = problems(&with_exchange("mint_upstream = true\n"));
    assert!(found.contains("[upstream.http.mint]"), "{found}");
    let found = problems(&format!(
        "{}\n[token_exchange.mint_lt1]\nttl_seconds = 600\n{keys}",
        with_exchange("mint_upstream = true\n")
    ));
    assert!(found.contains("exclusive"), "{found}");
    assert_eq!(problems(&text), "", "the unedited file is valid");
}

#[tokio::test]
async fn the_gateway_mints_and_refuses_an_id_it_cannot_carry_with_401() {
    let tenant = Tenant::start().await;
    let mint = "\n[token_exchange.mint_lt1]\nttl_seconds = 600\n";
    let text = format!("{}{MINT}", crate::gateway::sections(&tenant, "", "", "")).replacen(
        "[gateway]\n",
        &format!("{mint}\n[gateway]\n"),
        1,
    );
    let app = TestApp::spawn_edited(&text, |_| {}, |t| t).await;
    let get = |sub: &str| {
        let token = tenant.token(&[("sub", json!(format!("oidc|legacy|{sub}")))]);
        let url = format!(
            "{}/orders/c",
            app.gateway_url.as_deref().expect("a gateway")
        );
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("send")
        }
    };
    let minted = get("u-1002").await;
    assert_eq!(
        minted.status(),
        200,
        "bob never signed in: the gateway minted"
    );
    let seen: Value = minted.json().await.expect("json");
    assert_eq!(
        seen["sub"], "u-1002",
        "the legacy API saw the minted token's user"
    );
    for id in ["u-1002 ", "u-1002\u{202E}", &"b".repeat(7000)] {
        let refused = get(id).await;
        assert_eq!(refused.status(), 401, "{id:?}");
        let challenge = refused
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }
}
