//! The reference legacy IdP: a simulator of the kind of identity provider a
//! company is migrating away from. It checks passwords against a users file
//! (argon2 hashes) and issues LT1 tokens, and answers in several shapes so
//! the bridge's adapters can be exercised against real HTTP:
//!
//! | endpoint | shape |
//! |---|---|
//! | `POST /api/v1/login` | JSON `{username, password}` → JSON token, refresh token and `user` |
//! | `POST /api/v1/renew` | JSON `{refresh_token}` → same as login |
//! | `POST /api/v1/token-for-user` | JSON `{subject}` with `X-Api-Key: reference-mint-key` → same as login (token exchange's minting) |
//! | `GET /api/v1/me` | `Authorization: Bearer` → JSON profile |
//! | `POST /legacy/login.do` | form `j_username`, `j_password`, `realm` → token in `X-Legacy-Token` |
//! | `GET /legacy/profile` | `Authorization: Legacy <token>` → JSON profile (other field names) |
//! | `POST /oauth/token` | OAuth 2.0 password and refresh grants |
//! | `GET /oauth/userinfo` | `Authorization: Bearer` → OIDC-style profile |
//! | `GET /oauth/authorize`, discovery, JWKS | its own login page, the authorization code flow (see [`legacy_oidc`]) |
//! | `PUT /_control/faults` | inject latency and failures (simulator only) |
//!
//! Faults apply to every endpoint but `/_control` and `/healthz`. Tests may
//! also fail `/oauth/userinfo` alone ([`UserinfoFault`]) and have refresh
//! tokens rotated, with a reused one revoking its whole grant
//! ([`LegacyIdpOptions::rotate_refresh_tokens`]).
//!
//! It runs past 500 lines because it is one simulated server: each endpoint
//! is a short handler over the same users, tokens and faults, and a reader
//! checking what a test's legacy IdP does wants them in one place. It is
//! never used by a production path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::legacy_oidc::{self, Authority, LoginPage};
use super::users::{User, Users};
use crate::util::clock::now_unix;
use crate::util::legacy_token::{Lt1Claims, Lt1Keys};

/// The `[upstream]` configuration that reaches this simulator's JSON API
/// through the `http` adapter (used by the demo, the tests and the
/// benchmark).
pub fn upstream_toml(idp_url: &str, timeout_ms: u64) -> String {
    format!(
        r#"[upstream]
adapter = "http"
[upstream.http]
timeout_ms = {timeout_ms}
[upstream.http.login]
url = "{idp_url}/api/v1/login"
[upstream.http.renew]
url = "{idp_url}/api/v1/renew"
[upstream.http.claims]
subject = "/user/id"
email = "/user/email"
name = "/user/name"
extra = {{ roles = "/user/roles" }}
"#
    )
}

/// The `[upstream]` configuration that signs users in on this simulator's
/// own login page with a redirect adapter, `oidc` or `oauth2`.
pub fn redirect_upstream_toml(idp_url: &str, adapter: &str, timeout_ms: u64) -> String {
    let endpoints = if adapter == "oidc" {
        format!("issuer = \"{idp_url}\"")
    } else {
        format!(
            "issuer = \"{idp_url}\"\n\
             authorization_endpoint = \"{idp_url}/oauth/authorize\"\n\
             token_endpoint = \"{idp_url}/oauth/token\"\n\
             userinfo_endpoint = \"{idp_url}/oauth/userinfo\"\n\
             scopes = [\"profile\"]"
        )
    };
    format!(
        r#"[upstream]
adapter = "{adapter}"
[upstream.{adapter}]
{endpoints}
client_id = "idp-bridge"
client_secret = "legacy-client-secret"
timeout_ms = {timeout_ms}
upstream_logout = true
[upstream.{adapter}.claims]
extra = {{ roles = "roles" }}
"#
    )
}

/// A failure the simulator can be told to produce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "mode", content = "value")]
pub enum FaultMode {
    /// Answer normally.
    #[default]
    None,
    /// Answer every request with this status.
    Status(u16),
    /// Answer 200 with a body that is not what any adapter expects.
    Garbage,
    /// Answer 200 with a 1 MiB body.
    Oversize,
    /// Answer with a redirect elsewhere.
    Redirect,
}

