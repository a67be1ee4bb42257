//! What one browser holds and sees in redirect mode: its transaction
//! cookies stay bounded however many sign-ins it abandons, and every
//! refusal it can meet is the bridge's error page.

use std::sync::Arc;

use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::CONTENT_TYPE;

use super::{Journey, location, param, redeem_json, spawn};
use crate::support::TestApp;

/// A browser whose cookie jar the test can read.
fn browser_with_jar() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    (client, jar)
}

/// How many transaction cookies the browser would send the bridge.
fn transaction_cookies(jar: &Jar, app: &TestApp) -> usize {
    let url = url::Url::parse(&app.issuer).expect("issuer");
    jar.cookies(&url)
        .and_then(|v| v.to_str().map(str::to_owned).ok())
        .map_or(0, |header| header.matches("idp_bridge_tx_").count())
}

#[tokio::test]
async fn thirty_abandoned_sign_ins_leave_three_cookies_and_the_newest_still_completes() {
    let app = spawn("oidc", "").await;
    let (browser, jar) = browser_with_jar();
    // Auth0's own requests carry a long state and a nonce: each
    // transaction cookie is about 1.5 kB.
    let mut params = app.params();
    params.retain(|(k, _)| k != "state");
    params.extend([
        ("state".into(), "s".repeat(600)),
        ("nonce".into(), "n".repeat(64)),
    ]);
    let mut started = Vec::new();
    for n in 1..=30 {
        let answer = app.authorize(&browser, &params).await;
        assert_eq!(answer.status(), 303, "sign-in {n} starts");
        started.push(location(&answer));
    }
    // The browser is not locked out of the bridge (431 before).
    let page = browser
        .get(format!("{}/.well-known/openid-configuration", app.issuer))
        .send()
        .await
        .expect("discovery");
    assert_eq!(page.status(), 200);
    assert_eq!(transaction_cookies(&jar, &app), 3, "at most three kept");
    let journey = |upstream: &url::Url| Journey {
        browser: browser.clone(),
        upstream: upstream.clone(),
        cookie: String::new(),
    };
    // The newest tabs complete; the oldest kept one too.
    for upstream in [&started[29], &started[27]] {
        let tab = journey(upstream);
        let callback = tab.callback_url().await;
        let answer = tab.back(&callback).await;
        let status = answer.status();
        if status != 303 {
            let page = answer.text().await.unwrap_or_default();
            panic!("a recent sign-in completes: {status} {page}");
        }
        let code = param(&location(&answer), "code").expect("code");
        redeem_json(&app, &code).await;
    }
    // One past the bound lost its cookie: the page says to start again.
    let tab = journey(&started[26]);
    let callback = tab.callback_url().await;
    let answer = tab.back(&callback).await;
    assert_eq!(answer.status(), 400);
    assert!(
        answer
            .text()
            .await
            .expect("page")
            .contains("cannot be completed")
    );
}

#[tokio::test]
async fn a_login_post_with_missing_fields_gets_the_error_page() {
    let redirect = spawn("oidc", "").await;
    let password = TestApp::spawn().await;
    for (app, status, words) in [
        (&redirect, 404, "This sign-in page is not used"),
        (&password, 400, "This sign-in page expired"),
    ] {
        for form in [&[][..], &[("username", "alice")][..]] {
            let answer = TestApp::browser()
                .post(format!("{}/login", app.issuer))
                .form(form)
                .send()
                .await
                .expect("login");
            assert_eq!(answer.status(), status, "{form:?}");
            let html = answer.headers()[CONTENT_TYPE]
                .to_str()
                .is_ok_and(|t| t.starts_with("text/html"));
            assert!(html, "an HTML page");
            let page = answer.text().await.expect("page");
            assert!(page.contains(words), "{page}");
            assert!(!page.contains("missing field"), "no parser text: {page}");
        }
    }
}

/// Pins the errors table: in the browser that signed in, a replayed or an
/// expired sign-in finds no cookie (it was cleared, or its Max-Age ran
/// out), so both show "cannot be completed"; "already used" and "took too
/// long" are for a cookie presented from elsewhere.
#[tokio::test]
async fn a_browser_sees_cannot_be_completed_for_a_replayed_or_expired_sign_in() {
    let app = spawn("oidc", "transaction_seconds = 1").await;
    let journey = Journey::start(&app, &app.params()).await;
    let callback = journey.callback_url().await;
    assert_eq!(journey.back(&callback).await.status(), 303);
    let replay = journey.back(&callback).await;
    assert_eq!(replay.status(), 400);
    assert!(
        replay
            .text()
            .await
            .expect("page")
            .contains("cannot be completed")
    );
    let journey = Journey::start(&app, &app.params()).await;
    let callback = journey.callback_url().await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let late = journey.back(&callback).await;
    assert_eq!(late.status(), 400);
    assert!(
        late.text()
            .await
            .expect("page")
            .contains("cannot be completed")
    );
}
