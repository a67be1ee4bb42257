//! Headers: hop-by-hop headers go both ways; forwarding headers and other
//! claims a client makes about itself are believed only from trusted
//! proxies; only WebSocket upgrades pass.

use serde_json::Value;

use super::{gateway, gateway_before, get, signed_in, url};
use crate::support::TestApp;
use crate::token_exchange::Tenant;

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
