//! Token exchange (RFC 8693) against a test Auth0 tenant: a JWKS on port 0,
//! access tokens signed with the tenant's test keys, and a key rotation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use idp_bridge::reference::RunningServer;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

use crate::support::TestApp;

pub const AUDIENCE: &str = "https://orders.example.com";
pub const EXCHANGER_SECRET: &str = "exchanger-client-secret-0123456";
pub const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// One signing key of the test tenant.
struct TenantKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
    public_der: Vec<u8>,
}

fn tenant_key(kid: &str) -> TenantKey {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("rsa");
    let b64 = |b: &[u8]| idp_bridge::util::crypto::b64url(b);
    let public = key.to_public_key();
    let der = key.to_pkcs1_der().expect("der");
    TenantKey {
        kid: kid.into(),
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                    "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())}),
        public_der: rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&public)
            .expect("public der")
            .as_bytes()
            .to_vec(),
    }
}

/// A test Auth0 tenant: its issuer (with the trailing slash) and JWKS.
pub struct Tenant {
    pub issuer: String,
    published: Arc<Mutex<Vec<Value>>>,
    keys: Vec<TenantKey>,
    _server: RunningServer,
}

impl Tenant {
    pub async fn start() -> Self {
        let first = tenant_key("k1");
        let published = Arc::new(Mutex::new(vec![first.jwk.clone()]));
        let jwks = published.clone();
        let router = axum::Router::new().route(
            "/.well-known/jwks.json",
            get(move || {
                let keys = jwks.lock().expect("lock").clone();
                async move { axum::Json(json!({ "keys": keys })) }
            }),
        );
        let server = RunningServer::bind("127.0.0.1:0", router)
            .await
            .expect("tenant");
        Self {
            issuer: format!("{}/", server.url()),
            published,
            keys: vec![first],
            _server: server,
        }
    }

    /// Auth0 rotates: a new key is published and signs from now on (beside
    /// keys of kinds the bridge cannot use, which must not hide it).
    fn rotate(&mut self, kid: &str) {
        let key = tenant_key(kid);
        let mut published = self.published.lock().expect("lock");
        published.push(
            json!({"kty": "RSA", "use": "enc", "kid": "enc-1", "alg": "RSA-OAEP-384",
                              "n": key.jwk["n"], "e": key.jwk["e"]}),
        );
        published.push(
            json!({"kty": "EC", "crv": "P-521", "kid": "ec-1", "alg": "ES512",
                              "x": "AQ", "y": "AQ"}),
        );
        published.push(key.jwk.clone());
        drop(published);
        self.keys.push(key);
    }

    /// Auth0 retires a key: the JWKS no longer lists `kid`.
    fn unpublish(&self, kid: &str) {
        self.published
            .lock()
            .expect("lock")
            .retain(|k| k["kid"] != kid);
    }

    fn newest(&self) -> &TenantKey {
        self.keys.last().expect("a key")
    }

    /// A user's access token for the orders API with `changes` applied.
    pub fn token(&self, changes: &[(&str, Value)]) -> String {
        self.token_signed(Algorithm::RS256, changes)
    }

    /// As [`Tenant::token`], signed with `alg` (RS256 or PS256) by the same
    /// key, as Auth0 signs an API set to PS256.
    pub fn token_signed(&self, alg: Algorithm, changes: &[(&str, Value)]) -> String {
        let key = self.newest();
        let mut header = Header::new(alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, &self.claims(changes), &key.encoding).expect("sign")
    }

