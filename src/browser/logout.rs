//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the
//! bridge's login session, and with `[session] logout_ends = "user"` the
//! user everywhere ([`crate::domain::user_revocation`]). The user is sent back only to a
//! `post_logout_redirect_uri` registered for the client named by a valid
//! `id_token_hint` (or `client_id`), with `state`; anything else gets the
//! bridge's own page, so the endpoint is never an open redirector.
//!
//! Without a valid `id_token_hint` the user is asked first (RP-Initiated
//! Logout §2): a `GET` shows a confirmation whose form posts the request
//! back, and only a same-origin `POST` ends the session, so another site
//! cannot sign a user out with a link or an image.
//!
//! With a redirect legacy IdP and `upstream_logout = true`, the browser is
//! sent on to the legacy IdP's `end_session_endpoint` with the destination
//! as its `post_logout_redirect_uri`.
//!
//! The body runs on a [`Logout`]; its handlers are in `handlers`.

use std::collections::{BTreeMap, HashMap};

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tower_sessions::Session;

use super::csrf;
use super::pages::{Chrome, LogoutPage, error_page};
use crate::domain::config::{Branding, Client, LogoutEnds, Settings};
use crate::domain::keys::SigningKeys;
use crate::domain::metrics::Metrics;
use crate::domain::store::RevocationStore;
use crate::domain::upstream::redirect::RedirectIdp;
use crate::domain::user_revocation::{self, RevokedBy};
use crate::protocol::provider::response::{redirect_with, see_other};
use crate::util::html::render;

/// What `/logout` uses: the signing keys and issuer (an `id_token_hint`
/// is the bridge's own), the clients (their `post_logout_redirect_uri`s),
/// the pages' branding, what a logout ends, where a user is revoked, the
/// audit counters, and the redirect legacy IdP (its own logout).
#[derive(Debug)]
pub struct Logout<'a, S: ?Sized> {
    /// Verifies an `id_token_hint`.
    pub keys: &'a SigningKeys,
    /// The issuer, without a trailing slash.
    pub issuer: &'a str,
    /// Clients by id.
    pub clients: &'a BTreeMap<String, Client>,
    /// The pages' branding.
    pub branding: &'a Branding,
    /// `[session] logout_ends`.
    pub logout_ends: LogoutEnds,
    /// Revokes the user, with `logout_ends = "user"`.
    pub store: &'a S,
    /// Audit counters.
    pub metrics: &'a Metrics,
    /// The redirect legacy IdP, whose own session may end too.
    pub redirect: Option<&'a RedirectIdp>,
}

impl<'a, S: ?Sized> Logout<'a, S> {
    /// Over the configured issuer, clients, branding and `logout_ends`, and
    /// the parts named.
    pub fn new(
        settings: &'a Settings,
        keys: &'a SigningKeys,
        store: &'a S,
        metrics: &'a Metrics,
        redirect: Option<&'a RedirectIdp>,
    ) -> Self {
        Self {
            keys,
            issuer: &settings.issuer,
            clients: &settings.clients,
            branding: &settings.branding,
            logout_ends: settings.logout_ends,
            store,
            metrics,
            redirect,
        }
    }
}

/// A `POST /logout` whose parameters cannot be read (its body is not a
/// form): the bridge's own error page, like every other refusal here,
/// instead of axum's plain-text rejection. `cause` is the rejection's text,
/// for the log only.
pub fn unreadable<S: ?Sized>(input: &Logout<'_, S>, cause: &str) -> Response {
    error_page(
        input.branding,
        StatusCode::BAD_REQUEST,
        "This sign-out request cannot be used",
        "The sign-out request could not be read. Go back to the application and sign out there.",
        &format!("unreadable logout request: {cause}"),
    )
}

