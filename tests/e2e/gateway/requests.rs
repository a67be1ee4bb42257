//! What a request must be to be forwarded, beyond its token, path and
//! body: a method the route forwards (a known set by default, `methods` per
//! route), and a request id the gateway may believe (bounded, and only from
//! a trusted proxy — the provider's listener keeps the same rule).

use serde_json::Value;

use super::{gateway, sections, signed_in, url};
use crate::support::TestApp;
use crate::token_exchange::{AUDIENCE, Tenant};

const DEFAULT_ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

#[tokio::test]
async fn only_the_route_s_methods_are_forwarded_and_others_get_405_with_allow() {
    let tenant = Tenant::start().await;
    let dav = format!(
        "\n[[gateway.routes]]\nprefix = \"/dav\"\nupstream = \"{{LEGACY_API}}/api\"\naudiences = [\"{AUDIENCE}\"]\nmethods = [\"GET\", \"PROPFIND\"]\n"
    );
    let app = TestApp::spawn_with(&sections(&tenant, "", "", &dav)).await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    let send = |method: &str, path: &str| {
        reqwest::Client::new()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                url(&app, path),
            )
            .bearer_auth(&token)
            .send()
    };
    for method in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        assert_eq!(
            send(method, "/orders/x").await.expect("send").status(),
            200,
            "{method}"
        );
    }
    for method in ["TRACK", "PROPFIND", "get", "DEBUG", "TRACE"] {
        let r = send(method, "/orders/x").await.expect("send");
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(r.headers()["allow"], DEFAULT_ALLOW, "{method}");
    }
    // A route that names its own.
    let r = send("PROPFIND", "/dav/x").await.expect("send");
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("json");
    assert_eq!(seen["method"], "PROPFIND");
    let r = send("POST", "/dav/x").await.expect("send");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, PROPFIND");
    assert!(
        app.metrics_text()
            .contains("event=\"gateway_refusal\",reason=\"method\""),
        "refusals by method are counted"
    );
}

/// A generated id: 16 hex digits, `-`, 16 hex digits.
fn generated(id: &str) -> bool {
    id.len() == 33
        && id.char_indices().all(|(i, c)| {
            if i == 16 {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The id the gateway answered with and the one the API received, for a
/// request carrying `id`.
async fn ids_through_gateway(app: &TestApp, token: &str, id: &[u8]) -> (String, String) {
    let r = reqwest::Client::new()
        .get(url(app, "/orders/id"))
        .bearer_auth(token)
        .header(
            "x-request-id",
            reqwest::header::HeaderValue::from_bytes(id).expect("value"),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let answered = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let seen: Value = r.json().await.expect("json");
    let upstream = seen["headers"]["x-request-id"]
        .as_str()
        .expect("an id upstream")
        .to_owned();
    (answered, upstream)
}

/// Ids no one should believe: too long, or with characters outside
/// `[A-Za-z0-9._-]` (log and header injection, non-ASCII).
const UNACCEPTABLE: [&[u8]; 5] = [
    b"0123456789012345678901234567890123456789012345678901234567890123456789",
    b"a b",
    b"id\"} {\"level\":\"ERROR",
    b"<script>",
    b"caf\xc3\xa9",
];

#[tokio::test]
async fn a_client_s_request_id_is_believed_only_from_a_trusted_proxy_and_in_a_bounded_form() {
    let tenant = Tenant::start().await;
    // From a client: never kept, whatever its form.
    let app = gateway(&tenant, "", "").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    let (answered, upstream) = ids_through_gateway(&app, &token, b"chosen-by-client").await;
    assert!(generated(&answered), "{answered}");
    assert_eq!(
        upstream, answered,
        "one id: the log's, the answer's, the API's"
    );
    // From a trusted proxy: kept when bounded, else replaced.
    let proxied = gateway(&tenant, "", "trusted_proxies = [\"127.0.0.0/8\"]").await;
    let _ = signed_in(&proxied).await;
    let (answered, upstream) = ids_through_gateway(&proxied, &token, b"edge-42_a.B").await;
    assert_eq!(
        (answered.as_str(), upstream.as_str()),
        ("edge-42_a.B", "edge-42_a.B")
    );
    for id in UNACCEPTABLE {
        let (answered, upstream) = ids_through_gateway(&proxied, &token, id).await;
        assert!(generated(&answered), "{id:?} -> {answered}");
        assert_eq!(upstream, answered);
    }
}

#[tokio::test]
async fn the_provider_s_listener_follows_the_same_request_id_rule() {
    let ids = |app: &TestApp, id: &'static [u8]| {
        let health = format!("{}/healthz", app.issuer);
        async move {
            let r = reqwest::Client::new()
                .get(health)
                .header(
                    "x-request-id",
                    reqwest::header::HeaderValue::from_bytes(id).expect("value"),
                )
                .send()
                .await
                .expect("send");
            r.headers()["x-request-id"]
                .to_str()
                .expect("ascii")
                .to_owned()
        }
    };
    let app = TestApp::spawn().await;
    assert!(generated(&ids(&app, b"chosen-by-client").await));
    let proxied = TestApp::spawn_with("[throttle]\ntrusted_proxies = [\"127.0.0.1\"]\n").await;
    assert_eq!(ids(&proxied, b"edge-42").await, "edge-42");
    for id in UNACCEPTABLE {
        assert!(generated(&ids(&proxied, id).await), "{id:?}");
    }
}
