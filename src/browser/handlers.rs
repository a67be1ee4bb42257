//! The browser's axum handlers and routes: the only module of `browser`
//! that sees the application state. Each handler extracts the request,
//! builds the narrow input its body takes with that type's `new` over
//! `&Settings` and the parts it names, and calls the body:
//! [`authorize::Authorize`], [`submit::PasswordSignIn`],
//! [`logout::Logout`], [`upstream::Callback`].

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Query, RawForm, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tracing::instrument;

use super::session::SessionBackend;
use super::submit::LoginForm;
use super::{authorize, logout, submit, upstream};
use crate::app::state::AppState;
use crate::domain::store::Store;
use crate::protocol::provider::authorize::AuthorizationParams;

/// The browser's routes, under the login session: authorization, the
/// login form's submission, logout and the redirect legacy IdP's callback.
pub fn routes(state: &AppState) -> Router<AppState> {
    let settings = &state.settings;
    let sessions = SessionManagerLayer::new(SessionBackend(state.store.clone()))
        // `__Host-` when Secure: no subdomain can set or shadow it
        // (RFC 6265bis §4.1.3.2); it needs Path=/ and no Domain, as here.
        .with_name(if settings.secure_cookie {
            "__Host-idp_bridge_session"
        } else {
            "idp_bridge_session"
        })
        .with_secure(settings.secure_cookie)
        .with_http_only(true)
        // Lax: the return from Auth0 and the top-level navigation into
        // /authorize must carry the cookie.
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(CookieDuration::seconds(
            settings.session_idle_seconds,
        )));
    Router::new()
        .route("/authorize", get(authorize_get).post(authorize_post))
        .route("/login", post(login_post))
        .route("/logout", get(logout_get).post(logout_post))
        .route("/upstream/callback", get(callback))
        .layer(sessions)
}

/// What `/authorize` uses, from the state.
fn authorize_input(state: &AppState) -> authorize::Authorize<'_, dyn Store> {
    authorize::Authorize::new(
        &state.settings,
        &*state.store,
        &state.storage,
        &state.keys,
        &*state.upstream,
        &state.metrics,
        state.redirect.as_deref(),
    )
}

/// `GET /authorize`.
async fn authorize_get(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = AuthorizationParams::from_raw(query.unwrap_or_default().as_bytes());
    authorize::authorize(&authorize_input(&state), &session, &headers, params).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1 allows form posts).
async fn authorize_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    let params = AuthorizationParams::from_raw(&body);
    authorize::authorize(&authorize_input(&state), &session, &headers, params).await
}

/// `POST /login`.
#[instrument(skip_all, fields(client_id))]
async fn login_post(
    State(state): State<AppState>,
    session: Session,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let sign_in = submit::PasswordSignIn::new(
        &state.settings,
        &*state.store,
        &state.storage,
        &state.keys,
        &*state.upstream,
        &state.metrics,
        state.redirect.is_some(),
    );
    submit::login(&sign_in, &session, peer, &headers, form).await
}

/// What `/logout` uses, from the state.
fn logout_input(state: &AppState) -> logout::Logout<'_, dyn Store> {
    logout::Logout::new(
        &state.settings,
        &state.keys,
        &*state.store,
        &state.metrics,
        state.redirect.as_deref(),
    )
}

/// `GET /logout`.
async fn logout_get(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    // A query always reads (bytes that are not UTF-8 become U+FFFD).
    logout::logout(&logout_input(&state), session, &headers, &params, false).await
}

/// `POST /logout`.
async fn logout_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    params: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let input = logout_input(&state);
    match params {
        Ok(Form(params)) => logout::logout(&input, session, &headers, &params, true).await,
        Err(rejection) => logout::unreadable(&input, &rejection.body_text()),
    }
}

/// `GET /upstream/callback`.
async fn callback(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let input = upstream::Callback::new(
        &state.settings,
        state.redirect.as_deref(),
        &*state.store,
        &state.storage,
        &state.keys,
        &*state.upstream,
        &state.metrics,
    );
    upstream::callback(&input, &session, &headers, query.as_deref()).await
}
