//! `POST /legacy/introspect` over plain HTTP: who may ask, what a live,
//! forged, expired or revoked legacy token answers, and the userinfo
//! source's cache (never served past a revocation). The printed Auth0
//! Action runs against it under Node in `action`.

mod action;
mod printer;

use serde_json::{Value, json};

use crate::support::{AUTH0_CALLBACK, TestApp};

pub const CTE: &str = "cte-action";
/// Needs form-encoding in HTTP Basic (RFC 6749 §2.3.1), as the Action does it.
pub const CTE_SECRET: &str = "cte-secret:with+special/chars&=% and (more)!*'~";
const BYSTANDER: &str = "bystander";
const BYSTANDER_SECRET: &str = "bystander-client-secret-0123";

/// The Action's client (allowed) and one that is not.
pub fn clients() -> String {
    format!(
        "\n[[clients]]\nid = \"{CTE}\"\nsecret = \"{CTE_SECRET}\"\nredirect_uris = [\"{AUTH0_CALLBACK}\"]\nvalidate_legacy_tokens = true\n\n[[clients]]\nid = \"{BYSTANDER}\"\nsecret = \"{BYSTANDER_SECRET}\"\nredirect_uris = [\"{AUTH0_CALLBACK}\"]\n"
    )
}

/// A bridge validating LT1 tokens with the legacy stack's key.
pub async fn lt1_bridge() -> TestApp {
    let section = "[legacy_validation]\nsource = \"lt1\"\nclaims = [\"email\", \"name\"]\n\n[legacy_token.keys]\ntest = \"{LT1_KEY_HEX}\"\n";
    TestApp::spawn_edited(section, |_| {}, |t| t + &clients()).await
}

