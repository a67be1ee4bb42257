//! `idp-bridge demo` end to end: a browser clicks "Log in" on the stand-in
//! relying party, signs in on the bridge, and lands on a page showing the
//! verified ID token claims, the legacy token and the legacy API's answer.

use crate::support::{TestApp, submit_login_at};

#[tokio::test]
async fn the_demo_logs_a_person_in_and_shows_the_legacy_apis_answer() {
    let dir = tempfile::tempdir().expect("dir");
    let demo = idp_bridge::app::demo::Demo::start("127.0.0.1:0", dir.path())
        .await
        .expect("demo starts");
    let rp = demo.rp_url.clone();
    let issuer = demo.issuer.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(demo.run_until(async {
        let _ = rx.await;
    }));

    let browser = TestApp::browser();
    let home = browser
        .get(&rp)
        .send()
        .await
        .expect("rp")
        .text()
        .await
        .expect("html");
    assert!(home.contains("Log in"));
    let to_bridge = browser
        .get(format!("{rp}/login"))
        .send()
        .await
        .expect("rp login");
    let authorize = to_bridge.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(authorize.starts_with(&format!("{issuer}/authorize?")));
    let page = browser
        .get(&authorize)
        .send()
        .await
        .expect("authorize")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("alice / correct-horse"),
        "demo users are shown on the page"
    );
    let back = submit_login_at(&issuer, &browser, &page, "alice", "correct-horse").await;
    assert_eq!(back.status(), 303);
    let callback = back.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(callback.starts_with(&format!("{rp}/callback?")));
    let result = browser
        .get(&callback)
        .send()
        .await
        .expect("callback")
        .text()
        .await
        .expect("html");
    assert!(result.contains("Signed in."), "{result}");
    assert!(
        result.contains("&quot;sub&quot;: &quot;u-1001&quot;"),
        "claims shown"
    );
    assert!(result.contains("LT1.demo."), "the legacy token, untouched");
    assert!(
        result.contains("the legacy API accepted the token"),
        "{result}"
    );
    let _ = tx.send(());
    let _ = server.await;
}

#[test]
fn the_demo_removes_the_folder_it_made_when_it_stops() {
    use std::io::BufRead as _;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("TMPDIR", tmp.path())
        .env("IDP_BRIDGE_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("demo");
    let dir = tmp.path().join(format!("idp-bridge-demo-{}", child.id()));
    let stdout = child.stdout.take().expect("stdout");
    let ready = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("Press Ctrl-C"));
    assert!(ready, "the demo started");
    assert!(
        dir.join("storage.key").exists(),
        "it made {}",
        dir.display()
    );
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "a clean stop: {status}");
    assert!(!dir.exists(), "the demo's folder is gone");
}

#[tokio::test]
async fn the_demo_signs_in_on_the_legacy_idps_own_page_in_redirect_mode() {
    let dir = tempfile::tempdir().expect("dir");
    let demo = idp_bridge::app::demo::Demo::start_with(
        "127.0.0.1:0",
        dir.path(),
        idp_bridge::app::demo::DemoUpstream::Oidc,
    )
    .await
    .expect("demo starts");
    let rp = demo.rp_url.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(demo.run_until(async {
        let _ = rx.await;
    }));
    let browser = TestApp::browser();
    let follow = |response: &reqwest::Response| {
        url::Url::parse(response.headers()["location"].to_str().expect("ascii")).expect("url")
    };
    let to_bridge = browser.get(format!("{rp}/login")).send().await.expect("rp");
    let to_idp = browser
        .get(follow(&to_bridge))
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        to_idp.status(),
        303,
        "the bridge hands over to the legacy IdP"
    );
    let idp_page_url = follow(&to_idp);
    let html = browser
        .get(idp_page_url.clone())
        .send()
        .await
        .expect("idp page")
        .text()
        .await
        .expect("html");
    assert!(html.contains("Legacy Corp sign-in"), "{html}");
    let request = crate::support::hidden_field(&html, "request");
    let back = browser
        .post(idp_page_url.join("/oauth/authorize").expect("url"))
        .form(&[
            ("request", request.as_str()),
            ("username", "alice"),
            ("password", "correct-horse"),
            ("action", "login"),
        ])
        .send()
        .await
        .expect("idp form");
    let to_rp = browser.get(follow(&back)).send().await.expect("callback");
    let result = browser
        .get(follow(&to_rp))
        .send()
        .await
        .expect("rp callback")
        .text()
        .await
        .expect("html");
    assert!(result.contains("Signed in."), "{result}");
    assert!(result.contains("LT1.demo."), "the legacy token, untouched");
    assert!(
        result.contains("the legacy API accepted the token"),
        "{result}"
    );
    let _ = tx.send(());
    let _ = server.await;
}
