//! The browser side of signing in: everything that needs a cookie, a page
//! or a person. `/authorize` shows the form ([`authorize`]), `POST /login`
//! checks the password ([`submit`]), `/logout` ends the session
//! ([`logout`]). It owns the sealed pending request ([`pending`]), the
//! double-submit CSRF cookie ([`csrf`]), the login session ([`session`]),
//! the hand-off to a redirect legacy IdP and its callback ([`upstream`],
//! with the sealed transaction cookie in [`transaction`]),
//! the pages and their languages ([`pages`], [`locale`]) and login
//! throttling ([`throttle`]).
//!
//! It depends on [`crate::protocol::provider`] for the protocol (validating the
//! request, issuing the code, shaping the authorization response); the
//! provider never depends back on it.

pub mod attempt;
pub mod authorize;
pub mod csrf;
pub mod locale;
pub mod logout;
pub mod pages;
pub mod pending;
pub mod session;
pub mod submit;
pub mod throttle;
pub mod transaction;
pub mod upstream;

use axum::Router;
use axum::routing::{get, post};
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::app::state::AppState;
use session::SessionBackend;

/// The browser's routes, under the login session: authorization, the
/// login form's submission, and logout.
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
        .route(
            "/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/login", post(submit::login_post))
        .route("/logout", get(logout::logout_get).post(logout::logout_post))
        .route("/upstream/callback", get(upstream::callback))
        .layer(sessions)
}
