//! The browser side of the redirect adapters (`oidc`, `oauth2`): a valid
//! `/authorize` is handed to the legacy IdP's own login page ([`start`], on
//! a [`Start`]), and `GET /upstream/callback` takes its answer
//! ([`callback`], on a [`Callback`]; its handler is in `handlers`).
//!
//! The transaction — the validated Auth0-side request, the upstream
//! `state`, `nonce` and PKCE verifier — lives in a cookie sealed under the
//! storage key and bound to the upstream `state`, one cookie per sign-in
//! (several tabs may sign in at once). So nothing is written before the
//! callback, a callback is accepted only in the browser that started it,
//! only within `transaction_seconds` (ten minutes at most), and only once: its id is spent in
//! the store before the code is redeemed. A browser keeps at most
//! [`MAX_TRANSACTIONS`] of these cookies; starting another expires the
//! oldest.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_sessions::Session;
use url::Url;

use super::attempt::SignInPath;
use super::pages::error_page;
use super::pending::PendingLogin;
use super::session::{self, SessionUser};
use super::transaction::{
    MAX_TRANSACTIONS, Spend, Transaction, beyond_bound, cookie_name, cookie_value, open_and_spend,
    plausible_state, read_cookie, sealed_part, transaction_cookie,
};
use crate::domain::config::{Branding, Settings};
use crate::domain::keys::SigningKeys;
use crate::domain::metrics::Metrics;
use crate::domain::store::{GrantStore, LoginOnce, OnceStore};
use crate::domain::types::UnixTime;
use crate::domain::upstream::redirect::{Hints, RedirectIdp, SignedIn};
use crate::domain::upstream::{LegacyIdp, UpstreamError};
use crate::protocol::provider::authorize::AuthorizationRequest;
use crate::protocol::provider::code::{CodeIssuer, CodeTimes, IssuedFor, issue_code};
use crate::protocol::provider::response::respond;
use crate::util::clock::now_unix;
use crate::util::crypto::{Purpose, StorageKey};

/// The bridge's redirect URI at the legacy IdP.
pub fn callback_url(issuer: &str) -> Result<Url, url::ParseError> {
    Url::parse(&format!(
        "{}/upstream/callback",
        issuer.trim_end_matches('/')
    ))
}

/// What handing a sign-in to the legacy IdP uses: the adapter, the storage
/// key that seals the transaction cookie, the issuer (the callback URL),
/// the pages' branding, whether cookies are Secure, and the audit counters.
#[derive(Debug)]
pub struct Start<'a> {
    /// The redirect adapter.
    pub redirect: &'a RedirectIdp,
    /// Seals the transaction cookie.
    pub storage: &'a StorageKey,
    /// The issuer, without a trailing slash.
    pub issuer: &'a str,
    /// The pages' branding.
    pub branding: &'a Branding,
    /// Whether cookies are `Secure` (and `__Host-`).
    pub secure_cookie: bool,
    /// Audit counters.
    pub metrics: &'a Metrics,
}

impl<'a> Start<'a> {
    /// Over the configured issuer, branding and cookies, and the parts named.
    pub fn new(
        settings: &'a Settings,
        redirect: &'a RedirectIdp,
        storage: &'a StorageKey,
        metrics: &'a Metrics,
    ) -> Self {
        Self {
            redirect,
            storage,
            issuer: &settings.issuer,
            branding: &settings.branding,
            secure_cookie: settings.secure_cookie,
            metrics,
        }
    }
}

