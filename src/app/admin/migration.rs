//! The endpoints of Auth0's custom database scripts, for lazy migration
//! (`[migration]`, off unless configured; on the public listener, since
//! Auth0's servers call them):
//!
//! - `POST /migration/login` `{"username", "password"}`: the `login`
//!   script's check. The password goes to the legacy IdP through the
//!   configured adapter under the login page's throttle
//!   ([`crate::browser::attempt`]): the same counters, delays, lockouts and
//!   audit lines, so a user locked on one path is locked on the other. A
//!   success answers Auth0's profile (`user_id` = the legacy subject, which
//!   Auth0 stores as `auth0|<user_id>`; `email`, `email_verified`, `name`,
//!   `username`, and `app_metadata.legacy_subject`). The legacy token the
//!   adapter returns is not kept: Auth0 owns the user from now on.
//! - `POST /migration/get_user` `{"email"}`: the `get_user` script's
//!   lookup, through the adapter's [`crate::domain::upstream::LegacyIdp::lookup`]:
//!   the same profile, `{"profile": null}` for no such user. Only the
//!   `http` adapter with `[upstream.http.lookup]` can look a user up
//!   without a password; with any other it answers `{"profile": null}`,
//!   Auth0's "not found" (docs/migration.md says what that means for
//!   sign-up and password reset). A lookup that fails is an outage.
//!
//! Every request is checked first against the allow-list of addresses
//! (when set; the client address as the login page reads it) and then for
//! the scripts' bearer credential, compared in constant time
//! ([`super::same_secret`]). Each refusal is logged once with its reason.
//! The answers' `error` codes are what the printed scripts map to Auth0's
//! errors: `wrong_credentials`, `account_locked`, `too_many_attempts` and
//! `invalid_request` to `WrongUsernameOrPasswordError`, anything else to a
//! plain `Error` (an outage is never a wrong password).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::instrument;

use super::{credentials, parse, refuse, same_secret};
use crate::app::state::AppState;
use crate::browser::attempt::{self, Attempt, Failure, Gate, SignInPath};
use crate::browser::throttle;
use crate::domain::upstream::{Profile, UpstreamError};
use crate::util::secret::Password;

/// The `login` script's endpoint.
pub const LOGIN_PATH: &str = "/migration/login";
/// The `get_user` script's endpoint.
pub const GET_USER_PATH: &str = "/migration/get_user";
/// The largest body read: a username, a password and JSON around them.
const MAX_BODY_BYTES: usize = 8 * 1024;

/// The routes, each request checked by [`admit`] first.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(LOGIN_PATH, post(migration_login_post))
        .route(GET_USER_PATH, post(migration_get_user_post))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), admit))
}

/// The allow-list, then `Authorization: Bearer <migration.token>`.
async fn admit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let Some(config) = &state.settings.migration else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !config.allowed.is_empty() {
        let address = throttle::client_address(request.headers(), peer, &state.settings.throttle);
        if !config.allowed.iter().any(|net| net.contains(&address)) {
            return refuse(
                StatusCode::FORBIDDEN,
                "access_denied",
                "this address may not call the migration endpoints",
                Some(&format!("{address} is not in migration.allowed_addresses")),
            );
        }
    }
    let presented = credentials(request.headers(), "Bearer");
    if presented
        .is_some_and(|token| same_secret(token.as_bytes(), config.token.secret().as_bytes()))
    {
        return next.run(request).await;
    }
    let mut response = refuse(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "the migration credential is missing or wrong",
        Some(if presented.is_some() {
            "a wrong migration credential"
        } else {
            "no bearer credential"
        }),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"idp-bridge migration\""),
    );
    response
}

/// A JSON object of type `T` within [`MAX_BODY_BYTES`] ([`parse`]), or the
/// 4xx to answer.
fn body<T: for<'de> Deserialize<'de>>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Box<Response>> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Box::new(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the body is larger than 8 KiB",
            None,
        )));
    }
    parse(headers, body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: Password,
}

