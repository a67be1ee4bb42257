//! Framing, as a careless or hostile client and a stalling API see it: a
//! body the gateway must forward as a body and never as a request (both
//! framing headers, a GET with a body, chunked where none was expected,
//! HTTP/2 without a length); `Connection` naming the headers the gateway
//! sets itself; a response body that stops mid-way (cut at the idle limit)
//! or trickles (never cut); the legacy header made once per cache entry
//! going only to its route's header and scheme and its user.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::response::IntoResponse as _;
use bytes::Bytes;
use serde_json::{Value, json};

use super::{gateway_addr, raw, sections, signed_in, url};
use crate::support::TestApp;
use crate::token_exchange::{AUDIENCE, Tenant};

/// What the recording API received, one JSON value per request.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Value>>>);

impl Seen {
    fn all(&self) -> Vec<Value> {
        self.0.lock().expect("lock").clone()
    }
}

/// A response body: `chunks`, one every `every`, then the end, or, if
/// `stall`, nothing more (never woken).
struct Paced {
    chunks: Vec<&'static [u8]>,
    every: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    stall: bool,
}

impl http_body::Body for Paced {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.chunks.is_empty() {
            return if self.stall {
                Poll::Pending
            } else {
                Poll::Ready(None)
            };
        }
        let every = self.every;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.timer = None;
        let chunk = self.chunks.remove(0);
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(chunk)))))
    }
}

/// An API that records every request (`/paced/...` and `/stall/...` answer
/// with paced bodies instead of the record).
fn recorder(seen: Seen) -> axum::Router {
    axum::Router::new().fallback(move |request: axum::extract::Request| {
        let seen = seen.clone();
        async move {
            let (parts, body) = request.into_parts();
            let path = parts.uri.path().to_owned();
            let paced = |chunks: Vec<&'static [u8]>, every, stall| {
                axum::response::Response::new(axum::body::Body::new(Paced {
                    chunks,
                    every,
                    timer: None,
                    stall,
                }))
            };
            if path.ends_with("/stall/first") {
                return paced(vec![b"first"], Duration::ZERO, true);
            }
            if path.ends_with("/stall/none") {
                return paced(vec![], Duration::ZERO, true);
            }
            if path.ends_with("/paced") {
                return paced(vec![b"a"; 8], Duration::from_millis(200), false);
            }
            let (bytes, body_error) = match axum::body::to_bytes(body, 1 << 20).await {
                Ok(bytes) => (bytes, String::new()),
                Err(e) => (
                    Bytes::new(),
                    format!("{e}: {:?}", std::error::Error::source(&e)),
                ),
            };
            let mut headers = serde_json::Map::new();
            for name in parts.headers.keys() {
                let values: Vec<Value> = parts
                    .headers
                    .get_all(name)
                    .iter()
                    .map(|v| Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                    .collect();
                headers.insert(name.as_str().to_owned(), Value::Array(values));
            }
            let record = json!({
                "method": parts.method.as_str(),
                "path": path,
                "headers": headers,
                "body": String::from_utf8_lossy(&bytes),
                "body_error": body_error,
            });
            seen.0.lock().expect("lock").push(record.clone());
            axum::Json(record).into_response()
        }
    })
}

/// A gateway with `/rec` (the default `Authorization: Bearer`) and `/lt1`
/// (`X-Legacy: LT1 …`) to a recording API, and `gateway_extra`.
async fn recorded(
    gateway_extra: &str,
) -> (idp_bridge::reference::RunningServer, Seen, Tenant, TestApp) {
    let seen = Seen::default();
    let server = idp_bridge::reference::RunningServer::bind("127.0.0.1:0", recorder(seen.clone()))
        .await
        .expect("upstream");
    let api = server.url();
    let tenant = Tenant::start().await;
    let routes = format!(
        r#"
[[gateway.routes]]
prefix = "/rec"
upstream = "{api}/rec"
audiences = ["{AUDIENCE}"]

[[gateway.routes]]
prefix = "/lt1"
upstream = "{api}/lt1"
audiences = ["{AUDIENCE}"]
header = "X-Legacy"
scheme = "LT1"
"#
    );
    let app = TestApp::spawn_with(&sections(&tenant, "", gateway_extra, &routes)).await;
    (server, seen, tenant, app)
}

/// The one value of `name` the API saw in `record`, if one.
fn one<'a>(record: &'a Value, name: &str) -> Option<&'a str> {
    let values = record["headers"].get(name)?.as_array()?;
    assert_eq!(
        values.len(),
        1,
        "{name} sent {} times: {record}",
        values.len()
    );
    values[0].as_str()
}

const SMUGGLED: &str = "GET /rec/smuggled HTTP/1.1\r\nHost: api\r\n\r\n";

