//! The gateway in front of the reference legacy API, with Auth0 tokens from
//! the test tenant: the request reaches the API with the legacy token and
//! without the Auth0 token; every refusal; hop-by-hop and forwarding
//! headers; streamed bodies both ways at flat memory; a WebSocket echo;
//! HTTP/2 from clients; one lookup for concurrent misses; a revocation
//! reaching a second instance on PostgreSQL.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{REFRESHER_SECRET, TestApp, closed_port_url};
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
        .validate(&legacy, idp_bridge::clock::now_unix())
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
        tenant.token(&[("exp", json!(idp_bridge::clock::now_unix() - 3600))]),
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

/// A GET written by hand, so the path reaches the gateway exactly as typed.
async fn raw_get(app: &TestApp, path: &str, token: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app
        .gateway_url
        .as_deref()
        .expect("gateway")
        .trim_start_matches("http://")
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn hop_by_hop_headers_go_and_forwarding_headers_are_trusted_only_from_proxies() {
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    let send = |app: &TestApp| {
        reqwest::Client::new()
            .get(url(app, "/orders/h"))
            .bearer_auth(&token)
            .header("connection", "keep-alive, x-private-hop")
            .header("x-private-hop", "secret")
            .header("keep-alive", "timeout=5")
            .header("te", "trailers")
            .header("proxy-authorization", "Basic Zm9vOmJhcg==")
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "api.example.com")
            .header("forwarded", "for=203.0.113.9")
            .header("x-kept", "yes")
    };
    let seen: Value = send(&app)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let h = &seen["headers"];
    for gone in [
        "x-private-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "forwarded",
    ] {
        assert!(h.get(gone).is_none(), "{gone} was forwarded: {h}");
    }
    assert_eq!(h["x-kept"], "yes");
    assert_eq!(
        h["x-forwarded-for"], "127.0.0.1",
        "an untrusted client's chain is replaced"
    );
    assert_eq!(h["x-forwarded-proto"], "http");
    let gateway_host = app
        .gateway_url
        .as_deref()
        .expect("gw")
        .trim_start_matches("http://");
    assert_eq!(h["x-forwarded-host"], gateway_host);
    assert_ne!(h["host"], gateway_host, "Host is the upstream's");

    // From a trusted proxy the chain is extended and its values kept.
    let trusted = gateway(&tenant, "", "trusted_proxies = [\"127.0.0.0/8\"]").await;
    let _ = signed_in(&trusted).await;
    let seen: Value = send(&trusted)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let h = &seen["headers"];
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "https");
    assert_eq!(h["x-forwarded-host"], "api.example.com");
    assert!(h.get("x-private-hop").is_none());
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
    let tenant = Tenant::start().await;
    let routes = format!(
        "\n[[gateway.routes]]\nprefix = \"{prefix}\"\nupstream = \"{}\"\naudiences = [\"{AUDIENCE}\"]\n",
        server.url()
    );
    let app = TestApp::spawn_with(&sections(&tenant, "", "", &routes)).await;
    let _ = signed_in(&app).await;
    (server, tenant, app)
}

#[tokio::test]
async fn response_hop_by_hop_headers_are_removed() {
    use axum::response::IntoResponse;
    // An upstream that names a header of its own in Connection.
    let upstream = axum::Router::new().route(
        "/{*path}",
        axum::routing::get(|| async {
            (
                [
                    ("connection", "x-upstream-hop"),
                    ("x-upstream-hop", "1"),
                    ("x-visible", "1"),
                ],
                "ok",
            )
                .into_response()
        }),
    );
    let (_server, tenant, app) = gateway_before(upstream, "/hop").await;
    let r = get(&app, "/hop/x", &tenant.token(&[])).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-visible"], "1");
    assert!(
        r.headers().get("x-upstream-hop").is_none(),
        "{:?}",
        r.headers()
    );
}

