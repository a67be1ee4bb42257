//! Prometheus metrics on their own listener: requests by route template,
//! calls to the legacy IdP by outcome, audit events by reason; nothing on
//! the public listener, no secret in the exposition.

use crate::support::{OIDC_SECRET, TestApp};

/// The count in the sample `name{labels}` of an OpenMetrics text.
fn sample(text: &str, name_and_labels: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name_and_labels} in:\n{text}"))
}

#[tokio::test]
async fn a_login_a_failure_and_a_replay_are_counted_and_timed() {
    let app = TestApp::spawn_with("[metrics]\nlisten = \"127.0.0.1:0\"\n").await;
    let url = format!(
        "{}/metrics",
        app.metrics_url.as_deref().expect("metrics listener")
    );

    let wrong = app
        .attempt_login(&TestApp::browser(), "alice", "wrong")
        .await;
    assert_eq!(wrong.status(), 401);
    let code = app.login(&app.params()).await.code();
    let tokens: serde_json::Value = app.redeem(&code).await.json().await.expect("json");
    let token = tokens["access_token"].as_str().expect("token").to_owned();
    assert_eq!(app.redeem(&code).await.status(), 400, "replayed");

    let response = reqwest::get(&url).await.expect("metrics reachable");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.expect("text");
    let events = |event: &str, reason: &str| {
        sample(
            &text,
            &format!("idp_bridge_events_total{{event=\"{event}\",reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(events("login_success", "password"), 1);
    assert_eq!(events("login_failure", "invalid_credentials"), 1);
    assert_eq!(events("token_issued", ""), 1);
    assert_eq!(events("code_replay", ""), 1);
    assert_eq!(
        sample(
            &text,
            "idp_bridge_upstream_request_duration_seconds_count{operation=\"authenticate\",outcome=\"ok\"}"
        ),
        1
    );
    assert_eq!(
        sample(
            &text,
            "idp_bridge_upstream_request_duration_seconds_count{operation=\"authenticate\",outcome=\"invalid_credentials\"}"
        ),
        1
    );
    assert_eq!(
        sample(
            &text,
            "idp_bridge_http_request_duration_seconds_count{route=\"/token\",status=\"2xx\"}"
        ),
        1
    );
    assert_eq!(
        sample(
            &text,
            "idp_bridge_http_request_duration_seconds_count{route=\"/token\",status=\"4xx\"}"
        ),
        1
    );
    for secret in [
        token.as_str(),
        code.as_str(),
        OIDC_SECRET,
        "correct-horse",
        "u-1001",
    ] {
        assert!(
            !text.contains(secret),
            "no token, code, secret or subject in metrics"
        );
    }

    let public = reqwest::get(format!("{}/metrics", app.issuer))
        .await
        .expect("reachable");
    assert_eq!(public.status(), 404, "not on the public listener");
}

#[tokio::test]
async fn without_a_metrics_listener_nothing_is_served() {
    let app = TestApp::spawn().await;
    assert!(app.metrics_url.is_none());
    let public = reqwest::get(format!("{}/metrics", app.issuer))
        .await
        .expect("reachable");
    assert_eq!(public.status(), 404);
}
