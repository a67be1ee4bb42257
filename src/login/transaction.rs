//! The redirect sign-in's transaction: what the bridge keeps between
//! handing the browser to the legacy IdP and its callback. It lives in a
//! cookie sealed under the storage key and bound to the upstream `state`
//! (one cookie per sign-in), and is spent once in the store by the callback.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::{Cookie, SameSite};

use super::pages::error_page;
use super::pending::PendingLogin;
use crate::clock::now_unix;
use crate::crypto::Purpose;
use crate::state::AppState;
use crate::upstream::redirect::{Flow, RedirectIdp};

/// One sign-in handed to the legacy IdP.
#[derive(Serialize, Deserialize)]
pub struct Transaction {
    /// Spent once, by the callback.
    pub id: String,
    /// The upstream secrets.
    pub flow: Flow,
    /// The Auth0-side request and the page language.
    pub pending: PendingLogin,
    /// When it began.
    pub started_at: i64,
}

/// The cookie of the sign-in whose upstream `state` is `state`: `__Host-`
/// when Secure, so no subdomain can plant one.
pub fn cookie_name(secure: bool, state: &str) -> String {
    let prefix = if secure { "__Host-" } else { "" };
    format!("{prefix}idp_bridge_tx_{}", &state[..16])
}

/// Whether `state` has the shape the bridge makes (a random token), so an
/// attacker's value never names an arbitrary cookie.
pub fn plausible_state(state: &str) -> bool {
    state.len() == 43
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn transaction_cookie(name: String, value: String, secure: bool, max_age: i64) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        // Lax: the legacy IdP's redirect back is a top-level GET navigation.
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(tower_sessions::cookie::time::Duration::seconds(max_age))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Opens the transaction cookie, checks its age, and spends its id in the
/// store, so no second callback gets past this point.
pub async fn open_and_spend(
    state: &AppState,
    redirect: &RedirectIdp,
    upstream_state: &str,
    sealed: &str,
) -> Result<(Transaction, i64), Response> {
    let page = |status, heading: &str, message: &str, cause: &str| {
        error_page(&state.settings.branding, status, heading, message, cause)
    };
    let restart = "Go back to the application and start signing in again.";
    let Some(tx) = state
        .storage
        .open_text_bound(
            Purpose::UpstreamTransaction,
            upstream_state.as_bytes(),
            sealed,
        )
        .and_then(|json| serde_json::from_slice::<Transaction>(&json).ok())
    else {
        return Err(page(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            restart,
            "the transaction cookie was tampered with or belongs to another state",
        ));
    };
    let expires_at = tx.started_at + redirect.transaction_seconds();
    if now_unix() > expires_at {
        return Err(page(
            StatusCode::BAD_REQUEST,
            "This sign-in took too long",
            restart,
            "the upstream transaction expired",
        ));
    }
    let once_key = format!("upstream-tx:{}", tx.id);
    match state.store.use_assertion(&once_key, expires_at).await {
        Ok(true) => Ok((tx, expires_at)),
        Ok(false) => {
            crate::audit_warn!(state.metrics, "login_form_replay", "an upstream callback was replayed", client_id = %tx.pending.request.client_id);
            Err(page(
                StatusCode::BAD_REQUEST,
                "This sign-in was already used",
                restart,
                "the upstream callback was replayed",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot record the upstream transaction");
            Err(page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is not available right now",
                "Please try again in a few minutes.",
                "the store cannot record the upstream transaction",
            ))
        }
    }
}