/// The gateway process's (here: the test process's) resident memory, KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// POSTs `body` (streamed as it is produced) to the reference API's upload
/// through the gateway; the response, if one came.
async fn upload(
    app: &TestApp,
    token: &str,
    body: axum::body::Body,
) -> Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
    let client: hyper_util::client::legacy::Client<_, axum::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let request = http::Request::post(url(app, "/orders/upload"))
        .header("authorization", format!("Bearer {token}"))
        .body(body)
        .expect("request");
    client.request(request).await
}

/// The byte count the reference API answered an upload with.
async fn uploaded_bytes(response: http::Response<hyper::body::Incoming>) -> u64 {
    use http_body_util::BodyExt as _;
    assert_eq!(response.status(), 200);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let answer: Value = serde_json::from_slice(&body).expect("json");
    answer["bytes"].as_u64().expect("bytes")
}

#[tokio::test]
async fn large_bodies_stream_both_ways_at_flat_memory() {
    const SIZE: u64 = 256 * 1024 * 1024;
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    let before = rss_kib();

    // Download: read chunk by chunk, never whole.
    let mut response = get(&app, &format!("/orders/download?bytes={SIZE}"), &token).await;
    assert_eq!(response.status(), 200);
    let mut received: u64 = 0;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        received += chunk.len() as u64;
    }
    assert_eq!(received, SIZE);

    // Upload: a body produced as it is sent.
    let body = axum::body::Body::new(idp_bridge::reference::legacy_api::Zeros::new(SIZE));
    let response = upload(&app, &token, body).await.expect("upload");
    assert_eq!(uploaded_bytes(response).await, SIZE);

    let grown = rss_kib().saturating_sub(before);
    assert!(
        grown < 64 * 1024,
        "memory grew by {grown} KiB moving 2 × 256 MiB (bodies must stream)"
    );
}

type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the reference API's WebSocket echo through the gateway with an
/// Auth0 token for alice.
async fn open_ws(
    app: &TestApp,
    tenant: &Tenant,
) -> Result<(WebSocket, u16), tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let ws_url = url(app, "/orders/ws").replace("http://", "ws://");
    let mut request = ws_url.as_str().into_client_request()?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", tenant.token(&[]))
            .parse()
            .expect("header"),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request).await?;
    Ok((socket, response.status().as_u16()))
}

#[tokio::test]
async fn websocket_upgrades_pass_through() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "").await;
    let _ = signed_in(&app).await;
    let ws_url = url(&app, "/orders/ws").replace("http://", "ws://");
    let (mut socket, status) = open_ws(&app, &tenant).await.expect("upgrade");
    assert_eq!(status, 101);
    socket
        .send(Message::Text("hello".into()))
        .await
        .expect("send");
    let echo = socket.next().await.expect("a message").expect("ok");
    assert_eq!(echo.into_text().expect("text").as_str(), "echo: hello");
    socket.close(None).await.expect("close");
    // Without a token there is no upgrade.
    let refused = tokio_tungstenite::connect_async(ws_url.as_str()).await;
    assert!(refused.is_err());
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
async fn a_hundred_concurrent_misses_make_one_lookup() {
    let tenant = Tenant::start().await;
    let mut app = gateway(&tenant, "mint_upstream = true", "").await;
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
async fn a_silent_websocket_is_closed_after_the_idle_timeout() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "idle_timeout_ms = 300").await;
    let _ = signed_in(&app).await;
    let (mut socket, _) = open_ws(&app, &tenant).await.expect("upgrade");
    // Talking keeps it open...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        socket
            .send(Message::Text("ping".into()))
            .await
            .expect("send");
        let echo = socket.next().await.expect("a message").expect("ok");
        assert_eq!(echo.into_text().expect("text").as_str(), "echo: ping");
    }
    // ...silence ends it.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let _ = socket.send(Message::Text("late".into())).await;
    let next = tokio::time::timeout(Duration::from_secs(2), socket.next())
        .await
        .expect("an answer or the end");
    assert!(
        !matches!(next, Some(Ok(Message::Text(_)))),
        "the idle WebSocket was still spliced: {next:?}"
    );
}