/// Injected faults: a delay before every answer, then a failure mode.
/// Either part may be left out: `{"latency_ms":2000}` only slows answers,
/// `{"mode":"status","value":503}` only fails them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(try_from = "FaultsWire")]
pub struct Faults {
    /// Delay before answering, milliseconds.
    #[serde(default)]
    pub latency_ms: u64,
    /// What to answer.
    #[serde(default, flatten)]
    pub mode: FaultMode,
}

/// `Faults` as written: serde cannot default a flattened tagged enum whose
/// tag is absent, so the mode is read by hand.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsWire {
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    value: Option<u16>,
}

impl TryFrom<FaultsWire> for Faults {
    type Error = String;

    fn try_from(w: FaultsWire) -> Result<Self, String> {
        let mode = match (w.mode.as_deref(), w.value) {
            (None | Some("none"), None) => FaultMode::None,
            (Some("status"), Some(status)) => FaultMode::Status(status),
            (Some("garbage"), None) => FaultMode::Garbage,
            (Some("oversize"), None) => FaultMode::Oversize,
            (Some("redirect"), None) => FaultMode::Redirect,
            (mode, value) => {
                return Err(format!(
                    "unknown fault mode {mode:?} with value {value:?} (none, status+value, garbage, oversize, redirect)"
                ));
            }
        };
        Ok(Self {
            latency_ms: w.latency_ms,
            mode,
        })
    }
}

/// Settings of a simulator instance.
#[derive(Debug, Clone)]
pub struct LegacyIdpOptions {
    /// The directory.
    pub users: Users,
    /// Keys the tokens are minted with.
    pub keys: Lt1Keys,
    /// Access token lifetime, seconds.
    pub token_ttl: i64,
    /// Lifetime of a renewed access token, seconds (`token_ttl` when
    /// `None`): tests expire the first token at once and keep its renewal.
    pub renewed_token_ttl: Option<i64>,
    /// Refresh token lifetime, seconds.
    pub refresh_ttl: i64,
    /// Scope written into tokens.
    pub scope: String,
    /// Realm required by `/legacy/login.do`.
    pub realm: String,
    /// OAuth client id accepted at `/oauth/token`.
    pub oauth_client_id: String,
    /// And its secret.
    pub oauth_client_secret: String,
    /// The client's public key (a JWK), when it authenticates with
    /// `private_key_jwt` instead of the secret.
    pub oauth_client_jwk: Option<Value>,
    /// Rotate refresh tokens: each renewal spends the one presented and
    /// issues a successor; a spent one presented again revokes every refresh
    /// token of its sign-in, as real IdPs do (RFC 9700 §4.14.2). Off, a
    /// renewal keeps the refresh token.
    pub rotate_refresh_tokens: bool,
}

impl LegacyIdpOptions {
    /// Demo defaults around a key set.
    pub fn demo(keys: Lt1Keys) -> Self {
        Self {
            users: Users::demo(),
            keys,
            token_ttl: 3600,
            renewed_token_ttl: None,
            refresh_ttl: 30 * 86_400,
            scope: "orders.read orders.write".into(),
            realm: "corp".into(),
            oauth_client_id: "idp-bridge".into(),
            oauth_client_secret: "legacy-client-secret".into(),
            oauth_client_jwk: None,
            rotate_refresh_tokens: false,
        }
    }
}

/// How `/oauth/userinfo` answers, for tests; the other endpoints keep
/// working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserinfoFault {
    /// The profile, with `email_verified`.
    #[default]
    None,
    /// 500, as a legacy IdP whose profile store is down.
    ServerError,
    /// The profile without `email_verified`.
    NoEmailVerified,
}

#[derive(Debug)]
struct RefreshEntry {
    username: String,
    expires_at: i64,
    /// The sign-in it descends from: a reuse revokes all of them.
    family: String,
}

