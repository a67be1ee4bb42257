//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): ends the
//! bridge's login session. The user is sent back only to a
//! `post_logout_redirect_uri` registered for the client named by a valid
//! `id_token_hint` (or `client_id`), with `state`; anything else gets the
//! bridge's own page, so the endpoint is never an open redirector.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use tower_sessions::Session;

use super::pages::error_page;
use crate::provider::response::{redirect_with, see_other};
use crate::state::AppState;

/// `GET /logout`.
#[allow(clippy::implicit_hasher)]
pub async fn logout_get(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    logout(&state, session, &params).await
}

/// `POST /logout`.
#[allow(clippy::implicit_hasher)]
pub async fn logout_post(
    State(state): State<AppState>,
    session: Session,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    logout(&state, session, &params).await
}

async fn logout(state: &AppState, session: Session, params: &HashMap<String, String>) -> Response {
    let branding = &state.settings.branding;
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
        Some(hint) => match state.keys.verify_own(hint, &state.settings.issuer) {
            Some(claims) => claims["aud"].as_str().map(str::to_owned),
            None => {
                return refuse(
                    "The sign-out request carries an ID token this service did not issue.",
                );
            }
        },
        None => None,
    };
    let client_id = match (hinted_client, get("client_id")) {
        (Some(h), Some(c)) if &h != c => {
            return refuse("The sign-out request names two different applications.");
        }
        (Some(h), _) => Some(h),
        (None, c) => c.cloned(),
    };
    let destination = match get("post_logout_redirect_uri") {
        Some(uri) => {
            let registered = client_id
                .as_ref()
                .and_then(|id| state.settings.clients.get(id))
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
    if let Err(e) = session.flush().await {
        tracing::warn!(error = %e, "cannot end the login session");
    }
    crate::audit!(
        state.metrics,
        "logout",
        client_id = client_id.as_deref().unwrap_or("")
    );
    match destination {
        Some(uri) => {
            let mut p = Vec::new();
            if let Some(s) = get("state") {
                p.push(("state", s.as_str()));
            }
            see_other(&redirect_with(&uri, &p))
        }
        None => error_page(
            branding,
            StatusCode::OK,
            "You are signed out",
            "You can close this window.",
            "logged out",
        ),
    }
}
