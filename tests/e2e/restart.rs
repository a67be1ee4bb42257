//! A restart loses nothing: a code issued before it is redeemable after it,
//! a grant's token still works at userinfo, the signing key is the same —
//! for a graceful restart and for `kill -9` of a real process. SIGTERM (what
//! systemd, Kubernetes and podman send) stops accepting at once and lets a
//! request in flight finish before the process exits 0.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cluster::{Child, spawn_instance, wait_ready};
use crate::support::{OIDC_SECRET, TestApp, get_json};
use idp_bridge::reference::legacy_idp::Faults;

#[tokio::test]
async fn a_graceful_restart_keeps_codes_grants_and_keys() {
    let mut app = TestApp::spawn().await;
    let jwks_before: serde_json::Value = get_json(&format!("{}/jwks", app.issuer)).await;
    let code = app.login(&app.params()).await.code();
    let other_code = app.login(&app.params()).await.code();
    let token = app
        .redeem(&other_code)
        .await
        .json::<serde_json::Value>()
        .await
        .expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    app.restart().await;

    let jwks_after: serde_json::Value = get_json(&format!("{}/jwks", app.issuer)).await;
    assert_eq!(jwks_before, jwks_after, "same signing key");
    assert_eq!(
        app.redeem(&code).await.status(),
        200,
        "a code issued before the restart"
    );
    assert_eq!(
        app.userinfo(&token).await.status(),
        200,
        "a grant issued before the restart"
    );
}

#[tokio::test]
async fn kill_9_loses_no_code_grant_or_key() {
    // The in-process app picks the port and writes the config; it is then
    // stopped and a real process serves the same config and data.
    let mut app = TestApp::spawn().await;
    app.restart().await; // proves the port can be rebound
    let config = app.config_path();
    let issuer = app.issuer.clone();
    app.stop().await;

    let spawn = || spawn_instance(&config);
    let mut child = spawn();
    wait_ready(&issuer).await;
    let code = app.login(&app.params()).await.code();
    let other = app.login(&app.params()).await.code();
    let token = app
        .redeem(&other)
        .await
        .json::<serde_json::Value>()
        .await
        .expect("json")["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let jwks: serde_json::Value = get_json(&format!("{issuer}/jwks")).await;

    child.0.kill().expect("kill -9"); // SIGKILL: no graceful anything
    let _ = child.0.wait();
    drop(child);
    let _child = spawn();
    wait_ready(&issuer).await;

    assert_eq!(
        app.redeem(&code).await.status(),
        200,
        "the code survived kill -9"
    );
    assert_eq!(
        app.userinfo(&token).await.status(),
        200,
        "the grant survived kill -9"
    );
    let after: serde_json::Value = get_json(&format!("{issuer}/jwks")).await;
    assert_eq!(jwks, after, "the key survived kill -9");
}

/// A real `idp-bridge serve` on `config`, logging JSON at `level` to `log`.
pub fn serve_logging_json(config: &std::path::Path, log: &std::path::Path, level: &str) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    Child(
        Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
            .args(["serve", "--config"])
            .arg(config)
            .env("IDP_BRIDGE_LOG", level)
            .env("IDP_BRIDGE_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start the bridge"),
    )
}

