//! Renewals never lose the upstream grant. The reference legacy IdP rotates
//! its refresh tokens and, as real IdPs do, revokes the whole grant when a
//! spent one comes back; a renewal must therefore store the rotated refresh
//! token whatever fails after the legacy IdP's token call. Checked through
//! the bridge's refresh grant and through token exchange while userinfo
//! fails (and through a password adapter, `oauth2-password`, the same), and
//! with the docs' minimal `oidc` example (an ID token with only `sub`, a
//! userinfo without `email_verified`), which must renew again and again.

use idp_bridge::reference::legacy_idp::{FaultMode, Faults, LegacyIdpOptions, UserinfoFault};
use idp_bridge::reference::legacy_oidc::IdTokenFault;
use serde_json::Value;

use crate::redirect_upstream::{sign_in, spawn_full};
use crate::support::{AUTH0_CALLBACK, REFRESHER_SECRET, TestApp, jwt_claims};
use crate::token_exchange::{Tenant, exchange, exchanger_client};

fn rotating(o: &mut LegacyIdpOptions) {
    o.rotate_refresh_tokens = true;
}

/// The `refresher` client's authorization request (`offline_access`).
fn refresher_params() -> Vec<(String, String)> {
    vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), "refresher".into()),
        ("redirect_uri".into(), AUTH0_CALLBACK.into()),
        ("scope".into(), "openid profile email offline_access".into()),
        ("state".into(), "st-renew".into()),
    ]
}

/// Redeems a code for the `refresher` client; the bridge's token answer.
async fn redeem(app: &TestApp, code: &str) -> Value {
    let answer = app.redeem_as("refresher", REFRESHER_SECRET, code).await;
    assert_eq!(answer.status(), 200, "code redeemed");
    answer.json().await.expect("json")
}

/// Alice signs in on the legacy IdP's page for the `refresher` client; the
/// bridge's token answer.
async fn refresher_sign_in(app: &TestApp) -> Value {
    redeem(app, &sign_in(app, &refresher_params()).await.code()).await
}

/// `grant_type=refresh_token` for the `refresher` client.
async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", "refresher"),
        ("client_secret", REFRESHER_SECRET),
    ])
    .await
}