/// `POST /migration/login`.
#[instrument(skip_all)]
async fn migration_login_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let request: LoginRequest = match body(&headers, &raw) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let username = request.username.trim();
    // The login page's bounds: nothing outside them reaches the legacy IdP.
    if username.is_empty()
        || username.len() > 256
        || username.chars().any(char::is_control)
        || request.password.secret().is_empty()
        || request.password.secret().len() > 1024
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "give a username (at most 256 bytes, no control characters) and a password (at most 1024 bytes)",
            None,
        );
    }
    let attempt = Attempt::new(
        &state.settings.throttle,
        &state.storage,
        username,
        &headers,
        peer,
    )
    .through_script();
    let grant = match attempt::authenticate(
        &Gate::new(
            &state.settings.throttle,
            &*state.store,
            &*state.upstream,
            &state.metrics,
        ),
        &attempt,
        &request.password,
        SignInPath::MigrationScript,
    )
    .await
    {
        Ok(grant) => grant,
        Err(failure) => return refused(failure),
    };
    if let Err(e) = throttle::settle(state.store.as_ref(), &attempt.counters, true).await {
        tracing::error!(error = %e, "cannot settle a login attempt");
    }
    let migration = state.settings.migration.as_ref();
    let trust_email = migration.is_some_and(|m| m.email_verified);
    let profile = user_profile(&grant.profile, Some(username), trust_email);
    state.metrics.user_migrated();
    crate::audit!(state.metrics, "migration_login", reason = "success", subject = %grant.profile.subject, user = %attempt.user, address = %attempt.address);
    axum::Json(profile).into_response()
}

/// Auth0's normalized profile for a custom database user (Auth0 docs,
/// "Login Script Templates"): a `user_id` that never changes for the user
/// (Auth0 makes it `auth0|<user_id>`), `email` and `email_verified`,
/// `name`, `username` when the person signed in with one (`typed`), and
/// the legacy subject and attributes under `app_metadata`, where only the
/// tenant's administrators and Actions can change them.
fn user_profile(legacy: &Profile, typed: Option<&str>, trust_email: bool) -> Value {
    let typed_email = typed.filter(|t| t.contains('@'));
    let email = legacy.email.as_deref().or(typed_email);
    // The legacy IdP's word (or the setting) covers its own address only:
    // an identifier someone typed is no verified address, whatever the
    // legacy IdP accepted it as.
    let email_verified = legacy.email.is_some() && legacy.email_verified.unwrap_or(trust_email);
    let mut profile = json!({
        "user_id": legacy.subject,
        "email_verified": email_verified,
        "app_metadata": {
            "legacy_subject": legacy.subject,
            "legacy_attributes": legacy.attributes,
        },
    });
    if let Some(email) = email {
        profile["email"] = json!(email);
    }
    if let Some(name) = &legacy.name {
        profile["name"] = json!(name);
    }
    if let Some(username) = typed.filter(|t| !t.contains('@')) {
        profile["username"] = json!(username);
    }
    profile
}