/// Asks `/legacy/introspect` as `client` about `token` (absent: no token).
pub async fn ask(app: &TestApp, client: (&str, &str), token: Option<&str>) -> (u16, Value) {
    let mut form = vec![];
    if let Some(t) = token {
        form.push(("token", t));
    }
    let answer = reqwest::Client::new()
        .post(format!("{}/legacy/introspect", app.issuer))
        .basic_auth(form_encoded(client.0), Some(form_encoded(client.1)))
        .form(&form)
        .send()
        .await
        .expect("send");
    let status = answer.status().as_u16();
    assert_eq!(
        answer
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
fn form_encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// alice's token from the reference legacy IdP's password API.
pub async fn alice_token(app: &TestApp) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/login", app.legacy.idp_url()))
        .json(&json!({"username": "alice", "password": "correct-horse"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

/// An LT1 token for `sub` under the stack's key, `exp` from now.
pub fn lt1_for(app: &TestApp, sub: &str, iat_offset: i64, exp_offset: i64) -> String {
    let now = idp_bridge::util::clock::now_unix();
    app.legacy
        .keys
        .mint(&idp_bridge::util::legacy_token::Lt1Claims {
            sub: sub.into(),
            iat: now + iat_offset,
            exp: now + exp_offset,
            scope: Some("orders.read".into()),
            attributes: vec![("email".into(), format!("{sub}@example.com"))],
        })
        .expect("mint")
}

#[tokio::test]
async fn a_live_lt1_token_answers_whose_it_is() {
    let app = lt1_bridge().await;
    let token = alice_token(&app).await;
    let (status, body) = ask(&app, (CTE, CTE_SECRET), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], "u-1001");
    assert!(body["exp"].as_i64().is_some() && body["iat"].as_i64().is_some());
    assert_eq!(body["email"], "alice@example.com");
    let minted = lt1_for(&app, "u-1002", 0, 600);
    let (_, body) = ask(&app, (CTE, CTE_SECRET), Some(&minted)).await;
    assert_eq!(
        body,
        json!({"active": true, "sub": "u-1002", "exp": body["exp"], "iat": body["iat"], "scope": "orders.read", "email": "u-1002@example.com"})
    );
}

#[tokio::test]
async fn anything_not_live_is_inactive_and_nothing_more() {
    let app = lt1_bridge().await;
    let live = lt1_for(&app, "u-1001", 0, 600);
    let mut forged = live.clone();
    let last = forged.pop().expect("char");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let other_key = idp_bridge::util::legacy_token::Lt1Keys::new(
        vec![("test".into(), idp_bridge::util::secret::Key32::new([7; 32]))],
        None,
    )
    .expect("keys")
    .mint(&idp_bridge::util::legacy_token::Lt1Claims {
        sub: "u-1001".into(),
        iat: idp_bridge::util::clock::now_unix(),
        exp: idp_bridge::util::clock::now_unix() + 600,
        scope: None,
        attributes: vec![],
    })
    .expect("mint");
    let unknown_kid = live.replacen("LT1.test.", "LT1.other.", 1);
    let expired = lt1_for(&app, "u-1001", -7200, -3600);
    let future = lt1_for(&app, "u-1001", 3600, 7200);
    let too_long = format!("LT1.test.{}", "A".repeat(9000));
    for (what, token) in [
        ("forged", forged.as_str()),
        ("another key", &other_key),
        ("unknown kid", &unknown_kid),
        ("expired", &expired),
        ("issued in the future", &future),
        ("garbage", "not-a-token"),
        ("a JWT", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1LTEwMDEifQ."),
        ("too long", &too_long),
    ] {
        let (status, body) = ask(&app, (CTE, CTE_SECRET), Some(token)).await;
        assert_eq!((status, body), (200, json!({"active": false})), "{what}");
    }
}

#[tokio::test]
async fn only_an_authenticated_allowed_client_may_ask() {
    let app = lt1_bridge().await;
    let token = lt1_for(&app, "u-1001", 0, 600);
    let (status, body) = ask(&app, (CTE, "wrong-secret-0123456789"), Some(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = ask(&app, ("nobody", CTE_SECRET), Some(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, body) = ask(&app, (BYSTANDER, BYSTANDER_SECRET), Some(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "a client without validate_legacy_tokens"
    );
    assert!(body.get("active").is_none(), "says nothing about the token");
    let (status, body) = ask(&app, (CTE, CTE_SECRET), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = ask(&app, (CTE, CTE_SECRET), Some("")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "an empty token is no token (RFC 6749 §3.1)"
    );
}

#[tokio::test]
async fn a_revoked_user_and_a_revoked_grant_are_inactive_everywhere() {
    let app = lt1_bridge().await;
    let before = lt1_for(&app, "u-1001", -5, 600);
    let bob = lt1_for(&app, "u-1002", -5, 600);
    assert_eq!(
        ask(&app, (CTE, CTE_SECRET), Some(&before)).await.1["active"],
        true
    );
    app.store()
        .revoke_user("u-1001", idp_bridge::util::clock::now_unix())
        .await
        .expect("revoke");
    assert_eq!(
        ask(&app, (CTE, CTE_SECRET), Some(&before)).await.1,
        json!({"active": false}),
        "a token the legacy IdP would still honour, of a user the bridge revoked"
    );
    assert_eq!(
        ask(&app, (CTE, CTE_SECRET), Some(&bob)).await.1["active"],
        true,
        "only that user"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = lt1_for(&app, "u-1001", 1, 600);
    assert_eq!(
        ask(&app, (CTE, CTE_SECRET), Some(&after)).await.1["active"],
        true,
        "a token issued after the revocation (a new sign-in at the legacy IdP)"
    );
}

/// A bridge validating through the reference legacy IdP's userinfo
/// (`/api/v1/me`, its user id in `id`), answers kept `cache_seconds`.
async fn userinfo_bridge() -> TestApp {
    let section = "[legacy_validation]\nsource = \"userinfo\"\nurl = \"{LEGACY_IDP}/api/v1/me\"\nsubject_field = \"id\"\ncache_seconds = 60\nnegative_cache_seconds = 0\n";
    TestApp::spawn_edited(section, |_| {}, |t| t + &clients()).await
}

#[tokio::test]
async fn the_userinfo_source_caches_answers_but_never_past_a_revocation() {
    let app = userinfo_bridge().await;
    let token = alice_token(&app).await;
    let (status, body) = ask(&app, (CTE, CTE_SECRET), Some(&token)).await;
    assert_eq!(
        (status, body["active"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(body["sub"], "u-1001");
    assert_eq!(body["email"], "alice@example.com");
    // The legacy IdP goes down: the cached answer still serves...
    let faults = reqwest::Client::new()
        .put(format!("{}/_control/faults", app.legacy.idp_url()))
        .json(&json!({"latency_ms": 0, "mode": "status", "value": 503}))
        .send()
        .await
        .expect("control");
    assert!(faults.status().is_success());
    assert_eq!(
        ask(&app, (CTE, CTE_SECRET), Some(&token)).await.1["active"],
        true
    );
    // ...a token it has not seen cannot be told: 503, not "inactive".
    let other = lt1_for(&app, "u-1002", 0, 600);
    let (status, body) = ask(&app, (CTE, CTE_SECRET), Some(&other)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    // ...and a revocation wins over the cache at once.
    app.store()
        .revoke_user("u-1001", idp_bridge::util::clock::now_unix())
        .await
        .expect("revoke");
    assert_eq!(
        ask(&app, (CTE, CTE_SECRET), Some(&token)).await.1,
        json!({"active": false})
    );
}

#[tokio::test]
async fn the_userinfo_source_answers_inactive_for_a_token_the_legacy_idp_refuses() {
    let app = userinfo_bridge().await;
    let (status, body) = ask(&app, (CTE, CTE_SECRET), Some("LT1.test.bogus")).await;
    assert_eq!((status, body), (200, json!({"active": false})));
}

#[tokio::test]
async fn a_token_with_a_control_character_is_inactive_and_never_sent_on() {
    let app = userinfo_bridge().await;
    for token in ["abc\ndef", "abc\rdef", "abc\0def", "\u{7f}"] {
        let (status, body) = ask(&app, (CTE, CTE_SECRET), Some(token)).await;
        assert_eq!((status, body), (200, json!({"active": false})), "{token:?}");
    }
}

/// A bridge whose "legacy IdP" introspection endpoint is the bridge's own
/// `/introspect` (RFC 7662), asked as `auth0-oidc`, whose secret needs
/// form-encoding in HTTP Basic.
async fn introspection_bridge(secret: &str) -> TestApp {
    let secret = secret.to_owned();
    TestApp::spawn_edited("", |_| {}, move |t| {
        let issuer = t
            .lines()
            .find_map(|l| l.strip_prefix("issuer = "))
            .expect("issuer")
            .trim_matches('"')
            .to_owned();
        format!(
            "{t}{}\n[legacy_validation]\nsource = \"introspection\"\nurl = \"{issuer}/introspect\"\nclient_id = \"auth0-oidc\"\nclient_secret = {}\n",
            clients(),
            serde_json::Value::String(secret)
        )
    })
    .await
}

#[tokio::test]
async fn the_introspection_source_asks_rfc_7662_and_the_bridge_revocations_win() {
    let app = introspection_bridge(crate::support::OIDC_SECRET).await;
    let code = app.login(&app.params()).await.code();
    let redeemed: Value = app.redeem(&code).await.json().await.expect("json");
    let token = redeemed["access_token"].as_str().expect("token").to_owned();
    let (status, body) = ask(&app, (CTE, CTE_SECRET), Some(&token)).await;
    assert_eq!(
        (status, body["active"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(body["sub"], "u-1001");
    assert!(body["exp"].as_i64().is_some());
    let unknown = lt1_for(&app, "u-1002", 0, 600);
    assert_eq!(
        ask(&app, (CTE, CTE_SECRET), Some(&unknown)).await.1,
        json!({"active": false}),
        "the legacy IdP's active: false"
    );
    // Revoked at the bridge: inactive at once, the cached "live" notwithstanding.
    let revoked = reqwest::Client::new()
        .post(format!("{}/revoke", app.issuer))
        .form(&[
            ("client_id", "auth0-oidc"),
            ("client_secret", crate::support::OIDC_SECRET),
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        ask(&app, (CTE, CTE_SECRET), Some(&token)).await.1,
        json!({"active": false})
    );
}

#[tokio::test]
async fn wrong_credentials_at_the_legacy_introspection_endpoint_are_503_not_inactive() {
    let app = introspection_bridge("not-the-secret-of-auth0-oidc").await;
    let token = lt1_for(&app, "u-1001", 0, 600);
    let (status, body) = ask(&app, (CTE, CTE_SECRET), Some(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
}

/// A userinfo endpoint answering `body` to every call, on port 0.
async fn userinfo_answering(body: Value) -> String {
    let router = axum::Router::new().route(
        "/me",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/me", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// The legacy IdP's numbers are input too: an `exp` at the far end of the
/// range must not overflow the cache's deadline arithmetic (a panic in the
/// handler: the connection drops, the Action sees an outage). A token that
/// expired then is simply not live.
#[tokio::test]
async fn an_absurd_exp_from_the_legacy_idp_is_inactive_not_a_panic() {
    for exp in [i64::MIN, i64::MIN + 1] {
        let url = userinfo_answering(json!({"id": "u-1001", "exp": exp})).await;
        let section = format!(
            "[legacy_validation]\nsource = \"userinfo\"\nurl = \"{url}\"\nsubject_field = \"id\"\ncache_seconds = 60\n"
        );
        let app = TestApp::spawn_edited(&section, |_| {}, |t| t + &clients()).await;
        let (status, body) = ask(&app, (CTE, CTE_SECRET), Some("some-legacy-token")).await;
        assert_eq!((status, body), (200, json!({"active": false})), "exp {exp}");
    }
}