/// A refresh that must succeed: its token answer.
async fn refreshed(app: &TestApp, token: &str, what: &str) -> Value {
    let answer = refresh(app, token).await;
    let status = answer.status();
    let body: Value = answer.json().await.expect("json");
    assert_eq!(status, 200, "{what}: {body}");
    body
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

/// The legacy refresh token the bridge holds for alice's newest grant,
/// opened with the data directory's storage key.
async fn stored_legacy_refresh(app: &TestApp) -> String {
    let key =
        idp_bridge::app::open_storage::storage_key_at(app.data_dir.path(), None).expect("key");
    let grant = app
        .store()
        .newest_grant("u-1001")
        .await
        .expect("store")
        .expect("alice's grant");
    idp_bridge::domain::sealed_grant::refresh_token(&key, &grant)
        .expect("a sealed legacy refresh token that opens")
        .secret()
        .to_owned()
}

/// The bridge holds the refresh token the legacy IdP holds for alice, and
/// it is not `before` (it was rotated).
async fn holds_the_rotated_refresh_token(app: &TestApp, before: &str) -> String {
    let stored = stored_legacy_refresh(app).await;
    assert_ne!(stored, before, "the legacy IdP rotated the refresh token");
    assert_eq!(
        app.legacy.idp.live_refresh_tokens("alice"),
        vec![stored.clone()],
        "the bridge stored the rotated refresh token, the only live one"
    );
    stored
}

#[tokio::test]
async fn a_refresh_stores_the_rotated_legacy_refresh_token_when_userinfo_fails() {
    let app = spawn_full("oidc", "refresh_profile = true", "", "", rotating).await;
    let tokens = refresher_sign_in(&app).await;
    let signed_in = stored_legacy_refresh(&app).await;
    let idp = &app.legacy.idp;
    idp.set_userinfo_fault(UserinfoFault::ServerError);
    let reads = idp.userinfo_reads();
    let first = refreshed(&app, text(&tokens, "refresh_token"), "userinfo down").await;
    assert!(
        idp.userinfo_reads() > reads,
        "userinfo was asked, and failed"
    );
    let access = text(&first, "access_token");
    assert_ne!(access, text(&tokens, "access_token"), "a new legacy token");
    assert!(app.legacy.api_accepts(access).await);
    let id = jwt_claims(text(&first, "id_token"));
    assert_eq!(id["sub"], "u-1001");
    assert_eq!(id["email"], "alice@example.com", "the last known claims");
    let held = holds_the_rotated_refresh_token(&app, &signed_in).await;

    // An outage of the token call itself: 503, and nothing is burned.
    idp.set_faults(Faults {
        latency_ms: 0,
        mode: FaultMode::Status(503),
    });
    let down = refresh(&app, text(&first, "refresh_token")).await;
    assert_eq!(down.status(), 503);
    let body: Value = down.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    idp.set_faults(Faults::default());
    assert_eq!(stored_legacy_refresh(&app).await, held, "nothing changed");

    // Later, the grant still renews: it was not burned upstream.
    let second = refreshed(&app, text(&first, "refresh_token"), "the next renewal").await;
    assert_ne!(text(&second, "access_token"), access);
    assert!(app.legacy.api_accepts(text(&second, "access_token")).await);
    holds_the_rotated_refresh_token(&app, &held).await;
    assert_eq!(idp.refresh_reuses(), 0, "no spent refresh token came back");
}

#[tokio::test]
async fn a_token_exchange_renewal_stores_the_rotated_legacy_refresh_token_when_userinfo_fails() {
    let tenant = Tenant::start().await;
    // Legacy tokens live 60 s, renewed when less than 300 s is left: every
    // exchange renews.
    let top = format!(
        "[token_exchange]\nissuers = [\"{}\"]\nconnections = [\"legacy\"]\nrenew_skew_seconds = 300\n",
        tenant.issuer
    );
    let app = spawn_full(
        "oidc",
        "refresh_profile = true",
        &top,
        &exchanger_client(),
        |o| {
            rotating(o);
            o.token_ttl = 60;
        },
    )
    .await;
    let back = sign_in(&app, &app.params()).await;
    let tokens: Value = app.redeem(&back.code()).await.json().await.expect("json");
    let signed_in = stored_legacy_refresh(&app).await;
    let idp = &app.legacy.idp;
    idp.set_userinfo_fault(UserinfoFault::ServerError);
    let (reads, renewals) = (idp.userinfo_reads(), idp.renewals());
    let answer = exchange(&app, &tenant.token(&[])).await;
    let status = answer.status();
    let first: Value = answer.json().await.expect("json");
    assert_eq!(status, 200, "the renewal succeeds: {first}");
    assert_eq!(idp.renewals(), renewals + 1, "renewed at the legacy IdP");
    assert!(
        idp.userinfo_reads() > reads,
        "userinfo was asked, and failed"
    );
    let access = text(&first, "access_token");
    assert_ne!(access, text(&tokens, "access_token"), "the renewed token");
    assert!(app.legacy.api_accepts(access).await);
    let held = holds_the_rotated_refresh_token(&app, &signed_in).await;

    // The next exchange renews again, from the rotated refresh token.
    let answer = exchange(&app, &tenant.token(&[])).await;
    let status = answer.status();
    let second: Value = answer.json().await.expect("json");
    assert_eq!(status, 200, "the next renewal: {second}");
    assert_eq!(idp.renewals(), renewals + 2);
    assert_ne!(text(&second, "access_token"), access);
    assert!(app.legacy.api_accepts(text(&second, "access_token")).await);
    holds_the_rotated_refresh_token(&app, &held).await;
    assert_eq!(idp.refresh_reuses(), 0, "no spent refresh token came back");
}

/// The minimal `oidc` example of `docs/upstream.md` against a legacy IdP
/// whose ID token holds only `sub` and whose userinfo has an email but no
/// `email_verified`: as documented (profile kept from the sign-in), with
/// `refresh_profile` (userinfo read, the unverifiable email not taken), and
/// with `refresh_profile` and `insecure_skip_email_verified` (the email
/// taken as verified). Each renews three times in a row.
#[tokio::test]
async fn the_minimal_oidc_example_renews_again_and_again() {
    for (extra, userinfo_read, email) in [
        ("", false, None),
        ("refresh_profile = true", true, None),
        (
            "refresh_profile = true\ninsecure_skip_email_verified = true",
            true,
            Some("alice@example.com"),
        ),
    ] {
        let app = spawn_full("oidc", extra, "", "", rotating).await;
        let idp = &app.legacy.idp;
        idp.login_page().set_id_token_fault(IdTokenFault::SubOnly);
        idp.set_userinfo_fault(UserinfoFault::NoEmailVerified);
        let tokens = refresher_sign_in(&app).await;
        let id = jwt_claims(text(&tokens, "id_token"));
        assert_eq!(id["sub"], "u-1001");
        assert_eq!(id.get("email"), None, "[{extra}] the ID token had none");
        let reads = idp.userinfo_reads();
        let mut refresh_token = text(&tokens, "refresh_token").to_owned();
        let mut held = stored_legacy_refresh(&app).await;
        for round in 1..=3 {
            let what = format!("[{extra}] renewal {round}");
            let answer = refreshed(&app, &refresh_token, &what).await;
            assert!(app.legacy.api_accepts(text(&answer, "access_token")).await);
            let id = jwt_claims(text(&answer, "id_token"));
            assert_eq!(id["sub"], "u-1001", "{what}");
            assert_eq!(id["email"].as_str(), email, "{what}: {id}");
            held = holds_the_rotated_refresh_token(&app, &held).await;
            text(&answer, "refresh_token").clone_into(&mut refresh_token);
        }
        assert_eq!(
            idp.userinfo_reads() > reads,
            userinfo_read,
            "[{extra}] userinfo read at renewal"
        );
        assert_eq!(idp.refresh_reuses(), 0);
    }
}

#[tokio::test]
async fn a_password_adapter_renewal_stores_the_rotated_refresh_token_when_userinfo_fails() {
    let app = TestApp::spawn_edited("", rotating, |text| {
        let at = text.find("[upstream]\n").expect("an [upstream] section");
        let idp = text[at..]
            .split("url = \"")
            .nth(1)
            .and_then(|rest| rest.split("/api/v1/login").next())
            .expect("the simulator's URL")
            .to_owned();
        format!(
            "{}[upstream]\nadapter = \"oauth2-password\"\n[upstream.oauth2-password]\ntoken_url = \"{idp}/oauth/token\"\nuserinfo_url = \"{idp}/oauth/userinfo\"\nclient_id = \"idp-bridge\"\nclient_secret = \"legacy-client-secret\"\nscopes = [\"openid\"]\n",
            &text[..at]
        )
    })
    .await;
    let tokens = redeem(&app, &app.login(&refresher_params()).await.code()).await;
    let mut held = stored_legacy_refresh(&app).await;
    let idp = &app.legacy.idp;
    idp.set_userinfo_fault(UserinfoFault::ServerError);
    let mut answer = tokens;
    for round in 1..=2 {
        let before = text(&answer, "access_token").to_owned();
        let what = format!("renewal {round}, userinfo down");
        answer = refreshed(&app, text(&answer, "refresh_token"), &what).await;
        assert_ne!(text(&answer, "access_token"), before, "{what}");
        assert!(app.legacy.api_accepts(text(&answer, "access_token")).await);
        assert_eq!(jwt_claims(text(&answer, "id_token"))["sub"], "u-1001");
        held = holds_the_rotated_refresh_token(&app, &held).await;
    }
    assert_eq!(idp.refresh_reuses(), 0, "no spent refresh token came back");
}
