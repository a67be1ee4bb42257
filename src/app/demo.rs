//! `idp-bridge demo`: the whole picture on one machine. Starts the reference
//! legacy IdP and API, the bridge configured against them, and a small
//! stand-in relying party that plays Auth0's part: it sends the browser to
//! the bridge, redeems the code, verifies the ID token against the JWKS, and
//! shows the claims, the legacy access token (untouched) and the legacy
//! API's answer to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use rand::RngCore;
use serde_json::Value;

use crate::app::App;
use crate::domain::config::Settings;
use crate::reference::legacy_idp::{LegacyIdpOptions, ReferenceIdp};
use crate::reference::{RunningServer, legacy_api};
use crate::util::crypto::{b64url, random_token, sha256};
use crate::util::legacy_token::Lt1Keys;
use crate::util::secret::Key32;

/// How the demo's users sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DemoUpstream {
    /// On the bridge's page; the password goes to the legacy IdP's API.
    #[default]
    Password,
    /// On the legacy IdP's own page, through OpenID Connect (`oidc`).
    Oidc,
    /// On the legacy IdP's own page, through OAuth 2.0 (`oauth2`).
    Oauth2,
}

/// The running demo.
pub struct Demo {
    /// The stand-in relying party's URL: open it in a browser.
    pub rp_url: String,
    /// The bridge's issuer URL.
    pub issuer: String,
    _servers: Vec<RunningServer>,
    bridge: Option<App>,
}

#[derive(Clone)]
struct Rp {
    issuer: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    api_url: String,
    http: reqwest::Client,
    pending: Arc<Mutex<HashMap<String, (String, String)>>>,
}

impl Demo {
    /// Starts everything on loopback ports; `rp_listen` is where the
    /// stand-in relying party listens (port 0 picks one).
    pub async fn start(rp_listen: &str, data_dir: &std::path::Path) -> Result<Self, String> {
        Self::start_with(rp_listen, data_dir, DemoUpstream::Password).await
    }

    /// As [`Self::start`], with the users signing in as `upstream` says.
    pub async fn start_with(
        rp_listen: &str,
        data_dir: &std::path::Path,
        upstream: DemoUpstream,
    ) -> Result<Self, String> {
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let keys = Lt1Keys::new(vec![("demo".into(), Key32::new(raw))], None)
            .map_err(|e| e.to_string())?;
        let idp = ReferenceIdp::new(LegacyIdpOptions::demo(keys.clone()));
        let idp_server = RunningServer::bind("127.0.0.1:0", idp.router())
            .await
            .map_err(|e| e.to_string())?;
        let api_server = RunningServer::bind("127.0.0.1:0", legacy_api::router(keys))
            .await
            .map_err(|e| e.to_string())?;
        let rp_listener = tokio::net::TcpListener::bind(rp_listen)
            .await
            .map_err(|e| format!("cannot listen on {rp_listen}: {e}"))?;
        let rp_addr = rp_listener.local_addr().map_err(|e| e.to_string())?;
        let bridge_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let issuer = format!(
            "http://{}",
            bridge_listener.local_addr().map_err(|e| e.to_string())?
        );
        let client_secret = random_token();
        let redirect_uri = format!("http://{rp_addr}/callback");
        // Private from the start: it will hold the storage key and a client secret.
        crate::app::open_storage::prepare_data_dir(data_dir).map_err(|e| e.to_string())?;
        let config_path = data_dir.join("bridge.toml");
        // The demo's branding shows what a company can add without a fork.
        let logo_path = data_dir.join("logo.svg");
        std::fs::write(&logo_path, DEMO_LOGO).map_err(|e| e.to_string())?;
        let config = format!(
            r#"# Written by `idp-bridge demo`.
issuer = "{issuer}"
data_dir = "{data}"

[branding]
organization = "Example Corp (demo)"
help_text = "Demo users: alice / correct-horse, bob / battery-staple, mallory / locked-out (locked)."
logo = "{logo}"
favicon = "{logo}"
links = [
  {{ label = "Forgot your password?", url = "https://example.com/password-reset" }},
  {{ label = "Help", url = "https://example.com/help" }},
]

[branding.texts.de]
help_text = "Demo-Benutzer: alice / correct-horse, bob / battery-staple, mallory / locked-out (gesperrt)."
link_labels = ["Passwort vergessen?", "Hilfe"]

[[clients]]
id = "demo-rp"
secret = "{client_secret}"
redirect_uris = ["{redirect_uri}"]
require_pkce = true

{upstream}"#,
            data = data_dir.display(),
            logo = logo_path.display(),
            upstream = match upstream {
                DemoUpstream::Password => {
                    crate::reference::legacy_idp::upstream_toml(&idp_server.url(), 5000)
                }
                DemoUpstream::Oidc => crate::reference::legacy_idp::redirect_upstream_toml(
                    &idp_server.url(),
                    "oidc",
                    5000,
                ),
                DemoUpstream::Oauth2 => crate::reference::legacy_idp::redirect_upstream_toml(
                    &idp_server.url(),
                    "oauth2",
                    5000,
                ),
            },
        );
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let settings = Settings::load(&config_path).map_err(|e| e.to_string())?;
        let bridge = App::build_with_listener(settings, bridge_listener)
            .await
            .map_err(|e| e.to_string())?;
        let rp = Rp {
            issuer: issuer.clone(),
            client_id: "demo-rp".into(),
            client_secret,
            redirect_uri,
            api_url: format!("{}/api/orders", api_server.url()),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?,
            pending: Arc::new(Mutex::new(HashMap::new())),
        };
        let rp_router = Router::new()
            .route("/", get(rp_home))
            .route("/login", get(rp_login))
            .route("/callback", get(rp_callback))
            .with_state(rp);
        let rp_server = RunningServer::start(rp_listener, rp_router).map_err(|e| e.to_string())?;
        Ok(Self {
            rp_url: rp_server.url(),
            issuer,
            _servers: vec![idp_server, api_server, rp_server],
            bridge: Some(bridge),
        })
    }