/// A handle on a simulator: its router, its faults, its counters.
#[derive(Debug, Clone)]
pub struct ReferenceIdp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: LegacyIdpOptions,
    faults: Mutex<Faults>,
    refresh: Mutex<HashMap<String, RefreshEntry>>,
    /// Refresh tokens spent by rotation, with their family.
    rotated: Mutex<HashMap<String, String>>,
    reuses: std::sync::atomic::AtomicU64,
    userinfo_fault: Mutex<UserinfoFault>,
    userinfo_reads: std::sync::atomic::AtomicU64,
    logins: std::sync::atomic::AtomicU64,
    renewals: std::sync::atomic::AtomicU64,
    mints: std::sync::atomic::AtomicU64,
    /// Made at first use: its RSA key costs a moment to generate.
    login_page: std::sync::OnceLock<LoginPage>,
}

impl ReferenceIdp {
    /// A simulator with these settings.
    pub fn new(options: LegacyIdpOptions) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                faults: Mutex::new(Faults::default()),
                refresh: Mutex::new(HashMap::new()),
                rotated: Mutex::new(HashMap::new()),
                reuses: std::sync::atomic::AtomicU64::new(0),
                userinfo_fault: Mutex::new(UserinfoFault::None),
                userinfo_reads: std::sync::atomic::AtomicU64::new(0),
                logins: std::sync::atomic::AtomicU64::new(0),
                renewals: std::sync::atomic::AtomicU64::new(0),
                mints: std::sync::atomic::AtomicU64::new(0),
                login_page: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Sets the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        *self
            .inner
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// Makes `/oauth/userinfo` answer this way from now on.
    pub fn set_userinfo_fault(&self, fault: UserinfoFault) {
        *self
            .inner
            .userinfo_fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// Number of `/oauth/userinfo` requests (answered or not).
    pub fn userinfo_reads(&self) -> u64 {
        self.inner
            .userinfo_reads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Number of rotated refresh tokens presented again (each revoked its
    /// family).
    pub fn refresh_reuses(&self) -> u64 {
        self.inner.reuses.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The refresh tokens `username` holds now (tests compare them with what
    /// the bridge stored).
    pub fn live_refresh_tokens(&self, username: &str) -> Vec<String> {
        self.inner
            .refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, e)| e.username == username)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Number of password checks answered (successful or not).
    pub fn login_attempts(&self) -> u64 {
        self.inner.logins.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Number of renewals answered (successful or not).
    pub fn renewals(&self) -> u64 {
        self.inner
            .renewals
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Number of tokens minted through `token-for-user` (answered or not).
    pub fn mints(&self) -> u64 {
        self.inner.mints.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Its own login page (the authorization code flow): ID token faults,
    /// counters.
    pub fn login_page(&self) -> &LoginPage {
        self.inner
            .login_page
            .get_or_init(|| LoginPage::new().expect("an RSA key for the simulator's ID tokens"))
    }

    /// Revokes every refresh token (simulates an upstream revocation).
    pub fn revoke_all_refresh_tokens(&self) {
        self.inner
            .refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The HTTP interface.
    pub fn router(&self) -> Router {
        let faulty = Router::new()
            .route("/api/v1/login", post(api_login))
            .route("/api/v1/renew", post(api_renew))
            .route("/api/v1/token-for-user", post(api_token_for_user))
            .route("/api/v1/users/lookup", post(api_lookup))
            .route("/api/v1/me", get(api_me))
            .route("/legacy/login.do", post(legacy_login))
            .route("/legacy/profile", get(legacy_profile))
            .route("/oauth/token", post(oauth_token))
            .route("/oauth/userinfo", get(oauth_userinfo))
            .merge(legacy_oidc::routes(self.clone()))
            .layer(middleware::from_fn_with_state(self.clone(), inject_faults));
        Router::new()
            .route(
                "/_control/faults",
                put(control_faults).get(control_faults_get),
            )
            .route("/healthz", get(|| async { "ok" }))
            .merge(faulty)
            .with_state(self.clone())
    }

    fn options(&self) -> &LegacyIdpOptions {
        &self.inner.options
    }

    /// Checks a password off the async threads (argon2 is CPU work).
    async fn check(&self, username: String, password: String) -> Result<User, StatusCode> {
        self.inner
            .logins
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let this = self.clone();
        let user = tokio::task::spawn_blocking(move || {
            this.options().users.verify(&username, &password).cloned()
        })
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .ok_or(StatusCode::UNAUTHORIZED)?;
        if user.locked {
            return Err(StatusCode::LOCKED);
        }
        Ok(user)
    }

    /// Mints an access token and a refresh token for a user.
    fn issue(&self, user: &User) -> Result<Issued, StatusCode> {
        self.issue_for(user, self.options().token_ttl, None)
    }

    /// Mints an access token living `ttl` seconds and a refresh token of
    /// `family` (a new one when `None`: a sign-in).
    fn issue_for(&self, user: &User, ttl: i64, family: Option<&str>) -> Result<Issued, StatusCode> {
        let opts = self.options();
        let now = now_unix();
        let mut attributes = Vec::new();
        if let Some(name) = &user.name {
            attributes.push(("name".to_owned(), name.clone()));
        }
        if let Some(email) = &user.email {
            attributes.push(("email".to_owned(), email.clone()));
        }
        attributes.extend(user.attributes.iter().map(|(k, v)| (k.clone(), v.clone())));
        let claims = Lt1Claims {
            sub: user.sub.clone(),
            iat: now,
            exp: now + ttl,
            scope: Some(opts.scope.clone()),
            attributes,
        };
        let access_token = opts
            .keys
            .mint(&claims)
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let refresh_token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        self.inner
            .refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                refresh_token.clone(),
                RefreshEntry {
                    username: user.username.clone(),
                    expires_at: now + opts.refresh_ttl,
                    family: family.map_or_else(|| refresh_token.clone(), str::to_owned),
                },
            );
        Ok(Issued {
            access_token,
            refresh_token,
            expires_in: ttl,
            expires_at: claims.exp,
        })
    }

    /// Renews with a refresh token. Legacy IdPs of this kind keep the
    /// refresh token and only mint a new access token, unless told to
    /// rotate.
    fn renew(&self, refresh_token: &str) -> Result<(User, Issued), StatusCode> {
        self.inner
            .renewals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (username, family) = {
            let map = self
                .inner
                .refresh
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(entry) = map.get(refresh_token) else {
                drop(map);
                self.revoke_if_reused(refresh_token);
                return Err(StatusCode::UNAUTHORIZED);
            };
            if entry.expires_at < now_unix() {
                return Err(StatusCode::UNAUTHORIZED);
            }
            (entry.username.clone(), entry.family.clone())
        };
        let user = self
            .options()
            .users
            .get(&username)
            .cloned()
            .ok_or(StatusCode::UNAUTHORIZED)?;
        if user.locked {
            return Err(StatusCode::LOCKED);
        }
        let ttl = self
            .options()
            .renewed_token_ttl
            .unwrap_or(self.options().token_ttl);
        let mut issued = self.issue_for(&user, ttl, Some(&family))?;
        let mut map = self
            .inner
            .refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !self.options().rotate_refresh_tokens {
            // Keep the refresh token the caller holds; drop the one just minted.
            map.remove(&issued.refresh_token);
            refresh_token.clone_into(&mut issued.refresh_token);
        } else if map.remove(refresh_token).is_some() {
            self.inner
                .rotated
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(refresh_token.to_owned(), family);
        } else {
            // A concurrent renewal spent it first: this use is a reuse.
            map.remove(&issued.refresh_token);
            drop(map);
            self.revoke_if_reused(refresh_token);
            return Err(StatusCode::UNAUTHORIZED);
        }
        Ok((user, issued))
    }

    /// A refresh token spent by rotation presented again means it leaked:
    /// every refresh token of its sign-in is revoked.
    fn revoke_if_reused(&self, refresh_token: &str) {
        let family = self
            .inner
            .rotated
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(refresh_token)
            .cloned();
        let Some(family) = family else {
            return;
        };
        self.inner
            .reuses
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner
            .refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, e| e.family != family);
    }

    /// The user behind a valid access token.
    fn user_for_token(&self, token: &str) -> Option<User> {
        let claims = self.options().keys.validate(token, now_unix()).ok()?;
        self.options().users.by_sub(&claims.sub).cloned()
    }
}

#[async_trait::async_trait]
impl Authority for ReferenceIdp {
    async fn check(&self, username: String, password: String) -> Result<User, StatusCode> {
        ReferenceIdp::check(self, username, password).await
    }

    fn issue(&self, user: &User) -> Result<(String, String, i64), StatusCode> {
        ReferenceIdp::issue(self, user).map(|i| (i.access_token, i.refresh_token, i.expires_in))
    }

    fn user(&self, username: &str) -> Option<User> {
        self.options().users.get(username).cloned()
    }

    fn client_id(&self) -> String {
        self.options().oauth_client_id.clone()
    }

    fn scope(&self) -> String {
        self.options().scope.clone()
    }

    fn login_page(&self) -> &LoginPage {
        ReferenceIdp::login_page(self)
    }
}

struct Issued {
    access_token: String,
    refresh_token: String,
    expires_in: i64,
    expires_at: i64,
}

async fn inject_faults(State(idp): State<ReferenceIdp>, request: Request, next: Next) -> Response {
    let faults = idp
        .inner
        .faults
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    match faults.mode {
        FaultMode::None => next.run(request).await,
        FaultMode::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            (status, "simulated failure").into_response()
        }
        FaultMode::Garbage => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "<html>not json",
        )
            .into_response(),
        FaultMode::Oversize => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            vec![b' '; 1 << 20],
        )
            .into_response(),
        FaultMode::Redirect => Redirect::temporary("http://127.0.0.1:9/elsewhere").into_response(),
    }
}

async fn control_faults(
    State(idp): State<ReferenceIdp>,
    Json(faults): Json<Faults>,
) -> Json<Faults> {
    idp.set_faults(faults.clone());
    Json(faults)
}

async fn control_faults_get(State(idp): State<ReferenceIdp>) -> Json<Faults> {
    Json(
        idp.inner
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    )
}

fn profile_json(user: &User) -> Value {
    let mut v =
        json!({"id": user.sub, "username": user.username, "email": user.email, "name": user.name});
    if let Value::Object(map) = &mut v {
        for (k, val) in &user.attributes {
            map.insert(k.clone(), Value::String(val.clone()));
        }
    }
    v
}

fn error_json(status: StatusCode) -> Response {
    let code = match status {
        StatusCode::LOCKED => "account_locked",
        StatusCode::UNAUTHORIZED => "invalid_credentials",
        _ => "error",
    };
    (status, Json(json!({"error": code}))).into_response()
}

#[derive(Deserialize)]
struct ApiLogin {
    username: String,
    password: String,
}

async fn api_login(State(idp): State<ReferenceIdp>, Json(body): Json<ApiLogin>) -> Response {
    let user = match idp.check(body.username, body.password).await {
        Ok(u) => u,
        Err(status) => return error_json(status),
    };
    match idp.issue(&user) {
        Ok(issued) => Json(json!({
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "refresh_token": issued.refresh_token,
            "user": profile_json(&user),
        }))
        .into_response(),
        Err(status) => error_json(status),
    }
}

#[derive(Deserialize)]
struct ApiRenew {
    refresh_token: String,
}

/// The API key the simulator's "token for user" endpoint wants.
pub const MINT_API_KEY: &str = "reference-mint-key";

#[derive(Deserialize)]
struct ApiTokenForUser {
    subject: String,
}

async fn api_token_for_user(
    State(idp): State<ReferenceIdp>,
    headers: HeaderMap,
    Json(body): Json<ApiTokenForUser>,
) -> Response {
    let key_ok = headers
        .get("x-api-key")
        .is_some_and(|k| k.as_bytes() == MINT_API_KEY.as_bytes());
    if !key_ok {
        return error_json(StatusCode::FORBIDDEN);
    }
    idp.inner
        .mints
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Some(user) = idp.options().users.by_sub(&body.subject).cloned() else {
        return error_json(StatusCode::UNAUTHORIZED);
    };
    if user.locked {
        return error_json(StatusCode::LOCKED);
    }
    match idp.issue(&user) {
        Ok(issued) => Json(json!({
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "user": profile_json(&user),
        }))
        .into_response(),
        Err(status) => error_json(status),
    }
}

#[derive(Deserialize)]
struct ApiLookup {
    email: String,
}

/// `POST /api/v1/users/lookup` `{"email"}`: the user's profile, or 404; with
/// the same API key as token-for-user (a directory lookup, for Auth0's
/// `get_user` migration script through the bridge).
async fn api_lookup(
    State(idp): State<ReferenceIdp>,
    headers: HeaderMap,
    Json(body): Json<ApiLookup>,
) -> Response {
    let key_ok = headers
        .get("x-api-key")
        .is_some_and(|k| k.as_bytes() == MINT_API_KEY.as_bytes());
    if !key_ok {
        return error_json(StatusCode::FORBIDDEN);
    }
    match idp.options().users.by_email(&body.email) {
        Some(user) => Json(json!({ "user": profile_json(user) })).into_response(),
        None => error_json(StatusCode::NOT_FOUND),
    }
}

async fn api_renew(State(idp): State<ReferenceIdp>, Json(body): Json<ApiRenew>) -> Response {
    match idp.renew(&body.refresh_token) {
        Ok((user, issued)) => Json(json!({
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "refresh_token": issued.refresh_token,
            "user": profile_json(&user),
        }))
        .into_response(),
        Err(status) => error_json(status),
    }
}

fn token_with_scheme<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (given, token) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then_some(token.trim())
}

fn unauthorized(scheme: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token"})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{scheme} error=\"invalid_token\"")) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

async fn api_me(State(idp): State<ReferenceIdp>, headers: HeaderMap) -> Response {
    match token_with_scheme(&headers, "Bearer").and_then(|t| idp.user_for_token(t)) {
        Some(user) => Json(profile_json(&user)).into_response(),
        None => unauthorized("Bearer"),
    }
}

#[derive(Deserialize)]
struct LegacyLoginForm {
    j_username: String,
    j_password: String,
    realm: Option<String>,
}

async fn legacy_login(
    State(idp): State<ReferenceIdp>,
    Form(form): Form<LegacyLoginForm>,
) -> Response {
    if form.realm.as_deref() != Some(idp.options().realm.as_str()) {
        return (StatusCode::BAD_REQUEST, "unknown realm").into_response();
    }
    let user = match idp.check(form.j_username, form.j_password).await {
        Ok(u) => u,
        Err(StatusCode::UNAUTHORIZED) => {
            return (StatusCode::FORBIDDEN, "ACCESS DENIED").into_response();
        }
        Err(status) => return (status, "ACCOUNT LOCKED").into_response(),
    };
    match idp.issue(&user) {
        Ok(issued) => {
            let mut response = (StatusCode::OK, "OK").into_response();
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&issued.access_token) {
                headers.insert("x-legacy-token", v);
            }
            headers.insert("x-legacy-expires", HeaderValue::from(issued.expires_at));
            response
        }
        Err(status) => status.into_response(),
    }
}

