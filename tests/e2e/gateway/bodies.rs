//! Bodies: streamed both ways at flat memory; an upload may take longer than
//! the response timeout while it flows; the client's body must be
//! well-formed (else 400, not 502) and keep up a minimum rate once it has
//! had `body_read_timeout_ms` (else 408, however often it sends a byte) —
//! the client's faults, logged below ERROR.

use std::future::Future as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{gateway, gateway_addr, get, raw, sections, signed_in, url};
use crate::support::TestApp;
use crate::token_exchange::Tenant;

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

/// A body that sends `chunks` of `size` bytes, one every `every`.
struct Trickle {
    chunks: u32,
    size: usize,
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
            vec![b'x'; self.size],
        )))))
    }
}

#[tokio::test]
async fn an_upload_that_flows_longer_than_the_response_timeout_is_not_cut() {
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "idle_timeout_ms = 1000").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    // 2.5 s of upload against a 1.5 s response timeout, a chunk every 100 ms.
    let flowing = axum::body::Body::new(Trickle {
        chunks: 25,
        size: 1024,
        every: Duration::from_millis(100),
        sleep: None,
    });
    let response = upload(&app, &token, flowing).await.expect("upload");
    assert_eq!(uploaded_bytes(response).await, 25 * 1024);
    // A body the client stops sending is cut after the idle limit: the
    // client's fault, 408.
    let stalled = axum::body::Body::new(Trickle {
        chunks: 2,
        size: 1024,
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
        assert_eq!(response.status(), 408);
    }
}

/// Collects the log lines written while it is set (the test's runtime runs
/// the bridge's tasks on this thread).
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_malformed_chunked_body_is_the_client_s_400_and_not_an_error_in_the_log() {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let logs = logs.clone();
        move || Logs(logs.clone())
    };
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(writer)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let tenant = Tenant::start().await;
    let app = gateway(&tenant, "", "").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    let addr = gateway_addr(&app);
    for body in [
        "5\r\nhello\r\nzz\r\n\r\n",
        "5\r\nhelloXY0\r\n\r\n",
        "ffffffffffffffffff\r\nx\r\n0\r\n\r\n",
    ] {
        let answer = raw(
            &app,
            &format!(
                "POST /orders/upload HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n{body}"
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{body:?}: {answer}");
        assert!(answer.contains("invalid_request"), "{body:?}: {answer}");
    }
    let logs = String::from_utf8(logs.lock().expect("lock").clone()).expect("utf-8");
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let refused: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request refused")
        .collect();
    assert!(
        refused
            .iter()
            .any(|l| l["fields"]["status"] == 400 && l["level"] == "INFO"),
        "the refusal is logged, at INFO:\n{logs}"
    );
    assert!(
        !lines.iter().any(|l| l["level"] == "ERROR"),
        "nothing at ERROR:\n{logs}"
    );
}

#[tokio::test]
async fn a_request_body_that_trickles_is_cut_at_the_body_deadline_with_408() {
    let tenant = Tenant::start().await;
    let app = TestApp::spawn_with(&format!(
        "body_read_timeout_ms = 600\n{}",
        sections(&tenant, "", "", "")
    ))
    .await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    let addr = gateway_addr(&app);
    // One byte every 300 ms: each resets the idle timer (60 s by default),
    // none buys the body much time.
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /orders/upload HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Length: 30\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        for _ in 0..30 {
            if writer.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), reader.read_to_end(&mut answer)).await;
    let took = started.elapsed();
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "after {took:?}: {answer}"
    );
    assert!(took < Duration::from_millis(2500), "cut after {took:?}");

    // A body that keeps up the minimum rate may take longer than the deadline.
    let flowing = axum::body::Body::new(Trickle {
        chunks: 15,
        size: 4096,
        every: Duration::from_millis(100),
        sleep: None,
    });
    let response = upload(&app, &token, flowing).await.expect("upload");
    assert_eq!(uploaded_bytes(response).await, 15 * 4096);
}