    /// A token whose header and payload are these JSON texts, as written
    /// (duplicate members, `crit`, `b64`: what `jsonwebtoken::Header`
    /// cannot write), signed with the newest key.
    pub fn signed_raw(&self, alg: Algorithm, header: &str, payload: &str) -> String {
        let b64 = |t: &str| idp_bridge::util::crypto::b64url(t.as_bytes());
        let input = format!("{}.{}", b64(header), b64(payload));
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &self.newest().encoding, alg)
            .expect("sign");
        format!("{input}.{signature}")
    }

    /// The newest key's `kid`.
    pub fn kid(&self) -> &str {
        &self.newest().kid
    }

    /// Publishes every key with `alg` set to `alg`, or without `alg` (RFC
    /// 7517 §4.4 makes it optional); before the bridge first fetches.
    pub fn publish_alg(&self, alg: Option<&str>) {
        for key in self.published.lock().expect("lock").iter_mut() {
            let key = key.as_object_mut().expect("a JWK");
            match alg {
                Some(alg) => key.insert("alg".into(), json!(alg)),
                None => key.remove("alg"),
            };
        }
    }

    /// The claims of [`Tenant::token`] with `changes` applied (`null`
    /// removes a claim).
    pub fn claims(&self, changes: &[(&str, Value)]) -> Value {
        let now = idp_bridge::util::clock::now_unix();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": "oidc|legacy|u-1001",
            "aud": [AUDIENCE, format!("{}userinfo", self.issuer)],
            "iat": now,
            "exp": now + 600,
            "azp": "spa-client-id",
            "scope": "openid read:orders",
        });
        for (k, v) in changes {
            if v.is_null() {
                claims.as_object_mut().expect("object").remove(*k);
            } else {
                claims[*k] = v.clone();
            }
        }
        claims
    }
}

pub async fn bridge(tenant: &Tenant, extra: &str) -> TestApp {
    let section = format!(
        "[token_exchange]\nissuers = [\"{}\"]\nconnections = [\"legacy\"]\njwks_min_refresh_seconds = 1\n{extra}",
        tenant.issuer
    );
    TestApp::spawn_edited(&section, |_| {}, |text| text + &exchanger_client()).await
}

pub fn exchanger_client() -> String {
    format!(
        "\n[[clients]]\nid = \"exchanger\"\nsecret = \"{EXCHANGER_SECRET}\"\nredirect_uris = [\"https://app.example.com/cb\"]\ntoken_endpoint_auth_methods = [\"client_secret_basic\", \"client_secret_post\"]\ntoken_exchange = {{ audiences = [\"{AUDIENCE}\"], scopes = [\"read:orders\"], targets = [\"https://legacy-orders.example.com\"] }}\n"
    )
}

pub async fn exchange_as(app: &TestApp, client: (&str, &str), token: &str) -> reqwest::Response {
    app.exchange(client, token).await
}

pub async fn exchange(app: &TestApp, token: &str) -> reqwest::Response {
    exchange_as(app, ("exchanger", EXCHANGER_SECRET), token).await
}

/// Signs alice in through the bridge; her legacy token.
pub async fn signed_in(app: &TestApp) -> String {
    let code = app.login(&app.params()).await.code();
    let answer: Value = app.redeem(&code).await.json().await.expect("json");
    answer["access_token"].as_str().expect("token").to_owned()
}

pub async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

/// `n` exchanges of `token` at once, spread over `urls`; the legacy tokens.
async fn concurrent_exchanges(urls: &[String], token: &str, n: usize) -> Vec<String> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (url, token) = (urls[i % urls.len()].clone(), token.to_owned());
            tokio::spawn(async move {
                let answer = reqwest::Client::new()
                    .post(format!("{url}/token"))
                    .form(&[
                        ("grant_type", GRANT),
                        ("client_id", "exchanger"),
                        ("client_secret", EXCHANGER_SECRET),
                        ("subject_token", token.as_str()),
                        ("subject_token_type", ACCESS),
                    ])
                    .send()
                    .await
                    .expect("exchange");
                assert_eq!(answer.status(), 200);
                let body: Value = answer.json().await.expect("json");
                body["access_token"].as_str().expect("token").to_owned()
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.expect("task"));
    }
    tokens
}

