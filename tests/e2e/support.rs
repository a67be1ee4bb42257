//! Shared test helpers: a reference legacy IdP and API on port 0 with fresh
//! keys, and adapter construction from TOML text.

use idp_bridge::domain::config::LegacyConfig;
use idp_bridge::domain::upstream::{self, UpstreamConfig};
use idp_bridge::reference::RunningServer;
use idp_bridge::reference::legacy_idp::{LegacyIdpOptions, ReferenceIdp};
use idp_bridge::util::legacy_token::Lt1Keys;
use idp_bridge::util::secret::Key32;
use rand::RngCore;
use std::sync::Arc;

/// The reference legacy IdP and API, running on port 0.
pub struct LegacyStack {
    pub idp: ReferenceIdp,
    pub idp_server: RunningServer,
    pub api_server: RunningServer,
    pub keys: Lt1Keys,
    pub key_hex: String,
}

impl LegacyStack {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with adjusted simulator options.
    pub async fn spawn_with(adjust: impl FnOnce(&mut LegacyIdpOptions)) -> Self {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let key_hex = hex::encode(raw);
        let keys = Lt1Keys::new(vec![("test".into(), Key32::new(raw))], None).expect("keys");
        let mut options = LegacyIdpOptions::demo(keys.clone());
        adjust(&mut options);
        let idp = ReferenceIdp::new(options);
        let idp_server = RunningServer::bind("127.0.0.1:0", idp.router())
            .await
            .expect("bind idp");
        let api_server = RunningServer::bind(
            "127.0.0.1:0",
            idp_bridge::reference::legacy_api::router(keys.clone()),
        )
        .await
        .expect("bind api");
        Self {
            idp,
            idp_server,
            api_server,
            keys,
            key_hex,
        }
    }

    pub fn idp_url(&self) -> String {
        self.idp_server.url()
    }

    /// Asks the reference legacy API whether it accepts `token`.
    pub async fn api_accepts(&self, token: &str) -> bool {
        let status = reqwest::Client::new()
            .get(format!("{}/api/orders", self.api_server.url()))
            .bearer_auth(token)
            .send()
            .await
            .expect("legacy API reachable")
            .status();
        status.is_success()
    }
}

/// Builds an adapter from the text of a config file (with `[upstream]` and
/// optionally `[legacy_token]`).
pub fn adapter(toml_text: &str) -> Arc<dyn upstream::LegacyIdp> {
    let file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(file.path(), toml_text).expect("write config");
    let config: LegacyConfig =
        idp_bridge::domain::config::load_raw(Some(file.path()), &[]).expect("config parses");
    let keys = config.legacy_token.keys().expect("keys");
    let upstream: UpstreamConfig = config.upstream.expect("an [upstream] section");
    upstream::build(&upstream, keys).expect("adapter builds")
}

/// An address on which nothing listens (bound, then released).
pub async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Auth0's callback URL form, as registered for the tests' clients.
pub const AUTH0_CALLBACK: &str = "https://example-tenant.us.auth0.com/login/callback";
/// Secret of the `auth0-oidc` client: has characters that need
/// form-urlencoding in HTTP Basic (RFC 6749 §2.3.1).
pub const OIDC_SECRET: &str = "s3cret:with+special/chars&=%";
/// Secret of the `refresher` client (offline_access, rotation, 1 s grace).
pub const REFRESHER_SECRET: &str = "refresher-client-secret-0123";
/// Secret of the `token-vault` client (offline_access, rotation off).
pub const VAULT_SECRET: &str = "token-vault-client-secret-01";
/// Secret of the `auth0-oauth2` client.
pub const OAUTH2_SECRET: &str = "oauth2-client-secret-0123456789";

