//! The gateway in front of the reference legacy API, with Auth0 tokens from
//! the test tenant: here, the request reaching the API with the legacy
//! token and without the Auth0 token, every refusal, HTTP/2 from clients,
//! silent connections, and the helpers; then a module per edge: [`headers`]
//! (hop-by-hop, forwarding, a client's claims about itself), [`bodies`]
//! (streaming, malformed and slow bodies), [`framing`] (bodies never taken for
//! requests, `Connection` against the gateway's own headers, stalled response
//! bodies, the legacy header per route and user), [`tunnels`] (WebSockets, what a
//! `101` must show, `CONNECT`, when a tunnel ends), [`paths`] (route scopes
//! against names legacy servers normalize), [`requests`] (methods, request
//! ids) and [`cache`] (lookups, expiry, revocation across instances).

mod bodies;
mod cache;
mod framing;
mod headers;
mod paths;
mod requests;
mod tunnels;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{TestApp, closed_port_url};
use crate::token_exchange::{AUDIENCE, Tenant};

/// `[token_exchange]` and `[gateway]` with an `/orders` route to the
/// reference legacy API (and `extra_routes`, `extra` in `[gateway]`).
pub fn sections(
    tenant: &Tenant,
    exchange_extra: &str,
    gateway_extra: &str,
    extra_routes: &str,
) -> String {
    format!(
        r#"
[token_exchange]
issuers = ["{issuer}"]
connections = ["legacy"]
jwks_min_refresh_seconds = 1
{exchange_extra}

[gateway]
listen = "127.0.0.1:0"
revocation_poll_ms = 200
response_timeout_ms = 1500
{gateway_extra}

[[gateway.routes]]
prefix = "/orders"
upstream = "{{LEGACY_API}}/api"
audiences = ["{AUDIENCE}"]
scopes = ["read:orders"]
{extra_routes}
"#,
        issuer = tenant.issuer
    )
}

async fn gateway(tenant: &Tenant, exchange_extra: &str, gateway_extra: &str) -> TestApp {
    TestApp::spawn_with(&sections(tenant, exchange_extra, gateway_extra, "")).await
}

fn url(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.gateway_url.as_deref().expect("a gateway"))
}

/// Signs alice (`u-1001`) in through the bridge; her legacy token.
async fn signed_in(app: &TestApp) -> String {
    let code = app.login(&app.params()).await.code();
    let answer: Value = app.redeem(&code).await.json().await.expect("json");
    answer["access_token"].as_str().expect("token").to_owned()
}

async fn get(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url(app, path))
        .bearer_auth(token)
        .send()
        .await
        .expect("gateway reachable")
}

fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default()
}

async fn error_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let challenge = challenge(&response);
    let body: Value = response.json().await.expect("json error");
    (
        status,
        body["error"].as_str().unwrap_or("").to_owned(),
        challenge,
    )
}

