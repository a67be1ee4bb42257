//! Operators' surfaces for "this user, everywhere, now": the admin API on a
//! listener of its own (`[admin]`, off by default, never on the public
//! listener), and the Auth0 Event Streams webhook on the public listener
//! (`[auth0_events]`, [`events`]). Both authenticate every request with a
//! configured credential compared in constant time, and both act only
//! through [`crate::domain::user_revocation`], so each way of asking ends the same
//! things.
//!
//! The admin API (JSON in, JSON out):
//! - `POST /users/revoke` `{"subject": "…"}`: every grant, refresh token and
//!   login session of the user, on every instance;
//! - `POST /grants/revoke` `{"token": "…"}`: the grant holding a refresh
//!   token or a legacy access token;
//! - `POST /users/unlock` `{"username": "…"}`: the username's failed-login
//!   counters, from every address (`login::throttle::unlock`).

pub mod events;
pub mod migration;

use axum::Router;
use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::app::state::AppState;
use crate::domain::types::Subject;
use crate::domain::user_revocation::{self, RevokedBy, TokenRevoked};
use crate::util::crypto::sha256;
use crate::util::refusal::Refusal;

/// The admin API's routes, under the bridge's middleware, each request
/// authenticated first. Serve it with the peer's address
/// (`into_make_service_with_connect_info::<SocketAddr>`): audit lines name
/// who asked.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route("/users/revoke", post(revoke_user_post))
        .route("/grants/revoke", post(revoke_grant_post))
        .route("/users/unlock", post(unlock_user_post))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ));
    crate::app::middleware::apply(routes, &state).with_state(state)
}

/// Whether `presented` is `expected`, in constant time whatever their
/// lengths (their digests are compared).
pub(crate) fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    sha256(presented).ct_eq(&sha256(expected)).into()
}

/// The credentials of the `Authorization` header when its scheme is
/// `scheme`: the scheme in any case, then one or more spaces (RFC 7235
/// §2.1, `auth-scheme [ 1*SP token68 ]`).
pub(crate) fn credentials<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (name, rest) = value.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme)
        .then(|| rest.trim_start_matches(' '))
}

/// `Authorization: Bearer <admin.token>`, or 401.
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(admin) = &state.settings.admin else {
        return refuse(StatusCode::NOT_FOUND, "not_found", "no admin API", None);
    };
    let presented = credentials(request.headers(), "Bearer");
    match presented {
        Some(token) if same_secret(token.as_bytes(), admin.token.secret().as_bytes()) => {
            next.run(request).await
        }
        presented => {
            let mut response = refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the admin credential is missing or wrong",
                Some(if presented.is_some() {
                    "a wrong admin credential"
                } else {
                    "no bearer credential"
                }),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"idp-bridge admin\""),
            );
            response
        }
    }
}

/// A JSON refusal, logged once by the middleware.
pub(crate) fn refuse(
    status: StatusCode,
    code: &'static str,
    description: &str,
    cause: Option<&str>,
) -> Response {
    let mut response = (
        status,
        axum::Json(json!({"error": code, "error_description": description})),
    )
        .into_response();
    Refusal {
        code,
        description: description.to_owned(),
        cause: cause.map(str::to_owned),
        reference: None,
    }
    .attach(&mut response);
    response
}

/// The store could not act: 503, the cause in the log only.
pub(crate) fn unavailable(cause: &crate::domain::store::StoreError) -> Response {
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the bridge's store cannot answer now; nothing was changed, try again",
        Some(&cause.to_string()),
    )
}

/// A JSON body of type `T`, or a 400 that says what is wrong.
fn parse<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Box<Response>> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Box::new(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "send a JSON body (Content-Type: application/json)",
            None,
        )));
    }
    // serde reads a struct from a JSON array too (`["u-1001"]`, by
    // position): only the documented object is taken.
    if body.trim_ascii_start().first().is_some_and(|b| *b != b'{') {
        return Err(Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be a JSON object",
            None,
        )));
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            // Where, not what: serde's message may quote a value (a token).
            &format!(
                "the body is not the expected JSON ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ),
            None,
        ))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRequest {
    subject: String,
}

/// `POST /users/revoke`.
async fn revoke_user_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: UserRequest = match parse(&headers, &body) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let Ok(subject) = Subject::new(request.subject) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "name the user's legacy subject",
            None,
        );
    };
    match user_revocation::revoke_user(
        state.store.as_ref(),
        &state.metrics,
        &subject,
        (RevokedBy::AdminApi, &peer.to_string()),
    )
    .await
    {
        Ok(ended) => axum::Json(json!({
            "subject": subject,
            "grants_revoked": ended.grants,
            "refresh_tokens_revoked": ended.refresh_tokens,
            "sessions_ended": ended.sessions,
        }))
        .into_response(),
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    token: String,
}

/// `POST /grants/revoke`.
async fn revoke_grant_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: TokenRequest = match parse(&headers, &body) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    match user_revocation::revoke_token(
        state.store.as_ref(),
        &state.metrics,
        &request.token,
        (RevokedBy::AdminApi, &peer.to_string()),
    )
    .await
    {
        Ok(TokenRevoked::Grant { subject }) => {
            axum::Json(json!({"revoked": true, "subject": subject})).into_response()
        }
        Ok(TokenRevoked::Unknown) => refuse(
            StatusCode::NOT_FOUND,
            "not_found",
            "no grant holds this token",
            None,
        ),
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnlockRequest {
    username: String,
}

/// `POST /users/unlock`.
async fn unlock_user_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: UnlockRequest = match parse(&headers, &body) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    if request.username.trim().is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "name the username as people type it on the login page",
            None,
        );
    }
    match crate::browser::throttle::unlock(state.store.as_ref(), &request.username).await {
        Ok(cleared) => {
            let user = crate::browser::throttle::audit_user(
                state.settings.throttle.audit_username,
                &state.storage,
                &request.username,
            );
            crate::audit!(state.metrics, "user_unlocked", user = %user, cleared, by = "admin_api", requested_by = %peer);
            axum::Json(json!({"user": user, "counters_cleared": cleared})).into_response()
        }
        Err(e) => unavailable(&e),
    }
}