/// The answer for a failed sign-in: the `error` code the printed script
/// maps to Auth0's error (see the module doc).
fn refused(failure: Failure) -> Response {
    match failure {
        Failure::Throttled(left) => {
            let mut response = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many failed sign-in attempts; try again later",
                Some("throttled, as on the login page"),
            );
            if let Ok(value) = HeaderValue::from_str(&left.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Failure::Upstream(UpstreamError::InvalidCredentials) => refuse(
            StatusCode::FORBIDDEN,
            "wrong_credentials",
            "wrong username or password",
            Some("the legacy IdP refused the credentials"),
        ),
        Failure::Upstream(UpstreamError::Locked) => refuse(
            StatusCode::FORBIDDEN,
            "account_locked",
            "the account is locked or disabled",
            Some("the legacy IdP says the account is locked"),
        ),
        Failure::Upstream(e @ UpstreamError::Unavailable(_)) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the legacy IdP cannot be reached; try again later",
            Some(&e.to_string()),
        ),
        Failure::Upstream(e @ UpstreamError::Unsupported(_)) => refuse(
            StatusCode::NOT_IMPLEMENTED,
            "unsupported",
            "the configured adapter does not check passwords",
            Some(&e.to_string()),
        ),
        Failure::Upstream(e @ UpstreamError::Protocol(_)) => {
            tracing::error!(error = %e, "legacy IdP answered unexpectedly");
            refuse(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                "the legacy IdP answered unexpectedly",
                Some(&e.to_string()),
            )
        }
        Failure::Store => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the bridge's store cannot answer now; try again",
            Some("cannot reserve a login attempt"),
        ),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GetUserRequest {
    email: String,
}

/// `POST /migration/get_user`: the adapter's lookup, or "not found" when
/// it has none (see the module doc). A lookup that fails is an outage,
/// never "not found": Auth0 would then let someone sign up over the user.
async fn migration_get_user_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let request: GetUserRequest = match body(&headers, &raw) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let email = request.email.trim();
    if email.is_empty() || email.len() > 512 || email.chars().any(char::is_control) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "give the email address (at most 512 bytes, no control characters)",
            None,
        );
    }
    let trust_email = state
        .settings
        .migration
        .as_ref()
        .is_some_and(|m| m.email_verified);
    match state.upstream.lookup(email).await {
        Ok(Some(found)) => {
            crate::audit!(state.metrics, "migration_lookup", reason = "found", subject = %found.subject);
            axum::Json(json!({ "profile": user_profile(&found, None, trust_email) }))
                .into_response()
        }
        Ok(None) => axum::Json(json!({ "profile": null })).into_response(),
        Err(UpstreamError::Unsupported(_)) => axum::Json(json!({
            "profile": null,
            "reason": "the legacy IdP's adapter cannot look a user up without a password",
        }))
        .into_response(),
        Err(e @ UpstreamError::Unavailable(_)) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the legacy IdP cannot be reached; try again later",
            Some(&e.to_string()),
        ),
        Err(e) => refuse(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "the legacy IdP did not answer the lookup",
            Some(&e.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(email: Option<&str>, verified: Option<bool>) -> Profile {
        Profile {
            subject: crate::domain::types::Subject::new("uid-42").expect("valid"),
            email: email.map(str::to_owned),
            email_verified: verified,
            name: Some("Alice".into()),
            attributes: serde_json::Map::new(),
        }
    }

    #[test]
    fn the_profile_keeps_the_legacy_subject_as_the_user_id() {
        let p = user_profile(&legacy(Some("a@example.com"), None), Some("alice"), false);
        assert_eq!(p["user_id"], "uid-42");
        assert_eq!(p["app_metadata"]["legacy_subject"], "uid-42");
        assert_eq!(p["email"], "a@example.com");
        assert_eq!(p["email_verified"], false);
        assert_eq!(p["username"], "alice");
        assert_eq!(p["name"], "Alice");
        // Signed in with an email address: no username, the address as
        // email (unverified: see below).
        let p = user_profile(&legacy(None, None), Some("alice@example.com"), true);
        assert_eq!(p["email"], "alice@example.com");
        assert_eq!(p["email_verified"], false);
        assert!(p.get("username").is_none());
        // The legacy IdP's word wins over the setting.
        let p = user_profile(
            &legacy(Some("a@example.com"), Some(false)),
            Some("alice"),
            true,
        );
        assert_eq!(p["email_verified"], false);
        // A lookup: no username was typed.
        let p = user_profile(&legacy(Some("a@example.com"), None), None, false);
        assert!(p.get("username").is_none());
        assert_eq!(p["user_id"], "uid-42");
    }

    /// `[migration] email_verified = true` vouches for the addresses the
    /// legacy IdP keeps, not for whatever identifier someone typed: a legacy
    /// IdP that takes `victim@example.com` as a *username* would otherwise
    /// hand Auth0 a verified address nobody verified (and Auth0 links
    /// accounts, and apps trust, by verified address).
    #[test]
    fn a_typed_identifier_is_never_a_verified_address() {
        let p = user_profile(&legacy(None, None), Some("victim@example.com"), true);
        assert_eq!(p["email"], "victim@example.com");
        assert_eq!(p["email_verified"], false, "{p}");
        // The legacy IdP's own address is what the setting speaks for.
        let p = user_profile(
            &legacy(Some("a@example.com"), None),
            Some("a@example.com"),
            true,
        );
        assert_eq!(p["email_verified"], true, "{p}");
    }
}