/// Sends the browser to the legacy IdP's login page for a validated
/// request; `headers` are the browser's (its transaction cookies).
pub async fn start(
    input: &Start<'_>,
    headers: &HeaderMap,
    pending: PendingLogin,
    hints: &Hints<'_>,
) -> Response {
    let Start {
        redirect,
        storage,
        issuer,
        branding,
        secure_cookie,
        metrics,
    } = *input;
    let unavailable = |cause: String| {
        error_page(
            branding,
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is not available right now",
            "The sign-in service cannot be reached. Please try again in a few minutes.",
            &cause,
        )
    };
    let Ok(callback) = callback_url(issuer) else {
        return unavailable("the issuer does not make a callback URL".into());
    };
    let (url, flow) = match redirect.start(&callback, hints).await {
        Ok(started) => started,
        Err(e) => {
            crate::audit!(metrics, "login_failure", reason = e.class(), cause = %e, client_id = %pending.request.client_id);
            return unavailable(format!("cannot start the sign-in at the legacy IdP: {e}"));
        }
    };
    let name = cookie_name(secure_cookie, &flow.state);
    let transaction = Transaction {
        id: crate::util::crypto::random_token(),
        started_at: now_unix(),
        flow,
        pending,
    };
    let sealed = match serde_json::to_vec(&transaction) {
        Ok(json) => cookie_value(&storage.seal_text_bound(
            Purpose::UpstreamTransaction,
            transaction.flow.state.as_bytes(),
            &json,
        )),
        Err(e) => return unavailable(format!("cannot encode the sign-in: {e}")),
    };
    if sealed.len() > 3800 {
        // Browsers keep cookies up to 4096 bytes; a longer one would be
        // dropped silently and the callback refused for no visible reason.
        return error_page(
            branding,
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be used",
            "The request is too large. Go back to the application and try again.",
            &format!(
                "the sealed sign-in is {} bytes, more than a cookie holds",
                sealed.len()
            ),
        );
    }
    let mut response = (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, url.as_str()),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response();
    let cookies = response.headers_mut();
    for old in beyond_bound(headers, secure_cookie, MAX_TRANSACTIONS - 1) {
        let expired = transaction_cookie(old, String::new(), secure_cookie, 0);
        cookies.append(header::SET_COOKIE, expired);
    }
    cookies.append(
        header::SET_COOKIE,
        transaction_cookie(name, sealed, secure_cookie, redirect.transaction_seconds()),
    );
    response
}

/// The callback's parameters (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207's `iss`).
#[derive(Default, Deserialize)]
struct CallbackParams {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// What the callback uses: the redirect adapter (none when the legacy IdP
/// does not redirect), the transaction's spending, the code issuer (the
/// issuer, storage key and signing keys with it), the pages' branding,
/// whether cookies are Secure, and the audit counters.
#[derive(Debug)]
pub struct Callback<'a, S: ?Sized> {
    /// The redirect adapter, when the legacy IdP signs users in on its own
    /// page.
    pub redirect: Option<&'a RedirectIdp>,
    /// Opens the transaction cookie and spends its id once.
    pub spend: Spend<'a, S>,
    /// Issues the bridge's code for the legacy IdP's grant.
    pub codes: CodeIssuer<'a, S>,
    /// The pages' branding.
    pub branding: &'a Branding,
    /// Whether cookies are `Secure` (and `__Host-`).
    pub secure_cookie: bool,
    /// Audit counters.
    pub metrics: &'a Metrics,
}

impl<'a, S: ?Sized> Callback<'a, S> {
    /// Over the configured issuer, lifetimes, clients, branding and
    /// cookies, and the parts named (`upstream`: whether it can renew).
    pub fn new(
        settings: &'a Settings,
        redirect: Option<&'a RedirectIdp>,
        store: &'a S,
        storage: &'a StorageKey,
        keys: &'a SigningKeys,
        upstream: &dyn LegacyIdp,
        metrics: &'a Metrics,
    ) -> Self {
        Self {
            redirect,
            spend: Spend::new(settings, storage, store, metrics),
            codes: CodeIssuer::new(settings, store, storage, keys, upstream),
            branding: &settings.branding,
            secure_cookie: settings.secure_cookie,
            metrics,
        }
    }
}

