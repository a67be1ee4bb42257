//! Request size limits: oversized bodies (413), request targets (414) and
//! headers (431) are refused before any handler runs, with the security
//! headers, and the bridge keeps serving.

use idp_bridge::app::middleware::{MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_URI_BYTES};

use crate::support::TestApp;

#[tokio::test]
async fn oversized_bodies_targets_and_headers_are_refused() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::new();

    let body = format!(
        "grant_type=authorization_code&code={}",
        "a".repeat(MAX_BODY_BYTES)
    );
    let response = client
        .post(format!("{}/token", app.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status(), 413, "token body over the limit");
    let response = client
        .post(format!("{}/login", app.issuer))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username={}", "u".repeat(MAX_BODY_BYTES)))
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status(), 413, "login body over the limit");

    let mut params = app.params();
    params.push(("state".into(), "s".repeat(MAX_URI_BYTES)));
    let response = client
        .get(app.authorize_url(&params))
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status(), 414);
    assert_eq!(response.headers()["x-frame-options"], "DENY");

    let response = client
        .get(format!("{}/userinfo", app.issuer))
        .header("x-padding", "p".repeat(MAX_HEADER_BYTES))
        .send()
        .await
        .expect("reachable");
    assert_eq!(response.status(), 431);

    // Within the limits all is well: a 2 KiB state still works end to end.
    let mut params = app.params();
    params[4].1 = "s".repeat(2048);
    let callback = app.login(&params).await;
    assert_eq!(callback.param("state").map(|s| s.len()), Some(2048));
    assert_eq!(app.redeem(&callback.code()).await.status(), 200);
}

#[tokio::test]
async fn a_client_that_dribbles_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = TestApp::spawn_with("header_read_timeout_ms = 500\n").await;
    let addr = app.issuer.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n")
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(read.is_ok(), "the bridge closed the connection");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "within the header read timeout: {:?}",
        started.elapsed()
    );
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "no answer to an unfinished request"
    );
    let ok = reqwest::get(format!("{}/healthz", app.issuer))
        .await
        .expect("reachable");
    assert_eq!(ok.status(), 200, "others are served meanwhile");
}
