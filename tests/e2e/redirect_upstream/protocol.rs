//! The redirect adapters' protocol edges: the callback's `iss` (RFC 9207),
//! the hints passed upstream, the legacy IdP's `auth_time`, and offline
//! access (OIDC Core §11).

use std::time::Duration;

use super::{Journey, location, param, redeem_json, sign_in, spawn, spawn_upstream};
use crate::restart::serve_logging_json;
use crate::support::{REFRESHER_SECRET, TestApp, jwt_claims};

/// `url` with the parameter `name` set to `value`, or removed.
fn with_param(url: &url::Url, name: &str, value: Option<&str>) -> url::Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .chain(value.map(|v| (name.to_owned(), v.to_owned())))
        .collect();
    let mut changed = url.clone();
    changed.query_pairs_mut().clear().extend_pairs(&pairs);
    changed
}

/// The oauth2 adapter with its `issuer` line changed (`None`: removed).
async fn oauth2_with_issuer(issuer: Option<&str>, extra: &str) -> TestApp {
    let issuer = issuer.map(str::to_owned);
    let extra = extra.to_owned();
    spawn_upstream(
        "oauth2",
        "",
        "",
        |_| {},
        move |upstream| {
            upstream
                .lines()
                .filter_map(|line| match (line.starts_with("issuer = "), &issuer) {
                    (false, _) => Some(line.to_owned()),
                    (true, None) => None,
                    (true, Some(i)) => Some(format!("issuer = \"{i}\"")),
                })
                .collect::<Vec<_>>()
                .join("\n")
                .replace(
                    "[upstream.oauth2.claims]",
                    &format!("{extra}\n[upstream.oauth2.claims]"),
                )
        },
    )
    .await
}

/// The bridge's answer to the callback of a sign-in, as `change` alters it.
async fn callback_answer(
    app: &TestApp,
    change: impl FnOnce(&url::Url) -> url::Url,
) -> reqwest::Response {
    let journey = Journey::start(app, &app.params()).await;
    let callback = journey.callback_url().await;
    journey.back(&change(&callback)).await
}

#[tokio::test]
async fn a_response_from_another_issuer_is_refused() {
    for adapter in ["oidc", "oauth2"] {
        let app = spawn(adapter, "").await;
        let journey = Journey::start(&app, &app.params()).await;
        let callback = journey.callback_url().await;
        assert_eq!(
            param(&callback, "iss"),
            Some(app.legacy.idp_url()),
            "RFC 9207 iss"
        );
        let mixed = with_param(&callback, "iss", Some("https://evil.example"));
        let answer = journey.back(&mixed).await;
        assert_eq!(answer.status(), 400, "{adapter}: mix-up refused");
        let page = answer.text().await.expect("page");
        assert!(page.contains("cannot be completed"), "{page}");
    }
}

#[tokio::test]
async fn a_callback_without_iss_is_refused_when_the_legacy_idp_advertises_it() {
    let app = spawn("oidc", "").await;
    let answer = callback_answer(&app, |c| with_param(c, "iss", None)).await;
    assert_eq!(answer.status(), 400, "RFC 9207 §2.4: refused");
    let page = answer.text().await.expect("page");
    assert!(page.contains("cannot be completed"), "{page}");
    assert_eq!(
        app.legacy.idp.login_page().code_redemptions(),
        0,
        "the code never reached the legacy IdP"
    );
}

/// Accepted on purpose: a legacy IdP that neither advertises RFC 9207 nor
/// sends `iss` is most legacy IdPs; the state, the cookie and PKCE still
/// bind the callback to its sign-in.
#[tokio::test]
async fn a_callback_without_iss_is_accepted_from_a_legacy_idp_that_does_not_advertise_it() {
    let app = spawn("oidc", "").await;
    app.legacy.idp.login_page().set_response_iss(false);
    let journey = Journey::start(&app, &app.params()).await;
    let callback = journey.callback_url().await;
    assert_eq!(param(&callback, "iss"), None);
    let answer = journey.back(&callback).await;
    assert_eq!(answer.status(), 303);
    let code = param(&location(&answer), "code").expect("code");
    redeem_json(&app, &code).await;
}

#[tokio::test]
async fn oidc_with_require_iss_refuses_a_callback_without_it_even_if_not_advertised() {
    let app = spawn("oidc", "require_iss = true").await;
    app.legacy.idp.login_page().set_response_iss(false);
    let answer = callback_answer(&app, url::Url::clone).await;
    assert_eq!(answer.status(), 400);
}

