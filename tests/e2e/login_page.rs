//! The login page through a cookie-keeping browser: CSRF, the sealed
//! request, messages for each failure class, cookie flags, session id
//! cycling, security headers.

use idp_bridge::reference::legacy_idp::{FaultMode, Faults};

use crate::support::{TestApp, hidden_field};

async fn login_page(
    app: &TestApp,
    browser: &reqwest::Client,
) -> (reqwest::header::HeaderMap, String) {
    let response = app.authorize(browser, &app.params()).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, response.text().await.expect("html"))
}

#[tokio::test]
async fn the_page_is_accessible_and_sent_with_security_headers() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let (headers, html) = login_page(&app, &browser).await;
    assert!(
        html.contains("<label for=\"username\">") && html.contains("<label for=\"password\">"),
        "labelled fields"
    );
    assert!(html.contains("autocomplete=\"current-password\""));
    assert!(html.contains("<html lang=\"en\">"));
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let cookie = headers["set-cookie"].to_str().expect("ascii");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: no Secure flag"
    );
    let css = browser
        .get(format!("{}/static/style.css", app.issuer))
        .send()
        .await
        .expect("css");
    assert_eq!(css.status(), 200);
}

fn session_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("idp_bridge_session="))
        .expect("a session cookie at login")
        .to_owned()
}

#[tokio::test]
async fn login_starts_a_session_and_a_second_login_cycles_its_id() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let (_, html) = login_page(&app, &browser).await;
    let first = app
        .submit_login(&browser, &html, "alice", "correct-horse")
        .await;
    assert_eq!(first.status(), 303);
    let first = session_cookie(&first);
    assert!(
        first.contains("HttpOnly") && first.contains("SameSite=Lax") && !first.contains("Secure"),
        "{first}"
    );
    let (_, html) = login_page(&app, &browser).await;
    let second = app
        .submit_login(&browser, &html, "alice", "correct-horse")
        .await;
    assert_eq!(second.status(), 303);
    let second = session_cookie(&second);
    let id = |c: &str| c.split(';').next().expect("pair").to_owned();
    assert_ne!(id(&first), id(&second), "cycle_id after login");
}

#[tokio::test]
async fn missing_or_wrong_csrf_is_refused() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let (_, html) = login_page(&app, &browser).await;
    let request = hidden_field(&html, "request");
    for csrf in ["", "forged"] {
        let response = app
            .post_login(&browser, &request, csrf, "alice", "correct-horse")
            .await;
        assert_eq!(response.status(), 403);
    }
    // Another browser (no session cookie) with a valid-looking form.
    let csrf = hidden_field(&html, "csrf");
    let stranger = app
        .post_login(
            &TestApp::browser(),
            &request,
            &csrf,
            "alice",
            "correct-horse",
        )
        .await;
    assert_eq!(stranger.status(), 403);
    assert_eq!(
        app.legacy.idp.login_attempts(),
        0,
        "no password check without a valid CSRF token"
    );
}

#[tokio::test]
async fn a_tampered_request_is_refused() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let (_, html) = login_page(&app, &browser).await;
    let mut request = hidden_field(&html, "request");
    request.replace_range(10..11, if &request[10..11] == "A" { "B" } else { "A" });
    let csrf = hidden_field(&html, "csrf");
    let response = app
        .post_login(&browser, &request, &csrf, "alice", "correct-horse")
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_message() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let (_, html) = login_page(&app, &browser).await;
    let wrong = app.submit_login(&browser, &html, "alice", "nope").await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.expect("html");
    let unknown = app
        .submit_login(&browser, &html, "nobody", "nope")
        .await
        .text()
        .await
        .expect("html");
    let message = "The username or password is incorrect.";
    assert!(wrong.contains(message) && unknown.contains(message));
    assert!(wrong.contains("value=\"alice\""), "the username is kept");
    assert!(!wrong.contains("nope"), "the password is not echoed");
    assert!(wrong.contains("role=\"alert\""));
    // The re-shown form still works.
    let ok = app
        .submit_login(&browser, &wrong, "alice", "correct-horse")
        .await;
    assert_eq!(ok.status(), 303);
}

#[tokio::test]
async fn a_locked_account_gets_its_own_message() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let (_, html) = login_page(&app, &browser).await;
    let response = app
        .submit_login(&browser, &html, "mallory", "locked-out")
        .await;
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains("locked or disabled")
    );
}

#[tokio::test]
async fn legacy_idp_down_or_slow_is_a_clear_page_and_nothing_is_issued() {
    let app = TestApp::spawn().await;
    for faults in [
        Faults {
            mode: FaultMode::Status(503),
            ..Faults::default()
        },
        Faults {
            latency_ms: 3000,
            ..Faults::default()
        },
    ] {
        let browser = TestApp::browser();
        let (_, html) = login_page(&app, &browser).await;
        app.legacy.idp.set_faults(faults);
        let response = app
            .submit_login(&browser, &html, "alice", "correct-horse")
            .await;
        assert_eq!(response.status(), 503);
        assert!(response.headers().get("location").is_none());
        assert!(
            response
                .text()
                .await
                .expect("html")
                .contains("temporarily unavailable")
        );
        app.legacy.idp.set_faults(Faults::default());
    }
    let garbage = TestApp::browser();
    let (_, html) = login_page(&app, &garbage).await;
    app.legacy.idp.set_faults(Faults {
        mode: FaultMode::Garbage,
        ..Faults::default()
    });
    let response = app
        .submit_login(&garbage, &html, "alice", "correct-horse")
        .await;
    assert_eq!(response.status(), 502);
}

