//! The reference legacy IdP's own login page: an OpenID Connect provider
//! with the authorization code flow (PKCE S256 required), so the bridge's
//! `oidc` and `oauth2` adapters can be driven end to end. Its access tokens
//! are the same LT1 tokens as the password endpoints' (opaque to the
//! bridge); its ID tokens are RS256 JWTs with `nonce` and `at_hash`.
//!
//! | endpoint | what |
//! |---|---|
//! | `GET /.well-known/openid-configuration` | discovery (the issuer is `http://` + the request's `Host`) |
//! | `GET /oauth/jwks` | the ID token key |
//! | `GET /oauth/authorize` | the login page (`prompt=none` answers `login_required`) |
//! | `POST /oauth/authorize` | the form: sign in, or "Cancel" for `access_denied` |
//! | `POST /oauth/token` | `grant_type=authorization_code` (through [`redeem_code`]) |
//! | `GET /oauth/logout` | RP-initiated logout |
//!
//! Tests make it misbehave with [`IdTokenFault`]. The users, the token
//! minting and the client check belong to the simulator ([`Authority`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::users::User;
use crate::clock::now_unix;
use crate::crypto::{b64url, random_token, sha256};

/// What the simulator lends its login page.
#[async_trait]
pub trait Authority: Clone + Send + Sync + 'static {
    /// Checks a password (counted as a login attempt).
    async fn check(&self, username: String, password: String) -> Result<User, StatusCode>;
    /// Mints an access token and a refresh token: `(access, refresh, expires_in)`.
    fn issue(&self, user: &User) -> Result<(String, String, i64), StatusCode>;
    /// A user by login name.
    fn user(&self, username: &str) -> Option<User>;
    /// The OAuth client id it accepts.
    fn client_id(&self) -> String;
    /// The scope written into tokens.
    fn scope(&self) -> String;
    /// The login page's state.
    fn login_page(&self) -> &LoginPage;
}

/// A way for the ID token to be wrong, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdTokenFault {
    /// A correct ID token.
    #[default]
    None,
    /// A signature that does not verify (same `kid`).
    BadSignature,
    /// Another issuer.
    WrongIssuer,
    /// Another audience.
    WrongAudience,
    /// Another nonce.
    WrongNonce,
    /// No `email_verified` claim.
    NoEmailVerified,
    /// An `at_hash` of another token.
    WrongAtHash,
    /// Nothing about the user but `sub` (a minimal, valid ID token).
    SubOnly,
}

#[derive(Debug)]
struct PendingCode {
    username: String,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    scope: String,
    expires_at: i64,
}

/// The login page's state: codes in flight, the signing key, faults.
pub struct LoginPage {
    codes: Mutex<HashMap<String, PendingCode>>,
    key: EncodingKey,
    jwk: Value,
    fault: Mutex<IdTokenFault>,
    logouts: AtomicU64,
    code_redemptions: AtomicU64,
}

impl std::fmt::Debug for LoginPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginPage")
            .field("fault", &self.fault())
            .finish_non_exhaustive()
    }
}

impl LoginPage {
    /// A fresh RSA 2048 key and no codes.
    pub fn new() -> Result<Self, String> {
        let (der, jwk) = crate::keys::new_rsa_key().map_err(|e| e.to_string())?;
        Ok(Self {
            codes: Mutex::new(HashMap::new()),
            key: EncodingKey::from_rsa_der(&der),
            jwk,
            fault: Mutex::new(IdTokenFault::None),
            logouts: AtomicU64::new(0),
            code_redemptions: AtomicU64::new(0),
        })
    }