async fn legacy_profile(State(idp): State<ReferenceIdp>, headers: HeaderMap) -> Response {
    match token_with_scheme(&headers, "Legacy").and_then(|t| idp.user_for_token(t)) {
        Some(user) => {
            let mut v = json!({"uid": user.sub, "login": user.username, "mail": user.email, "displayName": user.name});
            if let (Value::Object(map), Some(roles)) = (&mut v, user.attributes.get("roles")) {
                map.insert("groups".into(), Value::String(roles.clone()));
            }
            Json(v).into_response()
        }
        None => unauthorized("Legacy"),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// A `private_key_jwt` assertion (RFC 7523 §3) signed by the configured
/// client key, for this token endpoint.
fn assertion_ok(idp: &ReferenceIdp, headers: &HeaderMap, form: &TokenForm) -> bool {
    let opts = idp.options();
    let (Some(jwk), Some(assertion)) = (&opts.oauth_client_jwk, &form.client_assertion) else {
        return false;
    };
    if form.client_assertion_type.as_deref()
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return false;
    }
    let Ok(jwk) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone()) else {
        return false;
    };
    let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(&jwk) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[format!("http://{host}/oauth/token")]);
    validation.set_issuer(&[&opts.oauth_client_id]);
    validation.sub = Some(opts.oauth_client_id.clone());
    jsonwebtoken::decode::<Value>(assertion, &key, &validation).is_ok()
}