#[tokio::test]
async fn a_longer_route_cannot_be_reached_through_a_shorter_ones_scopes() {
    let tenant = Tenant::start().await;
    let admin = format!(
        "\n[[gateway.routes]]\nprefix = \"/orders/admin\"\nupstream = \"{{LEGACY_API}}/api/admin\"\naudiences = [\"{AUDIENCE}\"]\nscopes = [\"admin:orders\"]\n"
    );
    let app = TestApp::spawn_with(&sections(&tenant, "", "", &admin)).await;
    let _ = signed_in(&app).await;
    let reader = tenant.token(&[]);
    assert_eq!(get(&app, "/orders/list", &reader).await.status(), 200);
    for path in ["/orders/admin/x", "/orders/ADMIN/x", "/Orders/Admin"] {
        let (status, error, _) = error_of(get(&app, path, &reader).await).await;
        assert_eq!(
            (status, error.as_str()),
            (403, "insufficient_scope"),
            "{path}"
        );
    }
    let admin_token = tenant.token(&[("scope", json!("read:orders admin:orders"))]);
    let seen: Value = get(&app, "/orders/admin/x", &admin_token)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(seen["path"], "/api/admin/x");
}

#[tokio::test]
async fn claims_a_client_makes_about_itself_and_other_upgrades_do_not_pass() {
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "").await;
    let _ = signed_in(&app).await;
    let seen: Value = reqwest::Client::new()
        .get(url(&app, "/orders/h"))
        .bearer_auth(tenant.token(&[]))
        .header("x-real-ip", "10.0.0.1")
        .header("x-original-url", "/api/admin")
        .header("x_legacy_token", "forged")
        .header("connection", "upgrade")
        .header("upgrade", "h2c")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let h = &seen["headers"];
    for gone in ["x-real-ip", "x-original-url", "x_legacy_token", "upgrade"] {
        assert!(h.get(gone).is_none(), "{gone} was forwarded: {h}");
    }
    assert_eq!(h["via"], "1.1 idp-bridge");
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

/// A body that sends `chunks` of 1 KiB, one every `every`.
struct Trickle {
    chunks: u32,
    every: Duration,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Trickle {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        if self.chunks == 0 {
            return std::task::Poll::Ready(None);
        }
        let every = self.every;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        if sleep.as_mut().poll(cx).is_pending() {
            return std::task::Poll::Pending;
        }
        self.sleep = None;
        self.chunks -= 1;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from(
            vec![b'x'; 1024],
        )))))
    }
}

use std::future::Future as _;

#[tokio::test]
async fn an_upload_that_flows_longer_than_the_response_timeout_is_not_cut() {
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "idle_timeout_ms = 1000").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    // 2.5 s of upload against a 1.5 s response timeout, a chunk every 100 ms.
    let flowing = axum::body::Body::new(Trickle {
        chunks: 25,
        every: Duration::from_millis(100),
        sleep: None,
    });
    let response = upload(&app, &token, flowing).await.expect("upload");
    assert_eq!(uploaded_bytes(response).await, 25 * 1024);
    // A body that stops moving is cut after the idle limit.
    let stalled = axum::body::Body::new(Trickle {
        chunks: 2,
        every: Duration::from_secs(3),
        sleep: None,
    });
    let started = Instant::now();
    let answer = upload(&app, &token, stalled).await;
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "cut by the idle limit"
    );
    if let Ok(response) = answer {
        assert!(response.status().is_server_error(), "{}", response.status());
    }
}

#[tokio::test]
async fn upgraded_connections_still_count_under_the_connection_caps() {
    let tenant = Tenant::start().await;
    let app = TestApp::spawn_with(&format!(
        "max_connections_per_address = 2\n{}",
        sections(&tenant, "", "", "")
    ))
    .await;
    let _ = signed_in(&app).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first = open_ws(&app, &tenant).await.expect("first");
    let second = open_ws(&app, &tenant).await.expect("second");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        open_ws(&app, &tenant).await.is_err(),
        "a third tunnel from one address is refused"
    );
    drop((first, second));
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