/// `GET /upstream/callback` for its query string.
pub async fn callback<S: GrantStore + OnceStore + ?Sized>(
    input: &Callback<'_, S>,
    session: &Session,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Response {
    let page = |status, heading: &str, message: &str, cause: &str| {
        error_page(input.branding, status, heading, message, cause)
    };
    let restart = "Go back to the application and start signing in again.";
    let Some(redirect) = input.redirect else {
        return page(
            StatusCode::NOT_FOUND,
            "This sign-in cannot be completed",
            restart,
            "an upstream callback, but the adapter does not redirect",
        );
    };
    // Repeated parameters are refused, as RFC 6749 §3.1 asks of requests.
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let mut params = CallbackParams::default();
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "state" => &mut params.state,
            "code" => &mut params.code,
            "error" => &mut params.error,
            "iss" => &mut params.iss,
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return page(
                StatusCode::BAD_REQUEST,
                "This sign-in cannot be completed",
                restart,
                &format!("the upstream callback repeats the parameter `{k}`"),
            );
        }
    }
    let Some(upstream_state) = params.state.filter(|s| plausible_state(s)) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            restart,
            "the upstream callback has no state, or not one the bridge made",
        );
    };
    let name = cookie_name(input.secure_cookie, &upstream_state);
    let Some(value) = read_cookie(headers, &name) else {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "It was started in another browser, took too long, or was already completed. Go back to the application and start signing in again.",
            "no transaction cookie for this state: another browser, expired, or already used",
        );
    };
    // From here on the cookie is spent whatever happens.
    let clear = transaction_cookie(name, String::new(), input.secure_cookie, 0);
    let mut response = finish(
        input,
        session,
        redirect,
        &upstream_state,
        sealed_part(&value),
        params.code,
        params.error,
        params.iss,
    )
    .await;
    response.headers_mut().append(header::SET_COOKIE, clear);
    response
}

/// Error codes passed back to Auth0 as they came (OIDC Core §3.1.2.6);
/// any other means the bridge's registration at the legacy IdP is wrong,
/// which is the bridge's `server_error`.
const PASSED_ON: &[&str] = &[
    "access_denied",
    "login_required",
    "consent_required",
    "interaction_required",
    "account_selection_required",
    "temporarily_unavailable",
    "server_error",
];

/// The legacy IdP's error, passed on to Auth0 (see [`PASSED_ON`]).
fn passed_on(
    metrics: &Metrics,
    issuer: &str,
    request: &AuthorizationRequest,
    error: &str,
) -> Response {
    let passed = PASSED_ON
        .iter()
        .find(|e| **e == error)
        .copied()
        .unwrap_or("server_error");
    // The upstream's words stay in the log: they are not the bridge's to
    // put in front of Auth0 or the user.
    let shown: String = error.chars().take(64).collect();
    crate::audit!(metrics, "login_failure", reason = "upstream_error", cause = %shown, client_id = %request.client_id);
    respond(
        &request.redirect_uri,
        vec![
            ("error", passed),
            (
                "error_description",
                "the legacy identity provider did not sign the user in",
            ),
        ],
        request.state.as_deref(),
        issuer,
        request.form_post,
    )
}

/// Counts a sign-in at the legacy IdP's own page, through the bridge's
/// login flow (the `login_page` path of the migration journey's metrics),
/// and hands the outcome on.
fn count_sign_in<T>(
    metrics: &Metrics,
    finished: Result<T, UpstreamError>,
) -> Result<T, UpstreamError> {
    metrics.legacy_sign_in(
        SignInPath::LoginPage.as_str(),
        finished.as_ref().err().map_or("ok", UpstreamError::class),
    );
    finished
}