#[tokio::test]
async fn an_auth0_token_becomes_the_users_legacy_token_verbatim() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let legacy = signed_in(&app).await;
    let answer = exchange(&app, &tenant.token(&[])).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["access_token"], legacy.as_str(), "verbatim");
    assert_eq!(body["issued_token_type"], ACCESS);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().is_some_and(|e| e > 0));
    assert!(body.get("refresh_token").is_none());
    assert!(
        app.legacy.api_accepts(&legacy).await,
        "the legacy API takes it"
    );
    let discovery: Value =
        crate::support::get_json(&format!("{}/.well-known/openid-configuration", app.issuer)).await;
    assert!(
        discovery["grant_types_supported"]
            .as_array()
            .is_some_and(|g| g.iter().any(|t| t == GRANT))
    );
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one list of cases, read top to bottom
async fn every_unacceptable_auth0_token_is_refused() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    let key = tenant.newest();
    let now = idp_bridge::util::clock::now_unix();
    let unsigned = {
        let b64 = |v: &Value| idp_bridge::util::crypto::b64url(v.to_string().as_bytes());
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "typ": "JWT", "kid": key.kid})),
            b64(
                &json!({"iss": tenant.issuer, "sub": "oidc|legacy|u-1001", "aud": AUDIENCE, "exp": now + 600})
            )
        )
    };
    let hs256_with_the_public_key = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        jsonwebtoken::encode(
            &header,
            &json!({"iss": tenant.issuer, "sub": "oidc|legacy|u-1001", "aud": AUDIENCE,
                    "exp": now + 600, "scope": "read:orders"}),
            &EncodingKey::from_secret(&key.public_der),
        )
        .expect("hs256")
    };
    let no_slash = tenant.issuer.trim_end_matches('/').to_owned();
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned),
        ("HS256 keyed with the public key", hs256_with_the_public_key),
        (
            "iss without its trailing slash",
            tenant.token(&[("iss", json!(no_slash))]),
        ),
        (
            "another issuer",
            tenant.token(&[("iss", json!("https://evil.example/"))]),
        ),
        (
            "aud as a string",
            tenant.token(&[("aud", json!("https://other.example.com"))]),
        ),
        (
            "aud as an array",
            tenant.token(&[("aud", json!(["https://a.example", "https://b.example"]))]),
        ),
        ("expired", tenant.token(&[("exp", json!(now - 120))])),
        ("not yet valid", tenant.token(&[("nbf", json!(now + 600))])),
        (
            "a missing scope",
            tenant.token(&[("scope", json!("openid"))]),
        ),
        (
            "gty client-credentials",
            tenant.token(&[("gty", json!("client-credentials"))]),
        ),
        (
            "sub@clients",
            tenant.token(&[("sub", json!("abc@clients"))]),
        ),
        (
            "sub is the client",
            tenant.token(&[("sub", json!("spa-client-id"))]),
        ),
        (
            "a connection not configured",
            tenant.token(&[("sub", json!("oidc|other|u-1001"))]),
        ),
        ("an unknown kid", {
            let mut header = Header::new(Algorithm::RS256);
            header.kid = Some("never-published".into());
            header.typ = Some("JWT".into());
            jsonwebtoken::encode(
                &header,
                &json!({"iss": tenant.issuer, "sub": "oidc|legacy|u-1001", "aud": AUDIENCE,
                        "exp": now + 600, "scope": "read:orders"}),
                &key.encoding,
            )
            .expect("sign")
        }),
        ("not a JWT", "not-a-jwt".into()),
        ("an ID token", tenant.token(&[("nonce", json!("n-1"))])),
    ];
    for (what, token) in cases {
        let (status, error) = refusal(exchange(&app, &token).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_request"), "{what}");
    }
    // A client that may not exchange, and a wrong secret.
    let (status, error) = refusal(
        exchange_as(
            &app,
            ("auth0-oidc", crate::support::OIDC_SECRET),
            &tenant.token(&[]),
        )
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (400, "unauthorized_client"));
    let (status, _) =
        refusal(exchange_as(&app, ("exchanger", "wrong"), &tenant.token(&[])).await).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_user_without_a_legacy_session_or_with_a_revoked_grant_gets_invalid_grant() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let (_, error) = refusal(exchange(&app, &tenant.token(&[])).await).await;
    assert_eq!(error, "invalid_grant", "never signed in through the bridge");
    let legacy = signed_in(&app).await;
    assert_eq!(exchange(&app, &tenant.token(&[])).await.status(), 200);
    let revoked = reqwest::Client::new()
        .post(format!("{}/revoke", app.issuer))
        .form(&[
            ("client_id", "auth0-oidc"),
            ("client_secret", crate::support::OIDC_SECRET),
            ("token", legacy.as_str()),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 200);
    let (_, error) = refusal(exchange(&app, &tenant.token(&[])).await).await;
    assert_eq!(error, "invalid_grant", "a revoked grant is no source");
}

#[tokio::test]
async fn an_auth0_key_rotation_needs_no_restart() {
    let mut tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    assert_eq!(exchange(&app, &tenant.token(&[])).await.status(), 200);
    tenant.rotate("k2");
    // An unknown kid refetches at most once per jwks_min_refresh_seconds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        exchange(&app, &tenant.token(&[])).await.status(),
        200,
        "the new kid was fetched"
    );
}