#[tokio::test]
async fn a_body_is_forwarded_as_a_body_and_never_as_another_request() {
    let (_server, seen, tenant, app) = recorded("").await;
    let legacy = signed_in(&app).await;
    let token = tenant.token(&[]);
    let addr = gateway_addr(&app);
    let head = |method: &str, path: &str, framing: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n{framing}Connection: close\r\n\r\n"
        )
    };
    // A GET with a body of its own length: the body, not a request.
    let answer = raw(
        &app,
        &(head(
            "GET",
            "/rec/get-body",
            &format!("Content-Length: {}\r\n", SMUGGLED.len()),
        ) + SMUGGLED),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Chunked on a GET, where a body is seldom expected.
    let chunked = format!("{:x}\r\n{SMUGGLED}\r\n0\r\n\r\n", SMUGGLED.len());
    let answer = raw(
        &app,
        &(head("GET", "/rec/get-chunked", "Transfer-Encoding: chunked\r\n") + &chunked),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Both framings (RFC 9112 §6.3: chunked wins, or the request is refused):
    // the bytes past the chunked body's end are never a request upstream.
    let both = format!("0\r\n\r\n{SMUGGLED}");
    let answer = raw(
        &app,
        &(head(
            "POST",
            "/rec/both",
            &format!(
                "Content-Length: {}\r\nTransfer-Encoding: chunked\r\n",
                both.len()
            ),
        ) + &both),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    // `Connection` naming Content-Length on a POST with a body.
    let answer = raw(
        &app,
        &(head(
            "POST",
            "/rec/named-length",
            &format!(
                "Content-Length: {}\r\nConnection: content-length, transfer-encoding\r\n",
                SMUGGLED.len()
            ),
        ) + SMUGGLED),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let records = seen.all();
    let paths: Vec<&str> = records.iter().filter_map(|r| r["path"].as_str()).collect();
    assert!(
        !paths.iter().any(|p| p.contains("smuggled")),
        "a body became a request upstream: {paths:?}"
    );
    let body_of = |path: &str| {
        records
            .iter()
            .find(|r| r["path"] == path)
            .map(|r| r["body"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(
        body_of("/rec/get-body").as_deref(),
        Some(SMUGGLED),
        "{records:#?}"
    );
    assert_eq!(body_of("/rec/get-chunked").as_deref(), Some(SMUGGLED));
    if let Some(both) = body_of("/rec/both") {
        assert_eq!(both, "", "chunked framing won: an empty body");
    }
    assert_eq!(
        body_of("/rec/named-length").as_deref(),
        Some(SMUGGLED),
        "{records:#?}"
    );
    for record in &records {
        assert_eq!(
            one(record, "authorization"),
            Some(format!("Bearer {legacy}").as_str()),
            "{record}"
        );
    }
}

#[tokio::test]
async fn an_http2_body_without_a_length_reaches_the_api_whole_whatever_the_method() {
    let (_server, seen, tenant, app) = recorded("").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    let client: hyper_util::client::legacy::Client<_, axum::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .http2_only(true)
            .build_http();
    for method in [http::Method::POST, http::Method::GET] {
        let body = axum::body::Body::new(Paced {
            chunks: vec![SMUGGLED.as_bytes(), b"tail"],
            every: Duration::from_millis(10),
            timer: None,
            stall: false,
        });
        let request = http::Request::builder()
            .method(method.clone())
            .uri(url(&app, &format!("/rec/h2-{method}")))
            .header("authorization", format!("Bearer {token}"))
            .body(body)
            .expect("request");
        let response = client.request(request).await.expect("h2");
        assert_eq!(response.status(), 200, "{method}");
    }
    let records = seen.all();
    for method in ["POST", "GET"] {
        let record = records
            .iter()
            .find(|r| r["path"] == format!("/rec/h2-{method}"))
            .expect("forwarded");
        assert_eq!(record["body"], format!("{SMUGGLED}tail"), "{method}");
    }
    assert!(
        !records
            .iter()
            .any(|r| r["path"].as_str().unwrap_or("").contains("smuggled"))
    );
}

#[tokio::test]
async fn connection_cannot_name_away_or_double_the_headers_the_gateway_sets() {
    let (_server, seen, tenant, app) = recorded("").await;
    let legacy = signed_in(&app).await;
    let token = tenant.token(&[]);
    let addr = gateway_addr(&app);
    // Odd case, names repeated across two Connection headers, and the named
    // headers sent twice.
    let answer = raw(
        &app,
        &format!(
            "GET /rec/conn HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             CONNECTION: Authorization, X-FORWARDED-FOR,host\r\nconnection: x-legacy , X-Request-Id,, x-dup\r\n\
             X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1\r\n\
             X-Dup: 1\r\nX-Dup: 2\r\nX-Legacy: forged\r\nX-Kept: yes\r\n\
             Connection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // `Connection: close, Upgrade` with a WebSocket Upgrade but no key: a
    // refusal, never a half-upgrade upstream.
    let answer = raw(
        &app,
        &format!(
            "GET /rec/upgrade HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Connection: close, Upgrade\r\nUpgrade: websocket\r\n\r\n"
        ),
    )
    .await;
    assert!(
        answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    // And on the other route, the legacy header named in Connection.
    let answer = raw(
        &app,
        &format!(
            "GET /lt1/conn HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Connection: X-Legacy, close\r\nX-Legacy: forged\r\nX-Legacy: forged-again\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let records = seen.all();
    let conn = records
        .iter()
        .find(|r| r["path"] == "/rec/conn")
        .expect("forwarded");
    assert_eq!(
        one(conn, "authorization"),
        Some(format!("Bearer {legacy}").as_str())
    );
    assert_eq!(one(conn, "x-forwarded-for"), Some("127.0.0.1"), "{conn}");
    let host = one(conn, "host").expect("a Host");
    assert_ne!(host, addr, "the API's Host, not the gateway's");
    for gone in ["x-dup", "x-legacy", "connection"] {
        assert!(conn["headers"].get(gone).is_none(), "{gone}: {conn}");
    }
    assert_eq!(one(conn, "x-kept"), Some("yes"));
    if let Some(upgrade) = records.iter().find(|r| r["path"] == "/rec/upgrade") {
        assert!(upgrade["headers"].get("upgrade").is_none(), "{upgrade}");
    }
    let lt1 = records
        .iter()
        .find(|r| r["path"] == "/lt1/conn")
        .expect("forwarded");
    assert_eq!(one(lt1, "x-legacy"), Some(format!("LT1 {legacy}").as_str()));
    assert!(lt1["headers"].get("authorization").is_none(), "{lt1}");
}

#[tokio::test]
async fn the_legacy_header_made_once_goes_only_to_its_route_s_scheme_and_its_user() {
    let (_server, seen, tenant, app) = recorded("").await;
    let alice = signed_in(&app).await;
    let code = app
        .login_as(&app.params(), "bob", "battery-staple")
        .await
        .code();
    let answer: Value = app.redeem(&code).await.json().await.expect("json");
    let bob = answer["access_token"].as_str().expect("token").to_owned();
    assert_ne!(alice, bob);
    let alice_auth0 = tenant.token(&[]);
    let bob_auth0 = tenant.token(&[("sub", json!("oidc|legacy|u-1002"))]);
    let client = reqwest::Client::new();
    // Interleaved, concurrently: each route's header and scheme, each user's
    // token, whichever route made an entry's header first.
    let mut sends = tokio::task::JoinSet::new();
    for round in 0..6 {
        for (who, token) in [("alice", &alice_auth0), ("bob", &bob_auth0)] {
            for route in ["rec", "lt1"] {
                let request = client
                    .get(url(&app, &format!("/{route}/{who}/{round}")))
                    .bearer_auth(token)
                    .send();
                sends.spawn(request);
            }
        }
    }
    while let Some(response) = sends.join_next().await {
        assert_eq!(response.expect("task").expect("send").status(), 200);
    }
    let records = seen.all();
    assert_eq!(records.len(), 24);
    for record in &records {
        let path = record["path"].as_str().expect("path");
        let legacy = if path.contains("/alice/") {
            &alice
        } else {
            &bob
        };
        if path.starts_with("/rec/") {
            assert_eq!(
                one(record, "authorization"),
                Some(format!("Bearer {legacy}").as_str()),
                "{path}"
            );
            assert!(record["headers"].get("x-legacy").is_none(), "{path}");
        } else {
            assert_eq!(
                one(record, "x-legacy"),
                Some(format!("LT1 {legacy}").as_str()),
                "{path}"
            );
            assert!(record["headers"].get("authorization").is_none(), "{path}");
        }
    }
}

/// Reads `response`'s body until it ends or fails: the bytes, whether it
/// failed, and when.
async fn drain(mut response: reqwest::Response) -> (Vec<u8>, bool, Instant) {
    let mut bytes = Vec::new();
    loop {
        let Ok(next) = tokio::time::timeout(Duration::from_secs(6), response.chunk()).await else {
            panic!("the body was still open after 6 s (idle limit 500 ms): {bytes:?}");
        };
        match next {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => return (bytes, false, Instant::now()),
            Err(_) => return (bytes, true, Instant::now()),
        }
    }
}

#[tokio::test]
async fn a_response_body_that_stalls_is_cut_at_the_idle_limit_and_one_that_trickles_is_not() {
    let (_server, _seen, tenant, app) = recorded("idle_timeout_ms = 500").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    let client = reqwest::Client::new();
    for (path, first) in [
        ("/rec/stall/first", &b"first"[..]),
        ("/rec/stall/none", &b""[..]),
    ] {
        let started = Instant::now();
        let response = client
            .get(url(&app, path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("headers");
        assert_eq!(response.status(), 200, "{path}");
        let (bytes, failed, ended) = drain(response).await;
        assert_eq!(bytes, first, "{path}");
        assert!(failed, "{path}: a stalled body must not look complete");
        let took = ended - started;
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_secs(4),
            "{path}: cut after {took:?}"
        );
    }
    // A byte every 200 ms for 1.6 s: each one restarts the 500 ms limit.
    let response = client
        .get(url(&app, "/rec/paced"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("headers");
    assert_eq!(response.status(), 200);
    let (bytes, failed, _) = drain(response).await;
    assert!(!failed, "a trickling body was cut: {bytes:?}");
    assert_eq!(bytes, b"aaaaaaaa");
}