/// `/logout` for its parameters; `posted` for a `POST`.
#[allow(clippy::implicit_hasher)]
pub async fn logout<S: RevocationStore + ?Sized>(
    input: &Logout<'_, S>,
    session: Session,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    posted: bool,
) -> Response {
    let branding = input.branding;
    let get = |k: &str| params.get(k).filter(|v| !v.is_empty());
    let refuse = |message: &str| {
        error_page(
            branding,
            StatusCode::BAD_REQUEST,
            "This sign-out request cannot be used",
            message,
            "invalid logout request",
        )
    };
    let hinted_client = match get("id_token_hint") {
        Some(hint) => match input.keys.verify_own(hint, input.issuer) {
            Some(claims) => claims["aud"].as_str().map(str::to_owned),
            None => {
                return refuse(
                    "The sign-out request carries an ID token this service did not issue.",
                );
            }
        },
        None => None,
    };
    let client_id = match (&hinted_client, get("client_id")) {
        (Some(h), Some(c)) if h != c => {
            return refuse("The sign-out request names two different applications.");
        }
        (Some(h), _) => Some(h.clone()),
        (None, c) => c.cloned(),
    };
    let destination = match get("post_logout_redirect_uri") {
        Some(uri) => {
            let registered = client_id
                .as_ref()
                .and_then(|id| input.clients.get(id))
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return refuse(
                    "The application asked to return to an address that is not registered.",
                );
            }
            Some(uri.clone())
        }
        None => None,
    };
    if hinted_client.is_none() {
        if !posted {
            return confirm(branding, params);
        }
        if csrf::cross_site(headers, input.issuer) {
            return error_page(
                branding,
                StatusCode::FORBIDDEN,
                "This sign-out request cannot be used",
                "Another site asked to sign you out. Nothing was changed.",
                "logout without a hint posted from another site",
            );
        }
    }
    // With `logout_ends = "user"`, the user's grants, refresh tokens and
    // other sessions end too, on every instance; a store that cannot do it
    // is a page, not a logout that only looks done.
    if input.logout_ends == LogoutEnds::User {
        if let Err(refused) = end_user(branding, input.store, input.metrics, &session).await {
            return refused;
        }
    }
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "cannot end the login session");
    }
    crate::audit!(
        input.metrics,
        "logout",
        client_id = client_id.as_deref().unwrap_or("")
    );
    let back = destination.map(|uri| {
        let mut p = Vec::new();
        if let Some(s) = get("state") {
            p.push(("state", s.as_str()));
        }
        redirect_with(&uri, &p)
    });
    // A redirect legacy IdP's own session ends too, when asked to: the
    // browser goes there and comes back to the same destination.
    if let Some(redirect) = input.redirect {
        if let Some(url) = redirect.logout_url(back.as_deref()).await {
            return see_other(url.as_str());
        }
    }
    match back {
        Some(back) => see_other(&back),
        None => error_page(
            branding,
            StatusCode::OK,
            "You are signed out",
            "You can close this window.",
            "logged out",
        ),
    }
}

/// Revokes the session's user everywhere (`[session] logout_ends = "user"`).
async fn end_user<S: RevocationStore + ?Sized>(
    branding: &Branding,
    store: &S,
    metrics: &Metrics,
    session: &Session,
) -> Result<(), Response> {
    let unavailable = |cause: String| {
        error_page(
            branding,
            StatusCode::SERVICE_UNAVAILABLE,
            "You cannot be signed out right now",
            "Please try again in a moment.",
            &format!("logout cannot revoke the user: {cause}"),
        )
    };
    let user = super::session::user(session)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if let Some(user) = user {
        user_revocation::revoke_user(
            store,
            metrics,
            &user.sub,
            (RevokedBy::Logout, "the user's own logout"),
        )
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    }
    Ok(())
}

/// The confirmation page: the request's own parameters, posted back.
#[allow(clippy::implicit_hasher)]
fn confirm(branding: &Branding, params: &HashMap<String, String>) -> Response {
    let fields: Vec<(&str, &str)> = [
        "client_id",
        "post_logout_redirect_uri",
        "state",
        "ui_locales",
    ]
    .into_iter()
    .filter_map(|k| params.get(k).map(|v| (k, v.as_str())))
    .collect();
    render(
        StatusCode::OK,
        &LogoutPage {
            chrome: Chrome::new(branding, "en"),
            fields: &fields,
        },
    )
}