/// The bridge running on port 0 with a fresh data directory, in front of the
/// reference legacy stack.
pub struct TestApp {
    pub issuer: String,
    pub legacy: LegacyStack,
    pub data_dir: tempfile::TempDir,
    pub config_text: String,
    /// `http://addr` of the metrics listener, when `[metrics] listen` is set.
    pub metrics_url: Option<String>,
    /// `http://addr` of the gateway, when `[gateway]` is set.
    pub gateway_url: Option<String>,
    /// `http://addr` of the admin API, when `[admin]` is set.
    pub admin_url: Option<String>,
    metrics: Option<Arc<idp_bridge::domain::metrics::Metrics>>,
    store: Option<Arc<dyn idp_bridge::domain::store::Store>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The result of a browser login: where the bridge sent the browser.
#[derive(Debug)]
pub struct Callback {
    pub location: url::Url,
}

impl Callback {
    pub fn param(&self, name: &str) -> Option<String> {
        self.location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
    pub fn code(&self) -> String {
        self.param("code")
            .unwrap_or_else(|| panic!("no code in {}", self.location))
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with("").await
    }

    /// Spawns with extra TOML appended to the standard test config.
    pub async fn spawn_with(extra_toml: &str) -> Self {
        Self::spawn_full(extra_toml, |_| {}).await
    }

    /// Spawns with extra TOML and adjusted simulator options.
    pub async fn spawn_full(extra_toml: &str, adjust: impl FnOnce(&mut LegacyIdpOptions)) -> Self {
        Self::spawn_edited(extra_toml, adjust, |t| t).await
    }

    /// Spawns with extra TOML, adjusted simulator options, and an edit of
    /// the whole config text.
    pub async fn spawn_edited(
        extra_toml: &str,
        adjust: impl FnOnce(&mut LegacyIdpOptions),
        edit: impl FnOnce(String) -> String,
    ) -> Self {
        let legacy = LegacyStack::spawn_with(adjust).await;
        let data_dir = tempfile::tempdir().expect("data dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let config_text = format!(
            r#"
issuer = "{issuer}"
listen = "{listen}"
data_dir = "{data}"
{extra_toml}

[[clients]]
id = "auth0-oidc"
secret = "{OIDC_SECRET}"
redirect_uris = ["{AUTH0_CALLBACK}", "https://login.example.com/login/callback"]
post_logout_redirect_uris = ["https://app.example.com/signed-out"]

[[clients]]
id = "auth0-oauth2"
secret = "{OAUTH2_SECRET}"
redirect_uris = ["{AUTH0_CALLBACK}"]
token_endpoint_auth_methods = ["client_secret_post"]

[[clients]]
id = "refresher"
secret = "{REFRESHER_SECRET}"
redirect_uris = ["{AUTH0_CALLBACK}"]
scopes = ["openid", "profile", "email", "offline_access"]
refresh_tokens = {{ reuse_grace_seconds = 1 }}

[[clients]]
id = "token-vault"
secret = "{VAULT_SECRET}"
redirect_uris = ["{AUTH0_CALLBACK}"]
scopes = ["openid", "offline_access"]
refresh_tokens = {{ rotation = false }}

[[clients]]
id = "pkce-required"
secret = "pkce-required-client-secret"
redirect_uris = ["{AUTH0_CALLBACK}"]
require_pkce = true

{upstream}"#,
            upstream = idp_bridge::reference::legacy_idp::upstream_toml(&legacy.idp_url(), 1000),
            data = data_dir.path().display(),
            listen = issuer.trim_start_matches("http://"),
        );
        // `{LEGACY_API}` in the extra text is the reference legacy API.
        let config_text = edit(config_text).replace("{LEGACY_API}", &legacy.api_server.url());
        let mut app = Self {
            issuer,
            legacy,
            data_dir,
            config_text,
            metrics_url: None,
            gateway_url: None,
            admin_url: None,
            metrics: None,
            store: None,
            shutdown: None,
            task: None,
        };
        app.start(listener).await;
        app
    }

    pub fn config_path(&self) -> std::path::PathBuf {
        self.data_dir.path().join("bridge.toml")
    }

    async fn start(&mut self, listener: tokio::net::TcpListener) {
        std::fs::write(self.config_path(), &self.config_text).expect("write config");
        let raw: idp_bridge::domain::config::BridgeConfig =
            idp_bridge::domain::config::load_raw(Some(&self.config_path()), &[])
                .expect("config parses");
        let settings = idp_bridge::domain::config::Settings::validate(raw).expect("config valid");
        let app = idp_bridge::app::App::build_with_listener(settings, listener)
            .await
            .expect("bridge builds");
        self.metrics_url = app.metrics_addr().map(|a| format!("http://{a}"));
        self.gateway_url = app.gateway_addr().map(|a| format!("http://{a}"));
        self.admin_url = app.admin_addr().map(|a| format!("http://{a}"));
        self.metrics = Some(app.state().metrics.clone());
        self.store = Some(app.state().store.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.shutdown = Some(tx);
        self.task = Some(tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = rx.await;
                })
                .await;
        }));
    }

    /// The writes the running bridge's store has committed (SQLite counts
    /// them).
    pub fn store_commits(&self) -> u64 {
        self.store
            .as_ref()
            .and_then(|s| s.commits())
            .expect("the store counts its commits")
    }

    /// The running bridge's store, to look at its rows.
    pub fn store(&self) -> &Arc<dyn idp_bridge::domain::store::Store> {
        self.store.as_ref().expect("the bridge is running")
    }

    /// One cleanup pass of the running bridge's store, as if it were `now`.
    pub async fn cleanup_at(&self, now: i64) -> idp_bridge::domain::store::Cleaned {
        self.store
            .as_ref()
            .expect("the bridge is running")
            .cleanup(now, 500)
            .await
            .expect("cleanup")
    }

    /// The metrics as `/metrics` would show them now.
    pub fn metrics_text(&self) -> String {
        self.metrics
            .as_ref()
            .map(|m| m.render())
            .unwrap_or_default()
    }

    /// Stops the in-process bridge (the legacy stack keeps running).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops the bridge and starts it again on the same port and data.
    pub async fn restart(&mut self) {
        self.stop().await;
        let addr = self.issuer.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .expect("rebind the same port");
        self.start(listener).await;
    }

    /// A browser: keeps cookies, follows no redirects.
    pub fn browser() -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// Standard authorization parameters for the `auth0-oidc` client.
    #[allow(clippy::unused_self)] // reads as app.params() beside app.login(...)
    pub fn params(&self) -> Vec<(String, String)> {
        vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), "auth0-oidc".into()),
            ("redirect_uri".into(), AUTH0_CALLBACK.into()),
            ("scope".into(), "openid profile email".into()),
            ("state".into(), "st-123".into()),
        ]
    }

    pub fn authorize_url(&self, params: &[(String, String)]) -> String {
        let mut url = url::Url::parse(&format!("{}/authorize", self.issuer)).expect("url");
        url.query_pairs_mut().extend_pairs(params);
        url.into()
    }

    /// GET /authorize in `browser`.
    pub async fn authorize(
        &self,
        browser: &reqwest::Client,
        params: &[(String, String)],
    ) -> reqwest::Response {
        browser
            .get(self.authorize_url(params))
            .send()
            .await
            .expect("authorize reachable")
    }

    /// Submits the login form found in `page_html`.
    pub async fn submit_login(
        &self,
        browser: &reqwest::Client,
        page_html: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        submit_login_at(&self.issuer, browser, page_html, username, password).await
    }

    /// POST /login with explicit form fields (for tampering tests).
    pub async fn post_login(
        &self,
        browser: &reqwest::Client,
        request: &str,
        csrf: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        browser
            .post(format!("{}/login", self.issuer))
            .form(&[
                ("request", request),
                ("csrf", csrf),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .expect("login reachable")
    }

    /// Opens the login page for the standard parameters in `browser` and
    /// submits it; returns the bridge's answer.
    pub async fn attempt_login(
        &self,
        browser: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = self
            .authorize(browser, &self.params())
            .await
            .text()
            .await
            .expect("html");
        self.submit_login(browser, &page, username, password).await
    }

    /// Authorize, log in as alice, and return where the browser was sent.
    pub async fn login(&self, params: &[(String, String)]) -> Callback {
        self.login_as(params, "alice", "correct-horse").await
    }

    pub async fn login_as(
        &self,
        params: &[(String, String)],
        user: &str,
        password: &str,
    ) -> Callback {
        let browser = Self::browser();
        let page = self.authorize(&browser, params).await;
        assert_eq!(page.status(), 200, "login page");
        let html = page.text().await.expect("html");
        let response = self.submit_login(&browser, &html, user, password).await;
        assert_eq!(response.status(), 303, "login redirects with 303");
        let location = response.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        Callback {
            location: url::Url::parse(&location).expect("absolute location"),
        }
    }

    /// Follows an authorization URL (built by a client library) through
    /// the browser login as alice.
    pub async fn browse(&self, url: &url::Url) -> Callback {
        let params: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        self.login(&params).await
    }

    /// POST /token with a form (client_secret_post unless given otherwise).
    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/token", self.issuer))
            .form(form)
            .send()
            .await
            .expect("token reachable")
    }

    /// Redeems a code for `auth0-oidc` by client_secret_post.
    pub async fn redeem(&self, code: &str) -> reqwest::Response {
        self.redeem_as("auth0-oidc", OIDC_SECRET, code).await
    }

    /// Redeems a code for `client` by client_secret_post.
    pub async fn redeem_as(&self, client: &str, secret: &str, code: &str) -> reqwest::Response {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", AUTH0_CALLBACK),
            ("client_id", client),
            ("client_secret", secret),
        ])
        .await
    }

    /// POST /revoke (RFC 7009) with a form; the caller sends its client
    /// credentials in it.
    pub async fn revoke(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.post_form("/revoke", form).await
    }

    /// POST /introspect (RFC 7662) with a form; the caller sends its client
    /// credentials in it.
    pub async fn introspect(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.post_form("/introspect", form).await
    }

    /// Token exchange (RFC 8693) at /token: `client` (id, secret, by
    /// client_secret_post) exchanges the Auth0 access token `subject_token`.
    pub async fn exchange(&self, client: (&str, &str), subject_token: &str) -> reqwest::Response {
        self.token(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("client_id", client.0),
            ("client_secret", client.1),
            ("subject_token", subject_token),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
        ])
        .await
    }

    /// POST `path` of the provider with a form.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}{path}", self.issuer))
            .form(form)
            .send()
            .await
            .expect("reachable")
    }

    pub async fn userinfo(&self, token: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}/userinfo", self.issuer))
            .bearer_auth(token)
            .send()
            .await
            .expect("userinfo reachable")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Submits the login form found in `page_html` to the bridge at `issuer`