    /// Serves the bridge until `shutdown` resolves.
    pub async fn run_until(
        mut self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), String> {
        let bridge = self.bridge.take().ok_or("already running")?;
        bridge.run_until(shutdown).await.map_err(|e| e.to_string())
    }
}

/// The demo company's logo: shapes only, so it looks the same without fonts.
const DEMO_LOGO: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" viewBox="0 0 48 48"><rect width="48" height="48" rx="10" fill="#0b5cad"/><path d="M13 12h22v6H20v3h13v6H20v3h15v6H13z" fill="#ffffff"/></svg>
"##;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Stand-in relying party (plays Auth0)</title>\
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}pre{{background:#f4f4f4;padding:1rem;overflow:auto;white-space:pre-wrap;word-break:break-all}}a.button{{display:inline-block;padding:.6rem 1.2rem;background:#0b5cad;color:#fff;border-radius:6px;text-decoration:none}}</style>\
</head><body><h1>Stand-in relying party</h1><p>This page plays Auth0's part: it federates to idp-bridge.</p>{body}</body></html>"
    ))
}

async fn rp_home() -> Html<String> {
    page("<p><a class=\"button\" href=\"/login\">Log in</a></p>")
}

async fn rp_login(State(rp): State<Rp>) -> Response {
    let state = random_token();
    let nonce = random_token();
    let verifier = random_token();
    let challenge = b64url(&sha256(verifier.as_bytes()));
    rp.pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(state.clone(), (verifier, nonce.clone()));
    let mut url = match url::Url::parse(&format!("{}/authorize", rp.issuer)) {
        Ok(u) => u,
        Err(e) => return page(&escape(&e.to_string())).into_response(),
    };
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.client_id)
        .append_pair("redirect_uri", &rp.redirect_uri)
        .append_pair("scope", "openid profile email")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Redirect::to(url.as_str()).into_response()
}

async fn rp_callback(
    State(rp): State<Rp>,
    Query(q): Query<HashMap<String, String>>,
) -> Html<String> {
    match callback(&rp, &q).await {
        Ok(html) => page(&html),
        Err(e) => page(&format!(
            "<p role=\"alert\">{}</p><p><a href=\"/\">Start again</a></p>",
            escape(&e)
        )),
    }
}

async fn callback(rp: &Rp, q: &HashMap<String, String>) -> Result<String, String> {
    if let Some(error) = q.get("error") {
        return Err(format!(
            "the bridge answered {error}: {}",
            q.get("error_description").map_or("", String::as_str)
        ));
    }
    let state = q.get("state").ok_or("no state")?;
    let (verifier, nonce) = rp
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(state)
        .ok_or("unknown or reused state")?;
    if q.get("iss") != Some(&rp.issuer) {
        return Err("the iss parameter does not match the issuer (RFC 9207)".into());
    }
    let code = q.get("code").ok_or("no code")?;
    let token: Value = rp
        .http
        .post(format!("{}/token", rp.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &rp.redirect_uri),
            ("client_id", &rp.client_id),
            ("client_secret", &rp.client_secret),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let access_token = token["access_token"]
        .as_str()
        .ok_or_else(|| format!("token error: {token}"))?;
    let id_token = token["id_token"].as_str().ok_or("no id_token")?;
    let jwks: Value = rp
        .http
        .get(format!("{}/jwks", rp.issuer))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(id_token).map_err(|e| e.to_string())?;
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| {
            keys.iter()
                .find(|k| k["kid"].as_str() == header.kid.as_deref())
        })
        .ok_or("no JWK for the kid")?;
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap_or(""),
        jwk["e"].as_str().unwrap_or(""),
    )
    .map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&rp.client_id]);
    validation.set_issuer(&[&rp.issuer]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .map_err(|e| format!("ID token rejected: {e}"))?
        .claims;
    if claims["nonce"].as_str() != Some(nonce.as_str()) {
        return Err("the ID token's nonce does not match".into());
    }
    let api = rp
        .http
        .get(&rp.api_url)
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let api_status = api.status();
    let api_body = api.text().await.map_err(|e| e.to_string())?;
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let api_pretty = serde_json::from_str::<Value>(&api_body)
        .map(|v| pretty(&v))
        .unwrap_or(api_body);
    Ok(format!(
        "<p>Signed in. <a href=\"/login\">Log in again</a></p>\
<h2>ID token claims (verified against the bridge's JWKS)</h2><pre>{}</pre>\
<h2>Access token: the legacy token, untouched</h2><pre>{}</pre>\
<h2>The legacy API's answer to it ({})</h2><pre>{}</pre>",
        escape(&pretty(&claims)),
        escape(access_token),
        api_status.as_u16(),
        escape(&api_pretty)
    ))
}
