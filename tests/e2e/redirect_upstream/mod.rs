//! The redirect adapters (`oidc`, `oauth2`): the browser signs in on the
//! reference legacy IdP's own page, every redirect followed by a real HTTP
//! client with a cookie jar, both login pages posted; then the attacks on
//! the callback and the legacy IdP's misbehaviours. The protocol's edges
//! (RFC 9207 `iss`, hints, `auth_time`, offline access) are in
//! [`protocol`], what one browser can hold and the pages it sees in
//! [`browser`], the legacy IdP's re-keying in [`jwks`].

mod browser;
mod jwks;
mod protocol;

use idp_bridge::reference::legacy_oidc::IdTokenFault;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::support::{AUTH0_CALLBACK, Callback, REFRESHER_SECRET, TestApp, jwt_claims};

/// The bridge in front of the reference legacy IdP with a redirect adapter;
/// `extra` goes into the adapter's section.
pub async fn spawn(adapter: &str, extra: &str) -> TestApp {
    spawn_full(adapter, extra, "", "", |_| {}).await
}

/// As [`spawn`], with top-level TOML, text appended after the adapter's
/// section (more clients), and adjusted simulator options.
pub async fn spawn_full(
    adapter: &str,
    extra: &str,
    top: &str,
    appended: &str,
    adjust: impl FnOnce(&mut idp_bridge::reference::legacy_idp::LegacyIdpOptions),
) -> TestApp {
    // `extra` keys belong to the adapter's own table, before its claims.
    let claims = format!("[upstream.{adapter}.claims]");
    let extra = extra.to_owned();
    let edit = move |upstream: String| upstream.replace(&claims, &format!("{extra}\n{claims}"));
    spawn_upstream(adapter, top, appended, adjust, edit).await
}

/// As [`spawn_full`], with `edit` applied to the adapter's sections.
pub async fn spawn_upstream(
    adapter: &str,
    top: &str,
    appended: &str,
    adjust: impl FnOnce(&mut idp_bridge::reference::legacy_idp::LegacyIdpOptions),
    edit: impl FnOnce(String) -> String,
) -> TestApp {
    let adapter = adapter.to_owned();
    let appended = appended.to_owned();
    TestApp::spawn_edited(top, adjust, move |text| {
        let at = text.find("[upstream]\n").expect("an [upstream] section");
        let idp_url = text[at..]
            .split("url = \"")
            .nth(1)
            .and_then(|rest| rest.split("/api/v1/login").next())
            .expect("the simulator's URL")
            .to_owned();
        // The adapter's default timeout: no test here waits on it, and a
        // shorter one made discovery time out on a loaded 2-core machine.
        let upstream =
            idp_bridge::reference::legacy_idp::redirect_upstream_toml(&idp_url, &adapter, 5000);
        let upstream = edit(upstream);
        format!("{}{upstream}{appended}", &text[..at])
    })
    .await
}

/// Where a response sends the browser.
pub fn location(response: &reqwest::Response) -> url::Url {
    let text = response.headers()[LOCATION].to_str().expect("location");
    url::Url::parse(text).expect("absolute location")
}

pub fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A browser's way through the legacy IdP's login page, step by step.
pub struct Journey {
    pub browser: reqwest::Client,
    /// The legacy IdP's authorization URL the bridge sent the browser to.
    pub upstream: url::Url,
    /// The transaction cookie the bridge set (`name=value`).
    pub cookie: String,
}

impl Journey {
    /// GET /authorize: must be a 303 to the legacy IdP with a cookie.
    pub async fn start(app: &TestApp, params: &[(String, String)]) -> Self {
        let browser = TestApp::browser();
        let response = app.authorize(&browser, params).await;
        assert_eq!(
            response.status(),
            303,
            "authorize hands over to the legacy IdP"
        );
        let cookie = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("idp_bridge_tx_"))
            .expect("a transaction cookie")
            .split(';')
            .next()
            .expect("name=value")
            .to_owned();
        Self {
            upstream: location(&response),
            browser,
            cookie,
        }
    }

    /// Opens the legacy IdP's page and posts it; returns its answer (a 303
    /// to the bridge's callback, or the page again).
    pub async fn sign_in(&self, username: &str, password: &str, action: &str) -> reqwest::Response {
        let page = self
            .browser
            .get(self.upstream.clone())
            .send()
            .await
            .expect("the legacy IdP's page");
        assert_eq!(page.status(), 200, "the legacy IdP shows its login page");
        let html = page.text().await.expect("html");
        assert!(html.contains("Legacy Corp sign-in"), "{html}");
        let request = crate::support::hidden_field(&html, "request");
        let form_url = self.upstream.join("/oauth/authorize").expect("form url");
        self.browser
            .post(form_url)
            .form(&[
                ("request", request.as_str()),
                ("username", username),
                ("password", password),
                ("action", action),
            ])
            .send()
            .await
            .expect("the legacy IdP's form")
    }

    /// Signs in as alice; returns the bridge's callback URL.
    pub async fn callback_url(&self) -> url::Url {
        let answer = self.sign_in("alice", "correct-horse", "login").await;
        assert_eq!(answer.status(), 303, "the legacy IdP redirects back");
        location(&answer)
    }

    /// Follows the callback in the same browser.
    pub async fn back(&self, callback: &url::Url) -> reqwest::Response {
        self.browser
            .get(callback.clone())
            .send()
            .await
            .expect("callback reachable")
    }
}

