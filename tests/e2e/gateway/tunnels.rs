//! Tunnels: a `101` becomes one only when it is the WebSocket handshake the
//! client asked for (RFC 6455 §4.1, §4.2.2; RFC 9110 §15.2.2), so an API
//! that answers `101` to anything cannot hand the client a raw pipe past
//! the gateway's checks (the websocket-smuggling pattern); `CONNECT` is
//! refused whatever its target's form; a tunnel ends `cache_skew_seconds`
//! before its token expires.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{gateway, gateway_addr, gateway_at, raw, sections, signed_in, url};
use crate::support::TestApp;
use crate::token_exchange::Tenant;

/// The key of RFC 6455 §1.3's example; its accept value is
/// `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// What the stand-in API saw: each request head, and every byte that came
/// after its `101` (which a tunnel would carry).
#[derive(Default)]
struct Seen {
    heads: Vec<String>,
    after: Vec<u8>,
}

/// A stand-in API on raw TCP that answers every request with `answer` (a
/// `101` of some kind) and then keeps reading, as a tunnel's far end would.
async fn switching_api(answer: &'static str) -> (String, Arc<Mutex<Seen>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let end = buf.windows(4).position(|w| w == b"\r\n\r\n").expect("end") + 4;
                {
                    let mut seen = record.lock().expect("lock");
                    seen.heads
                        .push(String::from_utf8_lossy(&buf[..end]).into_owned());
                    seen.after.extend_from_slice(&buf[end..]);
                }
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                loop {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => record
                            .lock()
                            .expect("lock")
                            .after
                            .extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (url, seen)
}

/// Asks for a WebSocket on `/ws/chat` with alice's token, then, on the same
/// connection, sends a request with no token at all. The gateway's answer
/// to the first (and whatever followed), and whether the connection ended.
async fn upgrade_then_smuggle(app: &crate::support::TestApp, token: &str) -> (String, bool) {
    let addr = gateway_addr(app);
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let upgrade = format!(
        "GET /ws/chat HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
    );
    stream.write_all(upgrade.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    // The smuggled request: no Authorization, a path no route allows.
    let _ = stream
        .write_all(b"GET /internal/admin HTTP/1.1\r\nHost: api\r\n\r\n")
        .await;
    let mut closed = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
            Err(_) => break,
        }
    }
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

#[tokio::test]
async fn a_101_that_is_not_the_websocket_handshake_asked_for_is_never_a_tunnel() {
    for (what, answer) in [
        (
            "no Upgrade header",
            "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n",
        ),
        (
            "another protocol",
            "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n",
        ),
        (
            "a wrong Sec-WebSocket-Accept",
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        ),
        (
            "no Sec-WebSocket-Accept",
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        ),
    ] {
        let (api, seen) = switching_api(answer).await;
        let (tenant, app) = gateway_at(&api, "/ws").await;
        let (answer, closed) = upgrade_then_smuggle(&app, &tenant.token(&[])).await;
        let seen = seen.lock().expect("lock");
        let after = String::from_utf8_lossy(&seen.after).into_owned();
        assert!(
            after.is_empty() && seen.heads.len() == 1,
            "{what}: the API got a request through the gateway's back: {after:?} (heads {:?})",
            seen.heads
        );
        assert!(
            answer.starts_with("HTTP/1.1 502"),
            "{what}: the client was answered {answer:?}"
        );
        assert!(
            answer.to_ascii_lowercase().contains("connection: close") && closed,
            "{what}: the connection was not closed: {answer:?}"
        );
        // The status line, not any "101" (a random request id can hold one).
        assert!(
            !answer.contains("HTTP/1.1 101") && !answer.contains("Switching Protocols"),
            "{what}: the client saw the 101: {answer:?}"
        );
    }
}

#[tokio::test]
async fn the_right_accept_value_makes_a_tunnel() {
    // The same stand-in, answering as RFC 6455 §1.3 does for KEY.
    let (api, seen) = switching_api(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    )
    .await;
    let (tenant, app) = gateway_at(&api, "/ws").await;
    let (answer, _) = upgrade_then_smuggle(&app, &tenant.token(&[])).await;
    assert!(answer.starts_with("HTTP/1.1 101"), "{answer}");
    // What follows a real handshake is the tunnel's: the far end gets it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = String::from_utf8_lossy(&seen.lock().expect("lock").after).into_owned();
    assert!(after.starts_with("GET /internal/admin"), "{after:?}");
}

#[tokio::test]
async fn a_websocket_upgrade_without_a_key_is_refused_before_the_api() {
    let (api, seen) = switching_api("HTTP/1.1 500 Unused\r\ncontent-length: 0\r\n\r\n").await;
    let (tenant, app) = gateway_at(&api, "/ws").await;
    let addr = gateway_addr(&app);
    let token = tenant.token(&[]);
    for key in ["", "Sec-WebSocket-Key: c2hvcnQ=\r\n"] {
        let answer = raw(
            &app,
            &format!(
                "GET /ws/chat HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n{key}\r\n"
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{key:?}: {answer}");
    }
    assert!(seen.lock().expect("lock").heads.is_empty());
}

#[tokio::test]
async fn connect_is_refused_with_405_whatever_the_target_form() {
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    for target in ["api.example.com:443", "/orders/x"] {
        let answer = raw(
            &app,
            &format!(
                "CONNECT {target} HTTP/1.1\r\nHost: api.example.com:443\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{target}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("\r\nallow: get, head"),
            "{target}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_tunnel_ends_cache_skew_seconds_before_its_token_expires() {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "cache_skew_seconds = 5").await;
    let _ = signed_in(&app).await;
    let exp = idp_bridge::util::clock::now_unix() + 8;
    let token = tenant.token(&[("exp", json!(exp))]);
    let opened = Instant::now();
    let (mut socket, status) = open_ws_with(&app, &token).await.expect("upgrade");
    assert_eq!(status, 101);
    let ended = loop {
        let alive = socket.send(Message::Text("ping".into())).await.is_ok()
            && matches!(
                tokio::time::timeout(Duration::from_secs(2), socket.next()).await,
                Ok(Some(Ok(Message::Text(_))))
            );
        if !alive {
            break opened.elapsed();
        }
        assert!(
            idp_bridge::util::clock::now_unix() < exp,
            "the tunnel outlived its token"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // exp − skew is 3 s away (± a second of clock granularity and the
    // watchdog's tick); the token itself is good for 8.
    assert!(
        ended > Duration::from_millis(1500) && ended < Duration::from_millis(5500),
        "closed after {ended:?}"
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
    open_ws_with(app, &tenant.token(&[])).await
}

/// Opens the reference API's WebSocket echo through the gateway with `token`.
async fn open_ws_with(
    app: &TestApp,
    token: &str,
) -> Result<(WebSocket, u16), tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let ws_url = url(app, "/orders/ws").replace("http://", "ws://");
    let mut request = ws_url.as_str().into_client_request()?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("header"),
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