#[tokio::test]
async fn oauth2_refuses_an_iss_it_cannot_check() {
    // No `issuer` configured, but the legacy IdP sends `iss`: the mix-up
    // defence cannot work, so the sign-in is refused until it is set.
    let app = oauth2_with_issuer(None, "").await;
    let answer = callback_answer(&app, url::Url::clone).await;
    assert_eq!(answer.status(), 400, "iss without a configured issuer");
    assert_eq!(app.legacy.idp.login_page().code_redemptions(), 0);
    // `issuer` is the value `iss` must have; oauth2 reads no discovery
    // there (this one has none), so it need not be a discovery URL.
    let elsewhere = format!("{}/not-discovery", app.legacy.idp_url());
    let app = oauth2_with_issuer(Some(&elsewhere), "").await;
    let answer = callback_answer(&app, url::Url::clone).await;
    assert_eq!(answer.status(), 400, "another issuer's iss");
    let answer = callback_answer(&app, |c| with_param(c, "iss", Some(&elsewhere))).await;
    assert_eq!(answer.status(), 303, "its own iss");
}

#[tokio::test]
async fn oauth2_requires_iss_only_when_told_to() {
    // Accepted on purpose: an OAuth 2.0 IdP has no discovery to advertise
    // RFC 9207, so a missing `iss` passes unless `require_iss` is set.
    let app = spawn("oauth2", "").await;
    let answer = callback_answer(&app, |c| with_param(c, "iss", None)).await;
    assert_eq!(answer.status(), 303, "no iss, not required");
    let app = spawn("oauth2", "require_iss = true").await;
    let answer = callback_answer(&app, |c| with_param(c, "iss", None)).await;
    assert_eq!(answer.status(), 400, "no iss, required");
    let answer = callback_answer(&app, url::Url::clone).await;
    assert_eq!(answer.status(), 303, "its own iss");
}

/// Runs `app`'s config as a real `idp-bridge serve` logging JSON (the
/// in-process bridge stopped first); returns the log path.
async fn serve_with_log(app: &mut TestApp) -> (crate::cluster::Child, std::path::PathBuf) {
    app.stop().await;
    let log = app.data_dir.path().join("bridge.log");
    let child = serve_logging_json(&app.config_path(), &log, "info");
    crate::cluster::wait_ready(&app.issuer).await;
    (child, log)
}