#[tokio::test]
async fn logs_of_a_full_flow_hold_no_secret() {
    let mut app = TestApp::spawn().await;
    app.stop().await;
    let log_path = app.data_dir.path().join("bridge.log");
    let _child = serve_logging_json(&app.config_path(), &log_path, "debug");
    wait_ready(&app.issuer).await;
    let callback = app.login(&app.params()).await;
    let code = callback.code();
    let answer: serde_json::Value = app.redeem(&code).await.json().await.expect("json");
    let token = answer["access_token"].as_str().expect("token").to_owned();
    assert_eq!(app.userinfo(&token).await.status(), 200);
    let browser = TestApp::browser();
    let refused = app
        .attempt_login(&browser, "alice", "wrong-password-SECRET")
        .await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        app.redeem(&code).await.status(),
        400,
        "replay, logged as an event"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logs = std::fs::read_to_string(&log_path).expect("logs");
    // Audit events: structured, on the `audit` target, inside a request span
    // that names the request id and the client.
    let events: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "audit")
        .collect();
    let find = |name: &str| {
        events
            .iter()
            .find(|e| e["fields"]["event"] == name)
            .unwrap_or_else(|| panic!("no {name} event in:\n{logs}"))
    };
    let success = find("login_success");
    assert_eq!(success["fields"]["subject"], "u-1001");
    let spans = success["spans"].to_string();
    assert!(
        spans.contains("\"request_id\":\"") && spans.contains("auth0-oidc"),
        "request id and client in the span: {spans}"
    );
    assert_eq!(
        find("login_failure")["fields"]["reason"],
        "invalid_credentials"
    );
    assert_eq!(find("token_issued")["fields"]["client_id"], "auth0-oidc");
    assert_eq!(find("code_replay")["fields"]["client_id"], "auth0-oidc");
    assert!(
        !logs.contains("SessionStore::create"),
        "sessions are created by the store's own insert, not the default"
    );
    let storage_key =
        std::fs::read_to_string(app.data_dir.path().join("storage.key")).expect("key");
    for (what, secret) in [
        ("password", "correct-horse"),
        ("wrong password", "wrong-password-SECRET"),
        ("legacy token", token.as_str()),
        ("client secret", OIDC_SECRET),
        ("authorization code", code.as_str()),
        ("storage key", storage_key.trim()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}

#[tokio::test]
async fn each_refusal_is_logged_once_with_its_code_and_no_secret() {
    let mut app = TestApp::spawn().await;
    app.stop().await;
    let log_path = app.data_dir.path().join("refusals.log");
    let _child = serve_logging_json(&app.config_path(), &log_path, "info");
    wait_ready(&app.issuer).await;
    let unknown_code = "an-unknown-code-SECRET";
    assert_eq!(app.redeem(unknown_code).await.status(), 400);
    assert_eq!(app.userinfo("an-unknown-token-SECRET").await.status(), 401);
    let page = reqwest::get(format!("{}/authorize?client_id=nobody", app.issuer))
        .await
        .expect("authorize");
    assert_eq!(page.status(), 400);
    let page_request_id = page.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let page = page.text().await.expect("page");
    let wrong_uri = reqwest::get(format!(
        "{}/authorize?client_id=auth0-oidc&redirect_uri=https://evil.example.com/cb&response_type=code&scope=openid",
        app.issuer
    ))
    .await
    .expect("authorize");
    assert_eq!(wrong_uri.status(), 400);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logs = std::fs::read_to_string(&log_path).expect("logs");
    let refusals: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["fields"]["message"] == "request refused"
                || l["fields"]["message"] == "request failed"
        })
        .collect();
    let with_code = |code: &str| {
        refusals
            .iter()
            .filter(|r| r["fields"]["code"] == code)
            .collect::<Vec<_>>()
    };
    let grant = with_code("invalid_grant");
    assert_eq!(grant.len(), 1, "one line for the refused code:\n{logs}");
    assert_eq!(
        grant[0]["fields"]["description"],
        "the authorization code is invalid"
    );
    assert!(
        grant[0]["span"]["request_id"].is_string(),
        "inside the request span: {}",
        grant[0]
    );
    assert_eq!(with_code("invalid_token").len(), 1, "{logs}");
    let pages = with_code("error_page");
    assert_eq!(pages.len(), 2, "{logs}");
    let reference = pages[0]["fields"]["reference"].as_str().expect("reference");
    assert!(
        page.contains(reference),
        "the page shows the logged reference"
    );
    assert_eq!(
        reference, page_request_id,
        "the reference is the x-request-id"
    );
    assert_eq!(pages[0]["span"]["request_id"], page_request_id);
    let cause = pages[0]["fields"]["cause"].as_str().expect("cause");
    assert!(
        cause.starts_with(
            "invalid authorization request: client_id \"nobody\" is not registered (registered: "
        ) && cause.contains("\"auth0-oidc\""),
        "{cause}"
    );
    let cause = pages[1]["fields"]["cause"].as_str().expect("cause");
    assert!(
        cause.contains("client \"auth0-oidc\": redirect_uri \"https://evil.example.com/cb\" is not one of the registered \"https://"),
        "the sent and the registered URIs are named: {cause}"
    );
    assert!(!logs.contains("SECRET"), "no presented secret in the logs");
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut app = TestApp::spawn().await;
    app.stop().await;
    let data = app.data_dir.path().join("fresh");
    let config = app.data_dir.path().join("fresh.toml");
    let text = app.config_text.replace(
        &format!("data_dir = \"{}\"", app.data_dir.path().display()),
        &format!("data_dir = \"{}\"", data.display()),
    );
    assert_ne!(text, app.config_text, "the data_dir line was found");
    std::fs::write(&config, text).expect("config");
    let _child = Child(
        Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("IDP_BRIDGE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start"),
    );
    wait_ready(&app.issuer).await;
    let code = app.login(&app.params()).await.code();
    assert_eq!(app.redeem(&code).await.status(), 200);
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data), 0o700, "the data directory");
    for file in ["bridge.db", "bridge.db-wal", "storage.key"] {
        let path = data.join(file);
        assert_eq!(mode(&path), 0o600, "{file}");
    }
}

#[tokio::test]
async fn under_https_the_session_cookie_is_host_prefixed() {
    let app = TestApp::spawn_with("[session]\nsecure_cookie = true\n").await;
    let browser = TestApp::browser();
    let answer = app.attempt_login(&browser, "alice", "correct-horse").await;
    assert_eq!(answer.status(), 303);
    let cookies: Vec<String> = answer
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.contains("idp_bridge_session="))
        .unwrap_or_else(|| panic!("a session cookie: {cookies:?}"));
    assert!(
        session.starts_with("__Host-idp_bridge_session=")
            && session.contains("Secure")
            && session.contains("Path=/")
            && !session.contains("Domain"),
        "{session}"
    );
}