/// (an in-process `TestApp` or a real process).
pub async fn submit_login_at(
    issuer: &str,
    browser: &reqwest::Client,
    page_html: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    browser
        .post(format!("{issuer}/login"))
        .form(&[
            ("request", hidden_field(page_html, "request").as_str()),
            ("csrf", hidden_field(page_html, "csrf").as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .expect("login reachable")
}

/// Where a redirect points.
pub fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("ascii location")
        .to_owned()
}

/// A query parameter of a redirect's location.
pub fn query_param(location: &str, name: &str) -> Option<String> {
    url::Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value of a hidden input in a page.
pub fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in the page"))
        + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

/// An HTTP client for the `openidconnect` crate (redirects not followed).
pub fn oidc_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// An `openidconnect` client configured from the bridge's discovery.
pub type DiscoveredClient = openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Plays an Auth0 OIDC connection for `client_id`: discovery, then a
/// client using `client_secret_post` and the standard callback.
pub async fn oidc_client(app: &TestApp, client_id: &str, secret: &str) -> DiscoveredClient {
    use openidconnect::core::{CoreClient, CoreProviderMetadata};
    use openidconnect::{AuthType, ClientId, ClientSecret, IssuerUrl, RedirectUrl};
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.issuer.clone()).expect("issuer"),
        &oidc_http(),
    )
    .await
    .expect("discovery");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.into()),
        Some(ClientSecret::new(secret.into())),
    )
    .set_redirect_uri(RedirectUrl::new(AUTH0_CALLBACK.into()).expect("redirect"))
    .set_auth_type(AuthType::RequestBody)
}