#[tokio::test]
async fn branding_reaches_the_page_without_inline_styles() {
    let app = TestApp::spawn_with("[branding]\norganization = \"Example Corp\"\naccent_color = \"#123abc\"\nhelp_text = \"Call 1234\"\n").await;
    let browser = TestApp::browser();
    let (_, html) = login_page(&app, &browser).await;
    assert!(html.contains("<h1>Example Corp</h1>") && html.contains("Call 1234"));
    assert!(!html.contains("style=\""), "the CSP forbids inline styles");
    let css = browser
        .get(format!("{}/branding.css", app.issuer))
        .send()
        .await
        .expect("css")
        .text()
        .await
        .expect("text");
    assert!(css.contains("--accent: #123abc"));
}

/// Opens the login page with extra authorization parameters and headers.
async fn localized_page(
    app: &TestApp,
    browser: &reqwest::Client,
    ui_locales: Option<&str>,
    accept_language: Option<&str>,
) -> String {
    let mut params = app.params();
    if let Some(l) = ui_locales {
        params.push(("ui_locales".into(), l.into()));
    }
    let mut request = browser.get(app.authorize_url(&params));
    if let Some(a) = accept_language {
        request = request.header("accept-language", a);
    }
    let response = request.send().await.expect("reachable");
    assert_eq!(response.status(), 200);
    response.text().await.expect("html")
}

#[tokio::test]
async fn ui_locales_picks_the_language_and_the_messages_follow_it() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let page = localized_page(&app, &browser, Some("ja de-CH"), Some("fr")).await;
    assert!(
        page.contains("<html lang=\"de\">"),
        "ui_locales beats Accept-Language"
    );
    for text in ["Anmelden", "Benutzername", "Passwort"] {
        assert!(page.contains(text), "{text} missing");
    }
    let wrong = app.submit_login(&browser, &page, "alice", "wrong").await;
    assert_eq!(wrong.status(), 401);
    let again = wrong.text().await.expect("html");
    assert!(
        again.contains("Benutzername oder Passwort ist falsch.") && again.contains("lang=\"de\""),
        "the failure message in the same language"
    );

    let french = localized_page(&app, &TestApp::browser(), None, Some("en;q=0.5, fr-CA")).await;
    assert!(french.contains("<html lang=\"fr\">") && french.contains("Mot de passe"));
    let fallback = localized_page(&app, &TestApp::browser(), Some("ja"), None).await;
    assert!(
        fallback.contains("<html lang=\"en\">") && fallback.contains("Password"),
        "English when nothing matches"
    );
}

#[tokio::test]
async fn a_login_form_signs_in_once() {
    let app = TestApp::spawn().await;
    let browser = TestApp::browser();
    let (_, html) = login_page(&app, &browser).await;
    let first = app
        .submit_login(&browser, &html, "alice", "correct-horse")
        .await;
    assert_eq!(first.status(), 303, "the first submission signs in");
    for _ in 0..2 {
        let again = app
            .submit_login(&browser, &html, "alice", "correct-horse")
            .await;
        assert_eq!(again.status(), 400, "the same form cannot sign in again");
        assert!(again.headers().get("location").is_none(), "no second code");
        assert!(
            again
                .text()
                .await
                .expect("html")
                .contains("This sign-in page was already used")
        );
    }
}

#[tokio::test]
async fn a_form_rendered_for_one_browser_does_not_open_in_another() {
    let app = TestApp::spawn().await;
    let (victim, attacker) = (TestApp::browser(), TestApp::browser());
    let (_, victims_page) = login_page(&app, &victim).await;
    let (_, attackers_page) = login_page(&app, &attacker).await;
    // The attacker's own cookie and CSRF field, with the victim's request.
    let response = app
        .post_login(
            &attacker,
            &hidden_field(&victims_page, "request"),
            &hidden_field(&attackers_page, "csrf"),
            "alice",
            "correct-horse",
        )
        .await;
    assert_eq!(
        response.status(),
        400,
        "bound to the other browser's cookie"
    );
    assert_eq!(app.legacy.idp.login_attempts(), 0, "no password check");
    // The victim's own form still works.
    let ok = app
        .submit_login(&victim, &victims_page, "alice", "correct-horse")
        .await;
    assert_eq!(ok.status(), 303);
}

/// Submits the form in `html` as alice, with extra request `headers`.
async fn post_with_headers(
    app: &TestApp,
    browser: &reqwest::Client,
    html: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = browser.post(format!("{}/login", app.issuer));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .form(&[
            ("request", hidden_field(html, "request").as_str()),
            ("csrf", hidden_field(html, "csrf").as_str()),
            ("username", "alice"),
            ("password", "correct-horse"),
        ])
        .send()
        .await
        .expect("login")
}

#[tokio::test]
async fn a_post_from_another_site_is_refused_whatever_its_cookie() {
    let app = TestApp::spawn().await;
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://attacker.example"),
    ] {
        let browser = TestApp::browser();
        let (_, html) = login_page(&app, &browser).await;
        let response = post_with_headers(&app, &browser, &html, &[(name, value)]).await;
        assert_eq!(response.status(), 403, "{name}: {value}");
    }
    assert_eq!(app.legacy.idp.login_attempts(), 0);
    // The bridge's own page posts with Origin: null (no-referrer) or its own
    // origin, marked same-origin: accepted.
    let browser = TestApp::browser();
    let (_, html) = login_page(&app, &browser).await;
    let response = post_with_headers(
        &app,
        &browser,
        &html,
        &[("sec-fetch-site", "same-origin"), ("origin", "null")],
    )
    .await;
    assert_eq!(response.status(), 303);
}