#[tokio::test]
async fn a_failed_client_authentication_logs_which_check_failed_and_no_secret() {
    let mut app = TestApp::spawn().await;
    app.stop().await;
    let log_path = app.data_dir.path().join("client-auth.log");
    let _child = serve_logging_json(&app.config_path(), &log_path, "info");
    wait_ready(&app.issuer).await;
    let attempts = client_auth_attempts(&format!("{}/token", app.issuer));
    let count = attempts.len();
    for (what, request, _) in &attempts {
        let answer = request
            .try_clone()
            .expect("clonable")
            .send()
            .await
            .expect("token");
        assert_eq!(answer.status(), 401, "{what}");
        let body: serde_json::Value = answer.json().await.expect("json");
        assert_eq!(body["error"], "invalid_client", "{what}");
        assert_eq!(
            body["error_description"], "client authentication failed",
            "{what}: the client is told nothing more"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = std::fs::read_to_string(&log_path).expect("logs");
    let causes: Vec<String> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["code"] == "invalid_client")
        .map(|l| l["fields"]["cause"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(causes.len(), count, "one line per refusal:\n{logs}");
    for ((what, _, expected), cause) in attempts.iter().zip(&causes) {
        assert!(cause.contains(expected), "{what}: {cause}");
    }
    assert!(!logs.contains("SECRET"), "no presented secret in the logs");
    assert!(
        !logs.contains(OIDC_SECRET),
        "no configured secret in the logs"
    );
}

/// Token requests that each fail client authentication in their own way:
/// what is tried, the request, and what the log line's cause must say.
fn client_auth_attempts(token: &str) -> Vec<(&'static str, reqwest::RequestBuilder, &'static str)> {
    use base64::Engine as _;
    let http = reqwest::Client::new();
    let basic = |id: &str, secret: &str| {
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", encode(id), encode(secret));
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    vec![
        (
            "a wrong secret",
            http.post(token).form(&[
                ("grant_type", "authorization_code"),
                ("code", "c"),
                ("client_id", "auth0-oidc"),
                ("client_secret", "wrong-SECRET-1"),
            ]),
            "client \"auth0-oidc\" sent a wrong client secret",
        ),
        (
            "an unknown client",
            http.post(token).form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "nobody"),
                ("client_secret", "wrong-SECRET-2"),
            ]),
            "client_id \"nobody\" is not registered (registered: ",
        ),
        (
            "no credentials",
            http.post(token).form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "auth0-oidc"),
            ]),
            "no client credentials",
        ),
        (
            "Basic for a post-only client",
            http.post(token)
                .header(
                    "authorization",
                    basic("auth0-oauth2", crate::support::OAUTH2_SECRET),
                )
                .form(&[("grant_type", "authorization_code")]),
            "client \"auth0-oauth2\" may not use client_secret_basic (allowed: client_secret_post)",
        ),
        (
            "Basic and form naming different clients",
            http.post(token)
                .header("authorization", basic("auth0-oidc", OIDC_SECRET))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", "auth0-oauth2"),
                ]),
            "the form's client_id \"auth0-oauth2\" is not the Basic header's \"auth0-oidc\"",
        ),
        (
            "a malformed assertion",
            http.post(token).form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "auth0-oidc"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", "not-a-jwt-SECRET-3"),
            ]),
            "private_key_jwt: the assertion is not a JWT",
        ),
    ]
}

#[tokio::test]
async fn sigterm_drains_a_login_in_flight_and_exits_0() {
    let mut app = TestApp::spawn().await;
    let config = app.config_path();
    let issuer = app.issuer.clone();
    app.stop().await;
    let mut child = spawn_instance(&config);
    wait_ready(&issuer).await;

    let browser = TestApp::browser();
    let page = app
        .authorize(&browser, &app.params())
        .await
        .text()
        .await
        .expect("html");
    // The legacy IdP answers after 800 ms (under the adapter's 1 s timeout),
    // so the login is in flight when SIGTERM arrives.
    app.legacy.idp.set_faults(Faults {
        latency_ms: 800,
        ..Faults::default()
    });
    let pid = child.0.id().to_string();
    let terminate = async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill(1)");
        assert!(sent.success());
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The listener is closed at once: new connections are refused.
        reqwest::get(format!("{issuer}/healthz")).await.is_err()
    };
    let (login, refused) = tokio::join!(
        app.submit_login(&browser, &page, "alice", "correct-horse"),
        terminate
    );
    assert!(refused, "no new connection is accepted after SIGTERM");
    assert_eq!(login.status(), 303, "the login in flight finished");
    assert!(
        login.headers()["location"]
            .to_str()
            .expect("location")
            .contains("code="),
        "with a code"
    );
    let mut status = None;
    for _ in 0..100 {
        status = child.0.try_wait().expect("wait");
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("the process exits within 10 s of SIGTERM");
    assert!(status.success(), "a graceful stop exits 0: {status}");
}