/// Signs alice in through `client` (a fresh nonce, the given extra scopes
/// and parameters) and redeems the code; returns the answer and the nonce.
pub async fn oidc_sign_in(
    app: &TestApp,
    client: &DiscoveredClient,
    scopes: &[&str],
    extra: &[(&str, &str)],
) -> (openidconnect::core::CoreTokenResponse, openidconnect::Nonce) {
    use openidconnect::core::CoreAuthenticationFlow;
    use openidconnect::{AuthorizationCode, CsrfToken, Nonce, Scope};
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in scopes {
        request = request.add_scope(Scope::new((*scope).into()));
    }
    for (name, value) in extra {
        request = request.add_extra_param(*name, *value);
    }
    let (url, _, nonce) = request.url();
    let code = app.browse(&url).await.code();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("endpoint")
        .request_async(&oidc_http())
        .await
        .expect("exchange");
    (tokens, nonce)
}

/// The claims of a JWT, unverified (for tests that verify elsewhere).
pub fn jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64"),
    )
    .expect("json")
}

/// GET a JSON document.
pub async fn get_json(url: &str) -> serde_json::Value {
    reqwest::get(url)
        .await
        .expect("reachable")
        .json()
        .await
        .expect("JSON")
}

/// The reference IdP's refusals, through any adapter: a wrong password is
/// `InvalidCredentials`, the locked `mallory` is `Locked`.
pub async fn assert_refusals(idp: &dyn upstream::LegacyIdp) {
    use idp_bridge::domain::upstream::UpstreamError;
    use idp_bridge::util::secret::Password;
    assert_eq!(
        idp.authenticate("alice", &Password::new("wrong"))
            .await
            .unwrap_err(),
        UpstreamError::InvalidCredentials
    );
    assert_eq!(
        idp.authenticate("mallory", &Password::new("locked-out"))
            .await
            .unwrap_err(),
        UpstreamError::Locked
    );
}