    /// Makes the next ID tokens wrong in this way.
    pub fn set_id_token_fault(&self, fault: IdTokenFault) {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// How many times `/oauth/logout` was visited.
    pub fn logouts(&self) -> u64 {
        self.logouts.load(Ordering::Relaxed)
    }

    /// How many authorization codes were presented at the token endpoint.
    pub fn code_redemptions(&self) -> u64 {
        self.code_redemptions.load(Ordering::Relaxed)
    }

    fn fault(&self) -> IdTokenFault {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The login page's routes (the token endpoint is the simulator's, which
/// calls [`redeem_code`] for codes).
pub fn routes<A: Authority, S: Clone + Send + Sync + 'static>(authority: A) -> Router<S> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth/jwks", get(jwks::<A>))
        .route(
            "/oauth/authorize",
            get(authorize_get::<A>).post(authorize_post::<A>),
        )
        .route("/oauth/logout", get(logout::<A>))
        .with_state(authority)
}

/// `http://` + the request's `Host`: the simulator does not know its own
/// address before it is bound.
fn issuer(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

async fn discovery(headers: HeaderMap) -> Json<Value> {
    let iss = issuer(&headers);
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "userinfo_endpoint": format!("{iss}/oauth/userinfo"),
        "jwks_uri": format!("{iss}/oauth/jwks"),
        "end_session_endpoint": format!("{iss}/oauth/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks<A: Authority>(State(a): State<A>) -> Json<Value> {
    Json(json!({"keys": [a.login_page().jwk]}))
}

/// The authorization request, carried through the login form.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AuthRequest {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    scope: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    login_hint: Option<String>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn login_page(request: &AuthRequest, message: Option<&str>, status: StatusCode) -> Response {
    let carried = b64url(
        serde_json::to_string(request)
            .unwrap_or_default()
            .as_bytes(),
    );
    let username = escape(request.login_hint.as_deref().unwrap_or(""));
    let message = message.map_or(String::new(), |m| {
        format!(r#"<p role="alert">{}</p>"#, escape(m))
    });
    let page = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Legacy Corp sign-in</title></head>
<body><main><h1>Legacy Corp sign-in</h1>{message}
<form method="post" action="/oauth/authorize">
<input type="hidden" name="request" value="{carried}">
<label>Username <input name="username" value="{username}" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button name="action" value="login">Sign in</button>
<button name="action" value="cancel">Cancel</button>
</form></main></body></html>"#
    );
    (status, Html(page)).into_response()
}

/// Where to send an answer: the request's redirect URI with `params`.
fn answer(request: &AuthRequest, iss: &str, params: &[(&str, &str)]) -> Response {
    let Some(Ok(mut url)) = request.redirect_uri.as_deref().map(url::Url::parse) else {
        return (StatusCode::BAD_REQUEST, "no valid redirect_uri").into_response();
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(state) = &request.state {
            q.append_pair("state", state);
        }
        q.append_pair("iss", iss);
    }
    Redirect::to(url.as_str()).into_response()
}

fn check_request<A: Authority>(a: &A, r: &AuthRequest) -> Result<(), &'static str> {
    if r.client_id.as_deref() != Some(a.client_id().as_str()) {
        return Err("unknown client_id");
    }
    if !r
        .redirect_uri
        .as_deref()
        .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
    {
        return Err("redirect_uri missing or not http(s)");
    }
    if r.response_type.as_deref() != Some("code") {
        return Err("response_type must be code");
    }
    if r.code_challenge_method.as_deref() != Some("S256") || r.code_challenge.is_none() {
        return Err("PKCE S256 is required");
    }
    Ok(())
}

async fn authorize_get<A: Authority>(
    State(a): State<A>,
    headers: HeaderMap,
    Query(request): Query<AuthRequest>,
) -> Response {
    if let Err(why) = check_request(&a, &request) {
        return (StatusCode::BAD_REQUEST, why).into_response();
    }
    if request
        .prompt
        .as_deref()
        .is_some_and(|p| p.split(' ').any(|v| v == "none"))
    {
        // This simulator keeps no session of its own.
        return answer(&request, &issuer(&headers), &[("error", "login_required")]);
    }
    login_page(&request, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    request: String,
    username: Option<String>,
    password: Option<String>,
    action: Option<String>,
}

async fn authorize_post<A: Authority>(
    State(a): State<A>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let request: AuthRequest = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &form.request,
    )
    .ok()
    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
    .unwrap_or_default();
    if let Err(why) = check_request(&a, &request) {
        return (StatusCode::BAD_REQUEST, why).into_response();
    }
    let iss = issuer(&headers);
    if form.action.as_deref() == Some("cancel") {
        return answer(&request, &iss, &[("error", "access_denied")]);
    }
    let user = match a
        .check(
            form.username.unwrap_or_default(),
            form.password.unwrap_or_default(),
        )
        .await
    {
        Ok(user) => user,
        Err(StatusCode::LOCKED) => {
            return login_page(
                &request,
                Some("This account is locked."),
                StatusCode::FORBIDDEN,
            );
        }
        Err(_) => {
            return login_page(
                &request,
                Some("Wrong username or password."),
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    let code = random_token();
    a.login_page()
        .codes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            code.clone(),
            PendingCode {
                username: user.username.clone(),
                client_id: request.client_id.clone().unwrap_or_default(),
                redirect_uri: request.redirect_uri.clone().unwrap_or_default(),
                challenge: request.code_challenge.clone().unwrap_or_default(),
                nonce: request.nonce.clone(),
                scope: request.scope.clone().unwrap_or_default(),
                expires_at: now_unix() + 60,
            },
        );
    answer(&request, &iss, &[("code", &code)])
}

/// The token endpoint's authorization code grant (the client is already
/// authenticated by the simulator): the code once, its redirect URI, PKCE.
pub fn redeem_code<A: Authority>(
    a: &A,
    headers: &HeaderMap,
    code: Option<&str>,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Response {
    let page = a.login_page();
    page.code_redemptions.fetch_add(1, Ordering::Relaxed);
    let invalid = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": why})),
        )
            .into_response()
    };
    let Some(pending) = code.and_then(|c| {
        page.codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(c)
    }) else {
        return invalid("unknown or used code");
    };
    if pending.expires_at < now_unix() || pending.client_id != a.client_id() {
        return invalid("expired code");
    }
    if redirect_uri != Some(pending.redirect_uri.as_str()) {
        return invalid("redirect_uri differs");
    }
    if verifier.map(|v| b64url(&sha256(v.as_bytes()))) != Some(pending.challenge) {
        return invalid("PKCE verification failed");
    }
    let Some(user) = a.user(&pending.username) else {
        return invalid("no such user");
    };
    let Ok((access, refresh, expires_in)) = a.issue(&user) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot issue").into_response();
    };
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": refresh,
        "scope": a.scope(),
    });
    if pending.scope.split(' ').any(|s| s == "openid") {
        match id_token(
            a,
            &issuer(headers),
            &user,
            pending.nonce.as_deref(),
            &access,
        ) {
            Ok(jwt) => body["id_token"] = Value::String(jwt),
            Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign").into_response(),
        }
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn id_token<A: Authority>(
    a: &A,
    iss: &str,
    user: &User,
    nonce: Option<&str>,
    access: &str,
) -> Result<String, jsonwebtoken::errors::Error> {
    let page = a.login_page();
    let fault = page.fault();
    let now = now_unix();
    let hash = sha256(if fault == IdTokenFault::WrongAtHash {
        b"another token"
    } else {
        access.as_bytes()
    });
    let mut claims = json!({
        "iss": if fault == IdTokenFault::WrongIssuer { "http://evil.example" } else { iss },
        "sub": user.sub,
        "aud": if fault == IdTokenFault::WrongAudience { "someone-else".to_owned() } else { a.client_id() },
        "iat": now,
        "exp": now + 300,
        "at_hash": b64url(&hash[..16]),
        "preferred_username": user.username,
        "name": user.name,
        "email": user.email,
        "email_verified": true,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = Value::String(if fault == IdTokenFault::WrongNonce {
            "another-nonce".into()
        } else {
            nonce.into()
        });
    }
    if fault == IdTokenFault::NoEmailVerified {
        if let Some(map) = claims.as_object_mut() {
            map.remove("email_verified");
        }
    }
    if let (Some(roles), Some(map)) = (user.attributes.get("roles"), claims.as_object_mut()) {
        let groups: Vec<&str> = roles.split(' ').collect();
        map.insert("groups".into(), json!(groups));
    }
    if let (IdTokenFault::SubOnly, Some(map)) = (fault, claims.as_object_mut()) {
        let protocol = ["iss", "sub", "aud", "iat", "exp", "at_hash", "nonce"];
        map.retain(|k, _| protocol.contains(&k.as_str()));
    }
    let mut header = Header::new(Algorithm::RS256);
    header.kid = page.jwk["kid"].as_str().map(str::to_owned);
    let jwt = jsonwebtoken::encode(&header, &claims, &page.key)?;
    if fault == IdTokenFault::BadSignature {
        // The same header and claims under another signature.
        let (signed, _) = jwt.rsplit_once('.').unwrap_or((&jwt, ""));
        return Ok(format!("{signed}.{}", b64url(&[7u8; 256])));
    }
    Ok(jwt)
}

#[derive(Deserialize)]
struct LogoutParams {
    post_logout_redirect_uri: Option<String>,
}

async fn logout<A: Authority>(State(a): State<A>, Query(params): Query<LogoutParams>) -> Response {
    a.login_page().logouts.fetch_add(1, Ordering::Relaxed);
    match params.post_logout_redirect_uri {
        Some(uri) if uri.starts_with("http://") || uri.starts_with("https://") => {
            Redirect::to(&uri).into_response()
        }
        _ => Html("<!doctype html><title>Signed out</title><p>You are signed out of Legacy Corp.")
            .into_response(),
    }
}