#[tokio::test]
async fn a_token_verified_before_is_refused_once_its_key_leaves_the_jwks() {
    let mut tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    let old = tenant.token(&[]);
    assert_eq!(exchange(&app, &old).await.status(), 200);
    assert_eq!(exchange(&app, &old).await.status(), 200, "again");
    tenant.rotate("k2");
    tenant.unpublish("k1");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        exchange(&app, &tenant.token(&[])).await.status(),
        200,
        "the new kid was fetched"
    );
    let (status, error) = refusal(exchange(&app, &old).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_request"),
        "k1 left the JWKS: a token it signed is refused, verified before or not"
    );
}

#[tokio::test]
async fn an_expired_legacy_token_is_renewed_once_for_fifty_concurrent_exchanges() {
    let tenant = Tenant::start().await;
    // The first token expires at once; its renewal lives long enough for
    // every waiter to see it, however loaded the machine.
    let app = renewing_bridge(&tenant, 120).await;
    let first = renewable_sign_in(&app).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = app.legacy.idp.renewals();
    let tokens =
        concurrent_exchanges(std::slice::from_ref(&app.issuer), &tenant.token(&[]), 50).await;
    assert_eq!(
        app.legacy.idp.renewals() - before,
        1,
        "one renewal upstream"
    );
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "one renewed token for all"
    );
    assert_ne!(tokens[0], first["access_token"].as_str().expect("first"));
    assert!(app.legacy.api_accepts(&tokens[0]).await);
}

/// A sign-in with no refresh family of the bridge's (its client did not
/// ask for `offline_access`) stays renewable for exchanges for
/// `max_session_seconds`: cleanup keeps its grant after its first legacy
/// token expires (it used to delete it at the next pass, and the user's
/// next exchange found no session), and removes it after.
#[tokio::test]
async fn cleanup_keeps_a_sign_in_that_exchanges_may_still_renew() {
    let tenant = Tenant::start().await;
    let app = renewing_bridge(&tenant, 120).await;
    let first = signed_in(&app).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // An hour on: the code, the login form and the first token have expired.
    let an_hour_on = idp_bridge::util::clock::now_unix() + 3600;
    assert_eq!(
        app.cleanup_at(an_hour_on).await.grants,
        0,
        "the sign-in can still be renewed for exchanges"
    );
    let answer = exchange(&app, &tenant.token(&[])).await;
    assert_eq!(
        answer.status(),
        200,
        "the exchange renews the sign-in's token"
    );
    let body: Value = answer.json().await.expect("json");
    let renewed = body["access_token"].as_str().expect("token");
    assert_ne!(renewed, first);
    assert!(app.legacy.api_accepts(renewed).await);
    // Past max_session_seconds (12 hours by default) nothing keeps it.
    let past_the_session = idp_bridge::util::clock::now_unix() + 43_200 + 3600;
    assert_eq!(app.cleanup_at(past_the_session).await.grants, 1);
}

/// A bridge exchanging `tenant`'s tokens whose legacy IdP issues one-second
/// tokens, and renewals that live `renewed_ttl` seconds.
async fn renewing_bridge(tenant: &Tenant, renewed_ttl: i64) -> TestApp {
    let section = format!(
        "[token_exchange]\nissuers = [\"{}\"]\nconnections = [\"legacy\"]\nrenew_skew_seconds = 0\n",
        tenant.issuer
    );
    TestApp::spawn_edited(
        &section,
        |o| {
            o.token_ttl = 1;
            o.renewed_token_ttl = Some(renewed_ttl);
        },
        |t| t + &exchanger_client(),
    )
    .await
}