fn client_ok(idp: &ReferenceIdp, headers: &HeaderMap, form: &TokenForm) -> bool {
    let opts = idp.options();
    if form.client_assertion.is_some() {
        return assertion_ok(idp, headers, form);
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = match basic {
        Some(pair) => {
            let (id, secret) = pair.split_once(':').unwrap_or((&pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(id), decode(secret))
        }
        None => (
            form.client_id.clone().unwrap_or_default(),
            form.client_secret.clone().unwrap_or_default(),
        ),
    };
    id == opts.oauth_client_id && secret == opts.oauth_client_secret
}

async fn oauth_token(
    State(idp): State<ReferenceIdp>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !client_ok(&idp, &headers, &form) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    let result = match form.grant_type.as_str() {
        "password" => {
            let (Some(u), Some(p)) = (form.username, form.password) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "username and password are required",
                );
            };
            match idp.check(u, p).await {
                Ok(user) => idp.issue(&user),
                Err(status) => Err(status),
            }
        }
        "refresh_token" => {
            let Some(r) = form.refresh_token else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            idp.renew(&r).map(|(_, issued)| issued)
        }
        "authorization_code" => {
            return legacy_oidc::redeem_code(
                &idp,
                &headers,
                form.code.as_deref(),
                form.redirect_uri.as_deref(),
                form.code_verifier.as_deref(),
            );
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only password, refresh_token and authorization_code",
            );
        }
    };
    match result {
        Ok(issued) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "access_token": issued.access_token,
                "token_type": "bearer",
                "expires_in": issued.expires_in,
                "refresh_token": issued.refresh_token,
                "scope": idp.options().scope,
            })),
        )
            .into_response(),
        // Keycloak-style answers: a locked account is an invalid_grant whose
        // description says so.
        Err(StatusCode::LOCKED) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Account is locked",
        ),
        Err(StatusCode::UNAUTHORIZED) => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid user credentials",
        ),
        Err(_) => oauth_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        ),
    }
}