#[tokio::test]
async fn the_api_gets_the_legacy_token_and_never_the_auth0_token() {
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "").await;
    let legacy = signed_in(&app).await;
    let auth0 = tenant.token(&[]);
    let response = get(&app, "/orders/list?status=open&page=2", &auth0).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let text = response.text().await.expect("body");
    assert!(!text.contains(&auth0), "the Auth0 token reached the API");
    let seen: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(seen["sub"], "u-1001", "the API validated alice's LT1 token");
    assert_eq!(
        seen["path"], "/api/list",
        "the prefix was replaced by the base path"
    );
    assert_eq!(seen["query"], "status=open&page=2");
    assert!(
        seen["headers"]["x-request-id"].is_string(),
        "the request id goes upstream"
    );
    // It is her token from the bridge, verbatim: the same one the API takes.
    assert!(app.legacy.api_accepts(&legacy).await);
    let exp = seen["exp"].as_i64().expect("exp");
    let legacy_claims = app
        .legacy
        .keys
        .validate(&legacy, idp_bridge::util::clock::now_unix())
        .expect("lt1");
    assert_eq!(exp, legacy_claims.exp, "the gateway sent the grant's token");
    // A POST with a body goes through too.
    let posted: Value = reqwest::Client::new()
        .post(url(&app, "/orders/new"))
        .bearer_auth(&auth0)
        .json(&json!({"item": 7}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(posted["method"], "POST");
    assert_eq!(posted["headers"]["content-type"], "application/json");
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one refusal after another, in the module doc's order
async fn every_refusal_has_its_status_challenge_and_no_upstream_detail() {
    let tenant = Tenant::start().await;
    let closed = closed_port_url().await;
    let extra_routes = format!(
        r#"
[[gateway.routes]]
prefix = "/down"
upstream = "{closed}/api"
audiences = ["{AUDIENCE}"]

[[gateway.routes]]
prefix = "/reports"
upstream = "{{LEGACY_API}}/api"
audiences = ["https://reports.example.com"]
"#
    );
    let app = TestApp::spawn_with(&sections(&tenant, "", "", &extra_routes)).await;
    let _ = signed_in(&app).await;
    let good = tenant.token(&[]);
    let client = reqwest::Client::new();

    // No token: 401 with a bare challenge (RFC 6750 §3.1).
    let r = client
        .get(url(&app, "/orders/x"))
        .send()
        .await
        .expect("send");
    let (status, _, challenge) = error_of(r).await;
    assert_eq!(
        (status, challenge.as_str()),
        (401, "Bearer realm=\"idp-bridge\"")
    );
    // Another scheme is no token either.
    let r = client
        .get(url(&app, "/orders/x"))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);

    // A forged, expired, foreign or machine token: invalid_token.
    let tampered = {
        let (head, signature) = good.rsplit_once('.').expect("a JWT");
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        format!("{head}.{first}{}", &signature[1..])
    };
    for bad in [
        tampered,
        tenant.token(&[("exp", json!(idp_bridge::util::clock::now_unix() - 3600))]),
        tenant.token(&[("iss", json!("https://evil.example.com/"))]),
        tenant.token(&[("gty", json!("client-credentials"))]),
        "not-a-jwt".to_owned(),
    ] {
        let (status, error, challenge) = error_of(get(&app, "/orders/x", &bad).await).await;
        assert_eq!((status, error.as_str()), (401, "invalid_token"), "{bad}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    // The right tenant, the wrong API.
    let (status, error, _) = error_of(get(&app, "/reports/x", &good).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_token"));
    // A scope missing: 403 naming what is required.
    let narrow = tenant.token(&[("scope", json!("openid"))]);
    let (status, error, challenge) = error_of(get(&app, "/orders/x", &narrow).await).await;
    assert_eq!((status, error.as_str()), (403, "insufficient_scope"));
    assert!(challenge.contains("scope=\"read:orders\""), "{challenge}");
    // A user without a legacy session (bob never signed in; no minting).
    let bob = tenant.token(&[("sub", json!("oidc|legacy|u-1002"))]);
    let r = get(&app, "/orders/x", &bob).await;
    assert_eq!(r.status(), 401);
    let body = r.text().await.expect("body");
    assert!(body.contains("no legacy session"), "{body}");

    // Malformed requests: 400 invalid_request.
    let in_query = client
        .get(url(&app, &format!("/orders/x?access_token={good}")))
        .send()
        .await
        .expect("send");
    assert_eq!(error_of(in_query).await.0, 400);
    let twice = client
        .get(url(&app, "/orders/x"))
        .header("authorization", format!("Bearer {good}"))
        .header("authorization", format!("Bearer {good}"))
        .send()
        .await
        .expect("send");
    assert_eq!(error_of(twice).await.1, "invalid_request");
    for path in [
        "/orders/../admin",
        "/orders/%2e%2E/admin",
        "/orders/a%2Fb",
        "/orders/.%2e/x",
        "/orders//admin/x",
        "/orders/%61dmin/x",
        "/orders/admin;j=1/x",
        "/orders/..;/x",
        "/orders/%zz",
        "/orders/a\\b",
    ] {
        let r = raw_get(&app, path, &good).await;
        assert!(r.starts_with("HTTP/1.1 400"), "{path}: {r}");
    }
    // A tunnel or an echo of the legacy token: never forwarded.
    let trace = client
        .request(reqwest::Method::TRACE, url(&app, "/orders/x"))
        .bearer_auth(&good)
        .send()
        .await
        .expect("send");
    assert_eq!(trace.status(), 405);
    // No route.
    assert_eq!(get(&app, "/elsewhere", &good).await.status(), 404);
    assert_eq!(
        get(&app, "/ordersX", &good).await.status(),
        404,
        "prefixes match whole segments"
    );

    // The legacy API unreachable: 502; slow: 504; neither says more.
    let r = get(&app, "/down/x", &good).await;
    assert_eq!(r.status(), 502);
    let body = r.text().await.expect("body");
    assert!(
        !body.contains("127.0.0.1") && !body.contains("refused"),
        "{body}"
    );
    let started = Instant::now();
    let r = get(&app, "/orders/slow?ms=5000", &good).await;
    assert_eq!(r.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the response timeout held"
    );

    // Each refusal is audited by reason class.
    let metrics = app.metrics_text();
    for family in crate::ops_metrics::GATEWAY_FAMILIES {
        assert!(
            crate::ops_metrics::families(&metrics).contains(family),
            "{family} declared once the gateway served"
        );
    }
    crate::ops_metrics::assert_families_listed(
        &metrics,
        &[
            "idp_bridge_tls_certificate_not_after_seconds",
            "idp_bridge_refusals",
            "idp_bridge_upstream_request_duration_seconds",
            "idp_bridge_http_request_duration_seconds",
        ],
    );
    for reason in [
        "no_token",
        "signature",
        "audience",
        "scope",
        "no_legacy_session",
        "invalid_request",
        "bad_gateway",
        "gateway_timeout",
    ] {
        assert!(
            metrics.contains(&format!("event=\"gateway_refusal\",reason=\"{reason}\"")),
            "{reason} not counted"
        );
    }
}

/// The gateway's `host:port`.
fn gateway_addr(app: &TestApp) -> String {
    app.gateway_url
        .as_deref()
        .expect("gateway")
        .trim_start_matches("http://")
        .to_owned()
}

/// Sends `request` as written and reads until the gateway closes (at most
/// 5 s), so the bytes reach the gateway exactly as typed.
async fn raw(app: &TestApp, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(gateway_addr(app))
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A GET written by hand, so the path reaches the gateway exactly as typed.
async fn raw_get(app: &TestApp, path: &str, token: &str) -> String {
    let addr = gateway_addr(app);
    raw(
        app,
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await
}

/// A gateway with one route, `prefix`, to an upstream of the test's own
/// (started here), signed in as alice; keep the server alive.
async fn gateway_before(
    upstream: axum::Router,
    prefix: &str,
) -> (idp_bridge::reference::RunningServer, Tenant, TestApp) {
    let server = idp_bridge::reference::RunningServer::bind("127.0.0.1:0", upstream)
        .await
        .expect("upstream");
    let (tenant, app) = gateway_at(&server.url(), prefix).await;
    (server, tenant, app)
}

/// A gateway with one route, `prefix`, to the API at `upstream`, signed in
/// as alice.
async fn gateway_at(upstream: &str, prefix: &str) -> (Tenant, TestApp) {
    let tenant = Tenant::start().await;
    let routes = format!(
        "\n[[gateway.routes]]\nprefix = \"{prefix}\"\nupstream = \"{upstream}\"\naudiences = [\"{AUDIENCE}\"]\n"
    );
    let app = TestApp::spawn_with(&sections(&tenant, "", "", &routes)).await;
    let _ = signed_in(&app).await;
    (tenant, app)
}

#[tokio::test]
async fn http2_clients_are_served() {
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "").await;
    let _ = signed_in(&app).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let r = client
        .get(url(&app, "/orders/h2"))
        .bearer_auth(tenant.token(&[]))
        .send()
        .await
        .expect("h2");
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("json");
    assert_eq!(seen["sub"], "u-1001");
}

#[tokio::test]
async fn a_client_that_connects_and_sends_nothing_is_dropped() {
    use tokio::io::AsyncReadExt as _;
    let tenant = Tenant::start().await;
    let app = TestApp::spawn_with(&format!(
        "header_read_timeout_ms = 300\n{}",
        sections(&tenant, "", "", "")
    ))
    .await;
    let addr = app
        .gateway_url
        .as_deref()
        .expect("gw")
        .trim_start_matches("http://")
        .to_owned();
    let mut silent = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(3), silent.read(&mut buf))
        .await
        .expect("closed well before 3 s");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the silent connection was closed"
    );
}