#[allow(clippy::too_many_arguments)] // the callback's parts, read once above
async fn finish<S: GrantStore + OnceStore + ?Sized>(
    input: &Callback<'_, S>,
    session: &Session,
    redirect: &RedirectIdp,
    upstream_state: &str,
    sealed: &str,
    code: Option<String>,
    error: Option<String>,
    iss: Option<String>,
) -> Response {
    let (metrics, issuer) = (input.metrics, input.codes.issuer);
    let page = |status, heading: &str, message: &str, cause: &str| {
        error_page(input.branding, status, heading, message, cause)
    };
    let restart = "Go back to the application and start signing in again.";
    let (tx, expires_at) =
        match open_and_spend(&input.spend, redirect, upstream_state, sealed).await {
            Ok(opened) => opened,
            Err(page) => return page,
        };
    let request = &tx.pending.request;
    if let Err(e) = redirect.check_response_issuer(iss.as_deref()).await {
        crate::audit!(metrics, "login_failure", reason = e.class(), cause = %e, client_id = %request.client_id);
        if let UpstreamError::Unavailable(_) = e {
            // Discovery, needed to know whether `iss` is promised, cannot
            // be read: an outage, not a refusal.
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is not available right now",
                "Please try again in a few minutes.",
                &format!("cannot check the callback's iss: {e}"),
            );
        }
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            restart,
            &e.to_string(),
        );
    }
    let answer = |params: Vec<(&str, &str)>| {
        respond(
            &request.redirect_uri,
            params,
            request.state.as_deref(),
            issuer,
            request.form_post,
        )
    };
    if let Some(error) = error {
        return passed_on(metrics, issuer, request, &error);
    }
    let Some(code) = code else {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            restart,
            "the upstream callback has neither code nor error",
        );
    };
    let Ok(callback) = callback_url(issuer) else {
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            restart,
            "the issuer does not make a callback URL",
        );
    };
    let finished = redirect.finish(&callback, &tx.flow, &code).await;
    let signed_in = match count_sign_in(metrics, finished) {
        Ok(signed_in) => signed_in,
        Err(e) => {
            crate::audit!(metrics, "login_failure", reason = e.class(), cause = %e, client_id = %request.client_id);
            let (status, heading) = match e {
                UpstreamError::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in is not available right now",
                ),
                _ => (
                    StatusCode::BAD_GATEWAY,
                    "The sign-in service answered unexpectedly",
                ),
            };
            return page(
                status,
                heading,
                "Please try again in a few minutes. If it keeps happening, tell your help desk the reference below.",
                &format!("the legacy IdP's answer was not usable: {e}"),
            );
        }
    };
    if request
        .hint_sub
        .as_ref()
        .is_some_and(|sub| *sub != signed_in.grant.profile.subject)
    {
        crate::audit!(metrics, "login_failure", reason = "other_subject", client_id = %request.client_id);
        return answer(vec![
            ("error", "login_required"),
            (
                "error_description",
                "the user who signed in is not the one requested",
            ),
        ]);
    }
    let login = LoginOnce {
        id: tx.pending.id.clone(),
        expires_at,
    };
    complete(input, session, request, &signed_in, login).await
}

/// Issues the bridge's code for a grant made at the legacy IdP, starts the
/// login session, and answers Auth0. Both keep the legacy IdP's
/// `auth_time`, so the bridge's ID tokens and `max_age` see when the user
/// really authenticated.
async fn complete<S: GrantStore + ?Sized>(
    input: &Callback<'_, S>,
    session: &Session,
    request: &AuthorizationRequest,
    signed_in: &SignedIn,
    login: LoginOnce,
) -> Response {
    let (grant, auth_time, now) = (&signed_in.grant, signed_in.auth_time, UnixTime::now());
    let page = |status, heading: &str, message: &str, cause: &str| {
        error_page(input.branding, status, heading, message, cause)
    };
    let restart = "Go back to the application and start signing in again.";
    let times = CodeTimes { auth_time, now };
    let sign_in = IssuedFor::SignIn(Some(login), None);
    let issued = match issue_code(&input.codes, request, grant, sign_in, times).await {
        Ok(Some(issued)) => issued,
        Ok(None) => {
            return page(
                StatusCode::BAD_REQUEST,
                "This sign-in was already used",
                restart,
                "the sign-in already yielded a code",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store the grant");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is not available right now",
                "Please try again in a few minutes.",
                "the store cannot keep the grant",
            );
        }
    };
    let user = SessionUser {
        sub: grant.profile.subject.clone(),
        auth_time,
        grant_id: issued.grant_id,
    };
    if let Err(e) = session::start(session, user).await {
        tracing::warn!(error = %e, "cannot start the login session");
    }
    crate::audit!(input.metrics, "login_success", reason = "upstream", client_id = %request.client_id, subject = %grant.profile.subject);
    respond(
        &request.redirect_uri,
        vec![("code", issued.code.as_str())],
        request.state.as_deref(),
        input.codes.issuer,
        request.form_post,
    )
}
