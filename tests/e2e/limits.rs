//! Request size limits: oversized bodies (413), request targets (414) and
//! headers (431) are refused before any handler runs, with the security
//! headers, and the bridge keeps serving.

use idp_bridge::app::{MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_URI_BYTES};

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
