//! The reference legacy IdP's own login page: an OpenID Connect provider
//! with the authorization code flow (PKCE S256 required), so the bridge's
//! `oidc` and `oauth2` adapters can be driven end to end. Its access tokens
//! are the same LT1 tokens as the password endpoints' (opaque to the
//! bridge); its ID tokens are RS256 JWTs with `nonce`, `at_hash` and
//! `auth_time` ([`signing`]).
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
//! As a conformant OP it answers with `iss` (RFC 9207, advertised in
//! discovery) and grants `offline_access` only with `prompt=consent`
//! (OIDC Core §11: without it, an ID token sign-in gets no refresh token).
//! Tests make it misbehave with [`IdTokenFault`], drop `iss`
//! ([`LoginPage::set_response_iss`]), reuse an older session
//! ([`LoginPage::set_session_age`]) and re-key under the same `kid`
//! ([`LoginPage::rotate_key_keeping_kid`]). The users, the token minting and
//! the client check belong to the simulator ([`Authority`]).

pub mod signing;
pub mod state;

use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use self::signing::IdTokenFault;
use self::signing::IdTokenInput;
pub use self::state::LoginPage;
use self::state::PendingCode;
use super::users::User;
use crate::util::clock::now_unix;
use crate::util::crypto::{b64url, random_token, sha256};

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

/// The login page's routes (the token endpoint is the simulator's, which
/// calls [`redeem_code`] for codes).
pub fn routes<A: Authority, S: Clone + Send + Sync + 'static>(authority: A) -> Router<S> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::<A>))
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

async fn discovery<A: Authority>(State(a): State<A>, headers: HeaderMap) -> Json<Value> {
    let iss = issuer(&headers);
    let mut document = json!({
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
    });
    if a.login_page().sends_iss() {
        document["authorization_response_iss_parameter_supported"] = Value::Bool(true);
    }
    Json(document)
}

async fn jwks<A: Authority>(State(a): State<A>) -> Json<Value> {
    Json(a.login_page().signer.jwks())
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

/// The `iss` of its answers (RFC 9207), unless a test turned it off.
fn response_iss<A: Authority>(a: &A, headers: &HeaderMap) -> Option<String> {
    a.login_page().sends_iss().then(|| issuer(headers))
}

/// Where to send an answer: the request's redirect URI with `params`.
fn answer(request: &AuthRequest, iss: Option<&str>, params: &[(&str, &str)]) -> Response {
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
        if let Some(iss) = iss {
            q.append_pair("iss", iss);
        }
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
        let iss = response_iss(&a, &headers);
        return answer(&request, iss.as_deref(), &[("error", "login_required")]);
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
    let iss = response_iss(&a, &headers);
    if form.action.as_deref() == Some("cancel") {
        return answer(&request, iss.as_deref(), &[("error", "access_denied")]);
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
    let page = a.login_page();
    let scope = request.scope.clone().unwrap_or_default();
    let consent = request
        .prompt
        .as_deref()
        .is_some_and(|p| p.split(' ').any(|v| v == "consent"));
    page.codes
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
                offline: consent && scope.split(' ').any(|s| s == "offline_access"),
                scope,
                auth_time: page.session_auth_time().unwrap_or_else(now_unix),
                expires_at: now_unix() + 60,
            },
        );
    answer(&request, iss.as_deref(), &[("code", &code)])
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
        // OIDC Core §11: offline access needs the user's consent, which
        // this page takes as given only with prompt=consent.
        if !pending.offline {
            if let Some(map) = body.as_object_mut() {
                map.remove("refresh_token");
            }
        }
        let input = IdTokenInput {
            iss: &issuer(headers),
            client_id: a.client_id(),
            user: &user,
            nonce: pending.nonce.as_deref(),
            access: &access,
            auth_time: pending.auth_time,
        };
        match signing::mint(&page.signer, page.fault(), &input) {
            Ok(jwt) => body["id_token"] = Value::String(jwt),
            Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "cannot sign").into_response(),
        }
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
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