#[tokio::test]
async fn the_log_names_the_key_to_set_when_an_iss_cannot_be_checked() {
    let mut app = oauth2_with_issuer(None, "").await;
    let (_child, log) = serve_with_log(&mut app).await;
    let answer = callback_answer(&app, url::Url::clone).await;
    assert_eq!(answer.status(), 400);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = std::fs::read_to_string(&log).expect("logs");
    let cause = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["code"] == "error_page")
        .and_then(|l| l["fields"]["cause"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no refused page in:\n{logs}"));
    assert!(
        cause.contains("upstream.oauth2.issuer"),
        "the cause names the key: {cause}"
    );
}

#[tokio::test]
async fn sign_in_hints_are_passed_upstream() {
    for (adapter, prompt) in [("oidc", "login consent"), ("oauth2", "login")] {
        let app = spawn(adapter, "").await;
        let mut params = app.params();
        params.extend([
            ("prompt".into(), "login".into()),
            ("max_age".into(), "60".into()),
            ("login_hint".into(), "alice".into()),
            ("ui_locales".into(), "de".into()),
        ]);
        let journey = Journey::start(&app, &params).await;
        let up = &journey.upstream;
        assert_eq!(param(up, "prompt").as_deref(), Some(prompt), "{adapter}");
        assert_eq!(param(up, "max_age").as_deref(), Some("60"), "{adapter}");
        assert_eq!(param(up, "login_hint").as_deref(), Some("alice"));
        assert_eq!(param(up, "ui_locales").as_deref(), Some("de"), "{adapter}");
    }
}

/// The `auth_time` of the bridge's ID token for a code.
async fn auth_time_of(app: &TestApp, code: &str) -> i64 {
    let tokens = redeem_json(app, code).await;
    jwt_claims(tokens["id_token"].as_str().expect("id token"))["auth_time"]
        .as_i64()
        .expect("auth_time")
}

#[tokio::test]
async fn the_legacy_idps_auth_time_reaches_the_bridges_id_token_and_session() {
    for adapter in ["oidc", "oauth2"] {
        let app = spawn(adapter, "").await;
        // The legacy IdP reused a session an hour old.
        app.legacy.idp.login_page().set_session_age(Some(3600));
        let journey = Journey::start(&app, &app.params()).await;
        let callback = journey.callback_url().await;
        let answer = journey.back(&callback).await;
        let code = param(&location(&answer), "code").expect("code");
        let at = auth_time_of(&app, &code).await;
        let hour_ago = idp_bridge::util::clock::now_unix() - 3600;
        assert!((at - hour_ago).abs() <= 5, "{adapter}: auth_time {at}");
        // The login session has it too: max_age=600 asks for a new sign-in,
        // and prompt=none without it answers with the same auth_time.
        let mut params = app.params();
        params.extend([
            ("prompt".into(), "none".into()),
            ("max_age".into(), "600".into()),
        ]);
        let answer = app.authorize(&journey.browser, &params).await;
        let back = location(&answer);
        assert_eq!(
            param(&back, "error").as_deref(),
            Some("login_required"),
            "{adapter}: the session is an hour old"
        );
        params.pop();
        let answer = app.authorize(&journey.browser, &params).await;
        let code = param(&location(&answer), "code").expect("silent code");
        assert_eq!(auth_time_of(&app, &code).await, at, "{adapter}");
    }
}

#[tokio::test]
async fn an_auth_time_in_the_future_counts_as_now_and_none_as_now() {
    let app = spawn("oidc", "").await;
    let page = app.legacy.idp.login_page();
    page.set_session_age(Some(-3600));
    let before = idp_bridge::util::clock::now_unix();
    let at = auth_time_of(&app, &sign_in(&app, &app.params()).await.code()).await;
    assert!(
        at >= before && at <= idp_bridge::util::clock::now_unix(),
        "never in the future: {at}"
    );
    page.set_session_age(None);
    page.set_id_token_fault(idp_bridge::reference::legacy_oidc::IdTokenFault::SubOnly);
    let before = idp_bridge::util::clock::now_unix();
    let at = auth_time_of(&app, &sign_in(&app, &app.params()).await.code()).await;
    assert!(at >= before, "no auth_time: the callback's time");
}

/// Signs in for the `refresher` client (which may have refresh tokens);
/// returns its token answer.
async fn refresher_tokens(app: &TestApp) -> serde_json::Value {
    let mut params = app.params();
    for (k, v) in &mut params {
        if k == "client_id" {
            *v = "refresher".into();
        }
        if k == "scope" {
            *v = "openid profile email offline_access".into();
        }
    }
    let back = sign_in(app, &params).await;
    app.redeem_as("refresher", REFRESHER_SECRET, &back.code())
        .await
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn offline_access_is_asked_for_with_prompt_consent_so_a_refresh_token_comes_back() {
    let app = spawn("oidc", "").await;
    let journey = Journey::start(&app, &app.params()).await;
    let up = &journey.upstream;
    assert!(
        param(up, "scope").is_some_and(|s| s.split(' ').any(|s| s == "offline_access")),
        "{up}"
    );
    assert_eq!(
        param(up, "prompt").as_deref(),
        Some("consent"),
        "OIDC Core §11"
    );
    // The legacy IdP granted offline access: the grant renews there.
    let tokens = refresher_tokens(&app).await;
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    let before = app.legacy.idp.renewals();
    let renewed = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "refresher"),
            ("client_secret", REFRESHER_SECRET),
        ])
        .await;
    assert_eq!(renewed.status(), 200);
    assert_eq!(app.legacy.idp.renewals(), before + 1, "renewed upstream");
}

#[tokio::test]
async fn without_consent_offline_access_is_dropped_and_the_log_warns_once() {
    let mut app = spawn("oidc", "prompt_consent_for_offline_access = false").await;
    let journey = Journey::start(&app, &app.params()).await;
    assert_eq!(param(&journey.upstream, "prompt"), None);
    let (_child, log) = serve_with_log(&mut app).await;
    let tokens = refresher_tokens(&app).await;
    let access = tokens["access_token"].as_str().expect("access token");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = std::fs::read_to_string(&log).expect("logs");
    let warnings: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| {
            l["level"] == "WARN"
                && l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("no refresh token"))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "one warning per sign-in:\n{logs}");
    assert!(
        warnings[0].to_string().contains("offline_access"),
        "{}",
        warnings[0]
    );
    assert!(!logs.contains(access), "no token in the log");
}