/// A login whose legacy IdP issues a refresh token (offline_access); the
/// token answer.
async fn renewable_sign_in(app: &TestApp) -> Value {
    let params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), "refresher".into()),
        ("redirect_uri".into(), crate::support::AUTH0_CALLBACK.into()),
        ("scope".into(), "openid offline_access".into()),
    ];
    let code = app.login(&params).await.code();
    app.redeem_as("refresher", crate::support::REFRESHER_SECRET, &code)
        .await
        .json()
        .await
        .expect("json")
}

/// A waiter that finds the renewal it waited for already expired renews
/// again from it, instead of waiting for a renewal no one makes and
/// answering 503 after the 15 s bound (seen as a flake on a loaded machine
/// with one-second tokens).
#[tokio::test]
async fn waiters_renew_again_when_the_renewal_they_waited_for_has_expired() {
    let tenant = Tenant::start().await;
    let app = renewing_bridge(&tenant, 0).await;
    renewable_sign_in(&app).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let started = std::time::Instant::now();
    let tokens =
        concurrent_exchanges(std::slice::from_ref(&app.issuer), &tenant.token(&[]), 8).await;
    assert_eq!(tokens.len(), 8, "every exchange answered 200");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no waiter sat out the renewal bound: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_user_without_a_grant_gets_a_minted_lt1_token_when_configured() {
    let tenant = Tenant::start().await;
    let mut app = bridge(&tenant, "").await;
    let mint = format!(
        "\n[legacy_token.keys]\ntest = \"{}\"\n[token_exchange.mint_lt1]\nttl_seconds = 600\nscope = \"orders\"\nclaims = {{ realm = \"corp\" }}\n",
        app.legacy.key_hex
    );
    app.config_text += &mint;
    app.restart().await;
    let answer = exchange(&app, &tenant.token(&[("sub", json!("oidc|legacy|u-1002"))])).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("json");
    let minted = body["access_token"].as_str().expect("token");
    let claims = app
        .legacy
        .keys
        .validate(minted, idp_bridge::util::clock::now_unix())
        .expect("an LT1 token the legacy API's key validates");
    assert_eq!(claims.sub, "u-1002");
    assert_eq!(
        claims.attribute("realm"),
        Some("corp"),
        "the claims template"
    );
    assert!(app.legacy.api_accepts(minted).await);
}

#[tokio::test]
async fn the_command_adapter_mints_for_a_user_without_a_grant() {
    let tenant = Tenant::start().await;
    let mut app = bridge(&tenant, "").await;
    let start = app
        .config_text
        .find("\n[upstream]")
        .expect("upstream section");
    let end = app
        .config_text
        .find("\n[[clients]]\nid = \"exchanger\"")
        .expect("exchanger");
    let command = format!(
        "\n[upstream]\nadapter = \"command\"\n[upstream.command]\nprogram = \"{}\"\nargs = [\"reference\", \"legacy-command\"]\nenv = {{ LT1_KEYS = \"test={}\" }}\ntimeout_ms = 5000\n",
        env!("CARGO_BIN_EXE_idp-bridge"),
        app.legacy.key_hex
    );
    app.config_text.replace_range(start..end, &command);
    with_mint_upstream(&mut app);
    app.restart().await;
    mints_for_bob_and_no_one_unknown(&app, &tenant, "minted by the command").await;
}

#[tokio::test]
async fn two_instances_on_postgresql_renew_once_and_give_the_same_token() {
    use crate::cluster::Cluster;
    let tenant = Tenant::start().await;
    let extra = format!(
        "\n[token_exchange]\nissuers = [\"{}\"]\nconnections = [\"legacy\"]\nrenew_skew_seconds = 0\n{}",
        tenant.issuer,
        exchanger_client()
    );
    let c = Cluster::start_with(2, &crate::store_suite::pg_url(), &extra, |o| {
        o.token_ttl = 1;
        o.renewed_token_ttl = Some(120);
    })
    .await;
    let code = c.login(0, 1).await;
    assert_eq!(c.redeem(1, &code).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = c.legacy.idp.renewals();
    let tokens = concurrent_exchanges(&c.urls, &tenant.token(&[]), 40).await;
    assert_eq!(
        c.legacy.idp.renewals() - before,
        1,
        "one renewal across both instances"
    );
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert!(c.legacy.api_accepts(&tokens[0]).await);
    c.finish().await;
}

#[tokio::test]
async fn a_renewal_the_legacy_idp_refuses_ends_the_grant_and_mints_nothing() {
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
    let _ = signed_in(&app).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.legacy.idp.revoke_all_refresh_tokens();
    let before = app.legacy.idp.renewals();
    let (_, error) = refusal(exchange(&app, &tenant.token(&[])).await).await;
    assert_eq!(
        error, "invalid_grant",
        "refused upstream: no session, no minted token"
    );
    let (_, again) = refusal(exchange(&app, &tenant.token(&[])).await).await;
    assert_eq!(again, "invalid_grant");
    assert!(
        app.legacy.idp.renewals() - before <= 1,
        "the refused grant was revoked, not asked again"
    );
}

#[tokio::test]
async fn the_http_adapter_mints_through_a_token_for_user_endpoint() {
    let tenant = Tenant::start().await;
    let mut app = bridge(&tenant, "").await;
    with_mint_upstream(&mut app);
    let mint = format!(
        "\n[upstream.http.mint]\nurl = \"{}/api/v1/token-for-user\"\nheaders = {{ X-Api-Key = \"{}\" }}\n",
        app.legacy.idp_url(),
        idp_bridge::reference::legacy_idp::MINT_API_KEY
    );
    app.config_text += &mint;
    app.restart().await;
    mints_for_bob_and_no_one_unknown(&app, &tenant, "minted by the legacy IdP").await;
}

#[tokio::test]
async fn a_target_the_client_may_not_name_is_invalid_target() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    let with_target = |name: &'static str, value: &'static str| {
        let token = tenant.token(&[]);
        let app = &app;
        async move {
            app.token(&[
                ("grant_type", GRANT),
                ("client_id", "exchanger"),
                ("client_secret", EXCHANGER_SECRET),
                ("subject_token", token.as_str()),
                ("subject_token_type", ACCESS),
                (name, value),
            ])
            .await
        }
    };
    let (status, error) =
        refusal(with_target("audience", "https://elsewhere.example.com").await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_target"));
    let (_, error) = refusal(with_target("resource", "https://elsewhere.example.com").await).await;
    assert_eq!(error, "invalid_target");
    assert_eq!(
        with_target("resource", "https://legacy-orders.example.com")
            .await
            .status(),
        200,
        "a configured target"
    );
}

/// With adapter minting configured: bob, who never signed in, gets a token
/// the legacy API takes; an unknown subject and a user locked at the legacy
/// IdP get `invalid_grant`.
/// Turns on `mint_upstream` in the running app's config text (valid only
/// with an adapter that mints: add it before the restart).
fn with_mint_upstream(app: &mut TestApp) {
    app.config_text = app.config_text.replacen(
        "[token_exchange]\n",
        "[token_exchange]\nmint_upstream = true\n",
        1,
    );
}

async fn mints_for_bob_and_no_one_unknown(app: &TestApp, tenant: &Tenant, by: &str) {
    let answer = exchange(app, &tenant.token(&[("sub", json!("oidc|legacy|u-1002"))])).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.expect("json");
    let minted = body["access_token"].as_str().expect("token");
    assert!(app.legacy.api_accepts(minted).await, "{by}");
    let (_, error) = refusal(
        exchange(
            app,
            &tenant.token(&[("sub", json!("oidc|legacy|u-nobody"))]),
        )
        .await,
    )
    .await;
    assert_eq!(error, "invalid_grant", "no such legacy user");
    // mallory (u-1003) is locked at the legacy IdP: its refusal is final,
    // nothing is minted for her (issue 31 item 5).
    let (_, error) =
        refusal(exchange(app, &tenant.token(&[("sub", json!("oidc|legacy|u-1003"))])).await).await;
    assert_eq!(
        error, "invalid_grant",
        "a user locked at the legacy IdP: {by}"
    );
}
