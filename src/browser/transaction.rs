//! The redirect sign-in's transaction: what the bridge keeps between
//! handing the browser to the legacy IdP and its callback. It lives in a
//! cookie sealed under the storage key and bound to the upstream `state`
//! (one cookie per sign-in), and is spent once in the store by the callback.
//!
//! A browser keeps at most [`MAX_TRANSACTIONS`] of them: each is about
//! 1.5 kB and goes with every request to the bridge, so sign-ins abandoned
//! within `transaction_seconds` would otherwise pile up until every request
//! is refused for its header size (431, here or at a proxy). Each cookie's
//! value begins with its start time, so the oldest can be told apart
//! without opening them; starting one more expires those beyond the bound
//! ([`beyond_bound`]), and the newest sign-ins keep working.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::{Cookie, SameSite};

use super::pages::error_page;
use super::pending::PendingLogin;
use crate::domain::config::Branding;
use crate::domain::metrics::Metrics;
use crate::domain::store::OnceStore;
use crate::domain::upstream::redirect::{Flow, RedirectIdp};
use crate::util::clock::{now_unix, now_unix_micros};
use crate::util::crypto::{Purpose, StorageKey};

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

/// Transaction cookies a browser keeps at most (see the module doc).
pub const MAX_TRANSACTIONS: usize = 3;

/// The start of every transaction cookie's name.
fn name_prefix(secure: bool) -> &'static str {
    if secure {
        "__Host-idp_bridge_tx_"
    } else {
        "idp_bridge_tx_"
    }
}

/// The cookie of the sign-in whose upstream `state` is `state`: `__Host-`
/// when Secure, so no subdomain can plant one.
pub fn cookie_name(secure: bool, state: &str) -> String {
    format!("{}{}", name_prefix(secure), &state[..16])
}

/// A transaction cookie's value: the start time (unix microseconds, in
/// the clear: it only orders the browser's own sign-ins), a dot, the sealed
/// transaction (base64url, so without dots).
pub fn cookie_value(sealed: &str) -> String {
    format!("{}.{sealed}", now_unix_micros())
}

/// The sealed transaction in a cookie's value.
pub fn sealed_part(value: &str) -> &str {
    value.split_once('.').map_or(value, |(_, sealed)| sealed)
}

/// The names of the browser's transaction cookies beyond the newest
/// `keep`, to expire as a new sign-in starts. A value without a readable
/// time counts as the oldest.
pub fn beyond_bound(headers: &HeaderMap, secure: bool, keep: usize) -> Vec<String> {
    let prefix = name_prefix(secure);
    let mut found: Vec<(i64, String)> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name().starts_with(prefix))
        .map(|c| {
            let started = c
                .value()
                .split_once('.')
                .and_then(|(t, _)| t.parse().ok())
                .unwrap_or(0);
            (started, c.name().to_owned())
        })
        .collect();
    found.sort_unstable_by(|a, b| b.cmp(a));
    found.into_iter().skip(keep).map(|(_, name)| name).collect()
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

/// What opening a callback's transaction uses: the storage key that sealed
/// it, where its id is spent, the pages' branding and the audit counters.
#[derive(Debug)]
pub struct Spend<'a, S: ?Sized> {
    /// Opens the sealed cookie.
    pub storage: &'a StorageKey,
    /// Spends the transaction's id once.
    pub store: &'a S,
    /// The error pages' branding.
    pub branding: &'a Branding,
    /// Audit counters.
    pub metrics: &'a Metrics,
}

/// Opens the transaction cookie, checks its age, and spends its id in the
/// store, so no second callback gets past this point.
pub async fn open_and_spend<S: OnceStore + ?Sized>(
    spend: &Spend<'_, S>,
    redirect: &RedirectIdp,
    upstream_state: &str,
    sealed: &str,
) -> Result<(Transaction, i64), Response> {
    let page = |status, heading: &str, message: &str, cause: &str| {
        error_page(spend.branding, status, heading, message, cause)
    };
    let restart = "Go back to the application and start signing in again.";
    let Some(tx) = spend
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
    match spend.store.use_assertion(&once_key, expires_at).await {
        Ok(true) => Ok((tx, expires_at)),
        Ok(false) => {
            crate::audit_warn!(spend.metrics, "login_form_replay", "an upstream callback was replayed", client_id = %tx.pending.request.client_id);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_cookies_beyond_the_bound_are_named_for_expiry() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static(
                "idp_bridge_tx_a=300.x; idp_bridge_session=s; idp_bridge_tx_b=100.x",
            ),
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("idp_bridge_tx_c=200.x; idp_bridge_tx_d=old-format"),
        );
        assert_eq!(
            beyond_bound(&headers, false, 2),
            ["idp_bridge_tx_b", "idp_bridge_tx_d"]
        );
        assert!(beyond_bound(&headers, false, 4).is_empty());
        assert!(
            beyond_bound(&headers, true, 0).is_empty(),
            "only __Host- cookies count under https"
        );
        assert_eq!(sealed_part("300.abc"), "abc");
        assert_eq!(sealed_part("abc"), "abc");
    }
}