async fn oauth_userinfo(State(idp): State<ReferenceIdp>, headers: HeaderMap) -> Response {
    idp.inner
        .userinfo_reads
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let fault = *idp
        .inner
        .userinfo_fault
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if fault == UserinfoFault::ServerError {
        return error_json(StatusCode::INTERNAL_SERVER_ERROR);
    }
    match token_with_scheme(&headers, "Bearer").and_then(|t| idp.user_for_token(t)) {
        Some(user) => {
            let mut v = json!({"sub": user.sub, "preferred_username": user.username, "email": user.email, "email_verified": true, "name": user.name});
            if let Value::Object(map) = &mut v {
                // Some IdPs state a reused session's time here too.
                if let Some(at) = idp.login_page().session_auth_time() {
                    map.insert("auth_time".into(), at.into());
                }
                if fault == UserinfoFault::NoEmailVerified {
                    map.remove("email_verified");
                }
                for (k, val) in &user.attributes {
                    map.insert(k.clone(), Value::String(val.clone()));
                }
            }
            Json(v).into_response()
        }
        None => unauthorized("Bearer"),
    }
}

#[cfg(test)]
mod fault_tests {
    use super::*;

    #[test]
    fn the_readme_fault_examples_parse() {
        let latency: Faults = serde_json::from_str(r#"{"latency_ms":2000}"#).expect("latency");
        assert_eq!(latency.latency_ms, 2000);
        assert_eq!(latency.mode, FaultMode::None);
        let status: Faults =
            serde_json::from_str(r#"{"mode":"status","value":503}"#).expect("status");
        assert_eq!(status.mode, FaultMode::Status(503));
        let back: Faults =
            serde_json::from_str(&serde_json::to_string(&status).expect("json")).expect("again");
        assert_eq!(back, status);
        assert!(serde_json::from_str::<Faults>(r#"{"mode":"bogus"}"#).is_err());
    }
}