/// The whole sign-in as alice: where the bridge finally sent the browser.
pub async fn sign_in(app: &TestApp, params: &[(String, String)]) -> Callback {
    let journey = Journey::start(app, params).await;
    let callback = journey.callback_url().await;
    let answer = journey.back(&callback).await;
    assert_eq!(answer.status(), 303, "the bridge answers Auth0");
    Callback {
        location: location(&answer),
    }
}

pub async fn redeem_json(app: &TestApp, code: &str) -> serde_json::Value {
    let response = app.redeem(code).await;
    assert_eq!(response.status(), 200, "code redeemed");
    response.json().await.expect("json")
}

#[tokio::test]
async fn oidc_sign_in_hands_auth0_the_legacy_token_and_never_shows_a_password_form() {
    let app = spawn("oidc", "").await;
    let journey = Journey::start(&app, &app.params()).await;
    let up = &journey.upstream;
    assert!(up.as_str().starts_with(&app.legacy.idp_url()), "{up}");
    for name in ["state", "nonce", "code_challenge"] {
        assert_eq!(param(up, name).map(|v| v.len()), Some(43), "{name} in {up}");
    }
    assert_eq!(param(up, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param(up, "client_id").as_deref(), Some("idp-bridge"));
    assert_eq!(
        param(up, "redirect_uri"),
        Some(format!("{}/upstream/callback", app.issuer))
    );
    let callback = journey.callback_url().await;
    let answer = journey.back(&callback).await;
    assert_eq!(answer.status(), 303);
    let back = location(&answer);
    assert!(back.as_str().starts_with(AUTH0_CALLBACK), "{back}");
    assert_eq!(param(&back, "state").as_deref(), Some("st-123"));
    let tokens = redeem_json(&app, &param(&back, "code").expect("code")).await;
    let access = tokens["access_token"].as_str().expect("access token");
    // The legacy IdP's own LT1 token, which its API accepts.
    let lt1 = app
        .legacy
        .keys
        .validate(access, idp_bridge::util::clock::now_unix())
        .expect("an LT1 token of the legacy IdP");
    assert_eq!(lt1.sub, "u-1001");
    assert!(
        app.legacy.api_accepts(access).await,
        "the legacy API accepts it"
    );
    let id = jwt_claims(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(id["sub"], "u-1001");
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["email_verified"], true);
    // The bridge's userinfo works with the legacy token of this grant.
    let info: serde_json::Value = app.userinfo(access).await.json().await.expect("json");
    assert_eq!(info["sub"], "u-1001");
    // No password reaches the bridge in this mode.
    assert_eq!(
        app.legacy.idp.login_attempts(),
        1,
        "one password check, at the legacy IdP"
    );
    let posted = journey
        .browser
        .post(format!("{}/login", app.issuer))
        .form(&[
            ("request", "x"),
            ("csrf", "y"),
            ("username", "alice"),
            ("password", "p"),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(posted.status(), 404, "no password form in redirect mode");
}

#[tokio::test]
async fn oauth2_adapter_signs_in_with_the_profile_from_userinfo() {
    let app = spawn("oauth2", "").await;
    let journey = Journey::start(&app, &app.params()).await;
    assert_eq!(
        param(&journey.upstream, "nonce"),
        None,
        "no nonce without OIDC"
    );
    let callback = journey.callback_url().await;
    let back = location(&journey.back(&callback).await);
    let tokens = redeem_json(&app, &param(&back, "code").expect("code")).await;
    let access = tokens["access_token"].as_str().expect("access token");
    assert!(app.legacy.api_accepts(access).await);
    let id = jwt_claims(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(id["sub"], "u-1001");
    assert_eq!(id["name"], "Alice Example");
    assert_eq!(id["email_verified"], true);
    assert!(
        id["roles"].is_string(),
        "extra claim mapped from userinfo: {id}"
    );
}

#[tokio::test]
async fn the_callback_is_refused_with_a_wrong_state_in_another_browser_and_when_replayed() {
    let app = spawn("oidc", "").await;
    // Wrong state: the cookie is not found for it.
    let journey = Journey::start(&app, &app.params()).await;
    let callback = journey.callback_url().await;
    let mut forged = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                "A".repeat(43)
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(&pairs);
    let answer = journey.back(&forged).await;
    assert_eq!(answer.status(), 400, "wrong state");
    assert!(
        answer
            .text()
            .await
            .expect("page")
            .contains("another browser")
    );

    // Another browser: no cookie.
    let journey = Journey::start(&app, &app.params()).await;
    let callback = journey.callback_url().await;
    let other = TestApp::browser();
    let answer = other.get(callback.clone()).send().await.expect("callback");
    assert_eq!(answer.status(), 400, "a callback from another browser");
    // The rightful browser can still finish.
    let answer = journey.back(&callback).await;
    assert_eq!(answer.status(), 303);
    let code = param(&location(&answer), "code").expect("code");
    assert_eq!(app.redeem(&code).await.status(), 200);

    // Replay with the cookie kept by an attacker: spent once, in the store.
    let journey = Journey::start(&app, &app.params()).await;
    let callback = journey.callback_url().await;
    let replay = || async {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .get(callback.clone())
            .header(COOKIE, &journey.cookie)
            .send()
            .await
            .expect("callback")
    };
    assert_eq!(replay().await.status(), 303, "first use");
    let second = replay().await;
    assert_eq!(second.status(), 400, "replayed callback");
    assert!(second.text().await.expect("page").contains("already used"));
    assert_eq!(
        app.legacy.idp.login_page().code_redemptions(),
        2,
        "the replay never reached the legacy IdP's token endpoint"
    );
}

#[tokio::test]
async fn an_expired_transaction_is_refused() {
    let app = spawn("oidc", "transaction_seconds = 1").await;
    let journey = Journey::start(&app, &app.params()).await;
    let callback = journey.callback_url().await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(callback)
        .header(COOKIE, &journey.cookie)
        .send()
        .await
        .expect("callback");
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.expect("page").contains("took too long"));
}

/// Signs in while the legacy IdP's ID token is wrong in one way; returns
/// the bridge's answer to the callback.
async fn with_fault(app: &TestApp, fault: IdTokenFault) -> reqwest::Response {
    app.legacy.idp.login_page().set_id_token_fault(fault);
    let journey = Journey::start(app, &app.params()).await;
    let callback = journey.callback_url().await;
    journey.back(&callback).await
}

#[tokio::test]
async fn bad_id_tokens_are_refused_and_nothing_is_stored() {
    let app = spawn("oidc", "").await;
    for (fault, words) in [
        (IdTokenFault::WrongNonce, "nonce"),
        (IdTokenFault::BadSignature, "signature"),
        (IdTokenFault::WrongIssuer, "issuer"),
        (IdTokenFault::WrongAudience, "audience"),
        (IdTokenFault::WrongAtHash, "at_hash"),
        (IdTokenFault::NoEmailVerified, "email_verified"),
    ] {
        let answer = with_fault(&app, fault).await;
        assert_eq!(answer.status(), 502, "{fault:?} refused");
        let page = answer.text().await.expect("page");
        assert!(page.contains("answered unexpectedly"), "{fault:?}: {page}");
        assert!(
            !page.contains(words) || words == "signature",
            "the cause stays in the log"
        );
    }
    // Nothing was stored: no login session, so prompt=none finds nobody.
    let browser = TestApp::browser();
    let mut params = app.params();
    params.push(("prompt".into(), "none".into()));
    let answer = app.authorize(&browser, &params).await;
    assert_eq!(
        param(&location(&answer), "error").as_deref(),
        Some("login_required")
    );
    let metrics = app.metrics_text();
    assert!(
        !metrics.contains(r#"event="login_success",reason="upstream""#),
        "no login succeeded: {metrics}"
    );
    let failures = metrics
        .lines()
        .find(|l| l.contains(r#"event="login_failure",reason="protocol""#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(failures, Some(6), "each refusal counted once: {metrics}");
}

#[tokio::test]
async fn a_missing_email_verified_is_accepted_with_the_explicit_switch() {
    let app = spawn("oidc", "insecure_skip_email_verified = true").await;
    app.legacy
        .idp
        .login_page()
        .set_id_token_fault(IdTokenFault::NoEmailVerified);
    let back = sign_in(&app, &app.params()).await;
    let tokens = redeem_json(&app, &back.code()).await;
    let id = jwt_claims(tokens["id_token"].as_str().expect("id token"));
    assert_eq!(
        id["email_verified"], true,
        "Dex's insecureSkipEmailVerified"
    );
}

#[tokio::test]
async fn an_upstream_cancel_goes_back_to_auth0_as_access_denied_with_its_state() {
    let app = spawn("oidc", "").await;
    let journey = Journey::start(&app, &app.params()).await;
    let answer = journey.sign_in("", "", "cancel").await;
    assert_eq!(answer.status(), 303);
    let back = location(&journey.back(&location(&answer)).await);
    assert!(back.as_str().starts_with(AUTH0_CALLBACK), "{back}");
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(param(&back, "code"), None);
}

#[tokio::test]
async fn a_legacy_idp_that_is_down_gets_a_clear_page() {
    let app = spawn("oidc", "").await;
    // Down before the sign-in: discovery fails.
    app.legacy
        .idp
        .set_faults(idp_bridge::reference::legacy_idp::Faults {
            latency_ms: 0,
            mode: idp_bridge::reference::legacy_idp::FaultMode::Status(503),
        });
    let browser = TestApp::browser();
    let answer = app.authorize(&browser, &app.params()).await;
    assert_eq!(answer.status(), 503);
    assert!(answer.text().await.expect("page").contains("not available"));
    // Down between the login page and the callback: the code exchange fails.
    app.legacy
        .idp
        .set_faults(idp_bridge::reference::legacy_idp::Faults::default());
    let journey = Journey::start(&app, &app.params()).await;
    let callback = journey.callback_url().await;
    app.legacy
        .idp
        .set_faults(idp_bridge::reference::legacy_idp::Faults {
            latency_ms: 0,
            mode: idp_bridge::reference::legacy_idp::FaultMode::Status(503),
        });
    let answer = journey.back(&callback).await;
    assert_eq!(answer.status(), 503);
    assert!(answer.text().await.expect("page").contains("not available"));
}

#[tokio::test]
async fn refresh_renews_through_the_legacy_idps_refresh_grant() {
    let app = spawn("oidc", "").await;
    let mut params = app.params();
    for (k, v) in &mut params {
        if k == "client_id" {
            *v = "refresher".into();
        }
        if k == "scope" {
            *v = "openid profile email offline_access".into();
        }
    }
    params.push(("prompt".into(), "consent".into()));
    let back = sign_in(&app, &params).await;
    let tokens: serde_json::Value = app
        .redeem_as("refresher", REFRESHER_SECRET, &back.code())
        .await
        .json()
        .await
        .expect("json");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    let before = app.legacy.idp.renewals();
    let renewed: serde_json::Value = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "refresher"),
            ("client_secret", REFRESHER_SECRET),
        ])
        .await
        .json()
        .await
        .expect("json");
    let access = renewed["access_token"].as_str().expect("new access token");
    assert_eq!(
        app.legacy.idp.renewals(),
        before + 1,
        "renewed at the legacy IdP"
    );
    assert_ne!(access, tokens["access_token"].as_str().expect("old"));
    assert!(app.legacy.api_accepts(access).await);
}

#[tokio::test]
async fn logout_ends_the_legacy_idps_session_too() {
    let app = spawn("oidc", "").await;
    let journey = Journey::start(&app, &app.params()).await;
    let callback = journey.callback_url().await;
    let back = location(&journey.back(&callback).await);
    let tokens = redeem_json(&app, &param(&back, "code").expect("code")).await;
    let id_token = tokens["id_token"].as_str().expect("id token");
    let answer = journey
        .browser
        .get(format!("{}/logout", app.issuer))
        .query(&[
            ("id_token_hint", id_token),
            (
                "post_logout_redirect_uri",
                "https://app.example.com/signed-out",
            ),
            ("state", "bye"),
        ])
        .send()
        .await
        .expect("logout");
    let mut next = answer;
    for _ in 0..5 {
        if !next.status().is_redirection() {
            break;
        }
        let to = location(&next);
        if to.as_str().starts_with("https://app.example.com/") {
            assert_eq!(param(&to, "state").as_deref(), Some("bye"));
            break;
        }
        next = journey.browser.get(to).send().await.expect("follow");
    }
    assert_eq!(
        app.legacy.idp.login_page().logouts(),
        1,
        "the legacy IdP's logout was visited"
    );
}

#[test]
fn redirect_configs_are_checked_without_the_network() {
    let dir = tempfile::tempdir().expect("dir");
    let base = "issuer = \"http://127.0.0.1:1\"\nlisten = \"127.0.0.1:0\"\n[[clients]]\nid = \"c\"\nsecret = \"s\"\nredirect_uris = [\"https://a.example/cb\"]\n";
    for (section, expected) in [
        (
            "[upstream]\nadapter = \"oidc\"\n[upstream.oidc]\nclient_id = \"x\"\nclient_secret = \"y\"\n",
            "upstream.oidc.issuer",
        ),
        (
            "[upstream]\nadapter = \"oauth2\"\n[upstream.oauth2]\nauthorization_endpoint = \"https://l.example/a\"\ntoken_endpoint = \"https://l.example/t\"\nclient_id = \"x\"\nclient_secret = \"y\"\n",
            "upstream.oauth2.userinfo_endpoint",
        ),
        (
            "[upstream]\nadapter = \"oidc\"\n[upstream.oidc]\nissuer = \"https://l.example\"\nclient_id = \"x\"\nclient_auth = \"private_key_jwt\"\n",
            "upstream.oidc.private_key",
        ),
        (
            "[upstream]\nadapter = \"oidc\"\n[upstream.oidc]\nissuer = \"htp:/l example\"\nclient_id = \"x\"\nclient_secret = \"y\"\n",
            "upstream.oidc.issuer",
        ),
        (
            "[upstream]\nadapter = \"oauth2\"\n[upstream.oauth2]\nauthorization_endpoint = \"https://l.example/a\"\ntoken_endpoint = \"https://l.example/t\"\nuserinfo_endpoint = \"https://l.example/u\"\nrequire_iss = true\nclient_id = \"x\"\nclient_secret = \"y\"\n",
            "upstream.oauth2.issuer",
        ),
    ] {
        let path = dir.path().join("bridge.toml");
        std::fs::write(
            &path,
            format!("data_dir = \"{}\"\n{base}{section}", dir.path().display()),
        )
        .expect("write");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .expect("run");
        let text = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{section} must fail");
        assert!(text.contains(expected), "{expected} named in: {text}");
    }
}

#[tokio::test]
async fn private_key_jwt_authenticates_the_bridge_at_the_legacy_idp() {
    use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("rsa");
    let public = key.to_public_key();
    let b64 = |b: &[u8]| idp_bridge::util::crypto::b64url(b);
    let jwk = serde_json::json!({"kty": "RSA", "alg": "RS256", "kid": "bridge-1",
        "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())});
    let dir = tempfile::tempdir().expect("dir");
    let pem_path = dir.path().join("bridge-key.pem");
    std::fs::write(
        &pem_path,
        key.to_pkcs1_pem(LineEnding::LF).expect("pem").as_bytes(),
    )
    .expect("write key");
    let extra = format!(
        "client_auth = \"private_key_jwt\"\nprivate_key = {{ file = \"{}\" }}\nprivate_key_id = \"bridge-1\"",
        pem_path.display()
    );
    let app = spawn_full("oidc", &extra, "", "", move |o| {
        o.oauth_client_jwk = Some(jwk);
        // The secret alone no longer passes: the assertion must.
        o.oauth_client_secret = "not-the-configured-one".into();
    })
    .await;
    let back = sign_in(&app, &app.params()).await;
    let tokens = redeem_json(&app, &back.code()).await;
    assert!(
        app.legacy
            .api_accepts(tokens["access_token"].as_str().expect("token"))
            .await
    );
}

#[tokio::test]
async fn token_exchange_finds_the_legacy_token_of_a_redirect_sign_in() {
    let tenant = crate::token_exchange::Tenant::start().await;
    let top = format!(
        "[token_exchange]\nissuers = [\"{}\"]\nconnections = [\"legacy\"]\n",
        tenant.issuer
    );
    let app = spawn_full(
        "oidc",
        "",
        &top,
        &crate::token_exchange::exchanger_client(),
        |_| {},
    )
    .await;
    let back = sign_in(&app, &app.params()).await;
    let tokens = redeem_json(&app, &back.code()).await;
    let legacy = tokens["access_token"].as_str().expect("token");
    let answer = crate::token_exchange::exchange(&app, &tenant.token(&[])).await;
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(
        body["access_token"], legacy,
        "the same legacy token, verbatim"
    );
}
