//! Auth0 Event Streams (webhook destination) at `POST /events/auth0` on the
//! public listener, only when `[auth0_events]` is configured: a CloudEvents
//! 1.0 delivery of `user.deleted`, or of `user.updated` for a user now
//! `blocked`, revokes that user everywhere ([`crate::domain::user_revocation`]).
//!
//! - Every delivery is authenticated with the webhook authorization the
//!   stream was created with (bearer or basic), compared in constant time.
//! - The Auth0 user maps to a legacy subject through the configured
//!   connections: `oidc|CONNECTION|sub`, `oauth2|CONNECTION|id`, or a linked
//!   identity of such a connection. Other users are acknowledged and left
//!   alone.
//! - Auth0 delivers at least once: an event id is acted on once (recorded
//!   for a week), so a duplicate or a replayed delivery changes nothing —
//!   not even a user who signed in again after the first. A delivery that
//!   could not be acted on is forgotten and answered 503, so Auth0's retry
//!   acts on it.
//! - Anything else Auth0 sends (other event types, a user unblocked) is
//!   acknowledged with 200 and ignored, so the stream never backs up.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{credentials, refuse, same_secret, unavailable};
use crate::app::state::AppState;
use crate::domain::config::{Auth0Events, WebhookAuth};
use crate::domain::types::Subject;
use crate::domain::user_revocation::{self, RevokedBy};
use crate::util::clock::now_unix;

/// How long an event id is remembered (Auth0 retries for far less).
const REMEMBER_EVENT_SECONDS: i64 = 7 * 86_400;
/// The largest delivery read, once authenticated: a `user.updated` event
/// carries the whole user, metadata included (Auth0 caps a user's metadata
/// far below this).
const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// The path Auth0 delivers to.
pub const PATH: &str = crate::app::middleware::AUTH0_EVENTS_PATH;

/// A CloudEvent as Auth0 sends it (only what is read).
#[derive(Deserialize)]
struct CloudEvent {
    id: Value,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Value,
}

/// Whether the delivery carries the configured webhook authorization.
fn authorized(headers: &HeaderMap, config: &Auth0Events) -> bool {
    match &config.auth {
        WebhookAuth::Bearer(token) => credentials(headers, "Bearer")
            .is_some_and(|v| same_secret(v.as_bytes(), token.secret().as_bytes())),
        WebhookAuth::Basic { username, password } => credentials(headers, "Basic")
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .is_some_and(|decoded| {
                let expected = format!("{username}:{}", password.secret());
                same_secret(&decoded, expected.as_bytes())
            }),
    }
}

/// The legacy subject of an Auth0 user object, through the configured
/// connections (and migrated database users, when so configured,
/// [`crate::domain::auth0::subject_from_user_id`]): its `user_id`, else a linked
/// identity's.
fn legacy_subject(user: &Value, connections: &[String], migrated_users: bool) -> Option<Subject> {
    let ours = |strategy: &str, connection: &str| {
        matches!(strategy, "oidc" | "oauth2") && connections.iter().any(|c| c == connection)
    };
    if let Some(subject) = user["user_id"]
        .as_str()
        .and_then(|id| crate::domain::auth0::subject_from_user_id(id, connections, migrated_users))
    {
        return Some(subject);
    }
    user["identities"].as_array()?.iter().find_map(|identity| {
        let provider = identity["provider"].as_str()?;
        let connection = identity["connection"].as_str()?;
        let id = match &identity["user_id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
            _ => return None,
        };
        ours(provider, connection)
            .then(|| Subject::new(id).ok())
            .flatten()
    })
}

/// An authenticated delivery's body, within `deadline` and
/// [`MAX_EVENT_BYTES`].
async fn read_body(body: Body, deadline: std::time::Duration) -> Result<Bytes, Box<Response>> {
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, MAX_EVENT_BYTES)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(Box::new(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the delivery is larger than 16 MiB",
            None,
        ))),
        Err(_) => Err(Box::new(refuse(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            "the delivery's body did not arrive in time",
            None,
        ))),
    }
}

/// `POST /events/auth0`.
pub async fn auth0_events_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(config) = &state.settings.auth0_events else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !authorized(&headers, config) {
        let mut response = refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the delivery's authorization is missing or wrong",
            Some("an Auth0 event without the configured webhook authorization"),
        );
        let challenge = match config.auth {
            WebhookAuth::Bearer(_) => "Bearer realm=\"idp-bridge events\"",
            WebhookAuth::Basic { .. } => "Basic realm=\"idp-bridge events\"",
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static(challenge),
        );
        return response;
    }
    let body = match read_body(body, state.settings.limits.body_read_timeout).await {
        Ok(body) => body,
        Err(refused) => return *refused,
    };
    let Ok(event) = serde_json::from_slice::<CloudEvent>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body is not a CloudEvent (id, type, data)",
            None,
        );
    };
    let id = match &event.id {
        Value::String(s) if !s.is_empty() && s.len() <= 256 => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the event has no usable id",
                None,
            );
        }
    };
    // Auth0 names types `user.deleted`; its docs also show a
    // `com.auth0.`-prefixed form.
    let kind = event.kind.strip_prefix("com.auth0.").unwrap_or(&event.kind);
    let user = &event.data["object"];
    let revokes = match kind {
        "user.deleted" => true,
        "user.updated" => user["blocked"].as_bool() == Some(true),
        _ => false,
    };
    if !revokes {
        return acknowledged(&id, "ignored", None);
    }
    let Some(subject) = legacy_subject(user, &config.connections, config.migrated_users) else {
        return acknowledged(&id, "not a user of the bridge's connections", None);
    };
    let key = format!("auth0-event:{id}");
    match state
        .store
        .use_assertion(&key, now_unix() + REMEMBER_EVENT_SECONDS)
        .await
    {
        Ok(true) => {}
        Ok(false) => return acknowledged(&id, "duplicate", Some(subject.as_str())),
        Err(e) => return unavailable(&e),
    }
    match user_revocation::revoke_user(
        state.store.as_ref(),
        &state.metrics,
        &subject,
        (RevokedBy::Auth0Event, &format!("event {id}")),
    )
    .await
    {
        Ok(ended) => {
            tracing::info!(event_id = %id, event_type = kind, subject = %subject, "an Auth0 event revoked a user");
            axum::Json(json!({
                "id": id,
                "outcome": "revoked",
                "subject": subject,
                "grants_revoked": ended.grants,
            }))
            .into_response()
        }
        Err(e) => {
            // Not acted on: Auth0's retry must not read as a duplicate.
            if let Err(forget) = state.store.forget_assertion(&key).await {
                tracing::error!(error = %forget, event_id = %id, "cannot forget an Auth0 event that was not acted on; revoke the user by hand");
            }
            unavailable(&e)
        }
    }
}

/// 200 for a delivery taken in without a revocation.
fn acknowledged(id: &str, outcome: &str, subject: Option<&str>) -> Response {
    tracing::info!(event_id = %id, outcome, "an Auth0 event was acknowledged");
    axum::Json(json!({"id": id, "outcome": outcome, "subject": subject})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(user: &Value, connections: &[String], migrated_users: bool) -> Option<String> {
        legacy_subject(user, connections, migrated_users).map(String::from)
    }

    #[test]
    fn auth0_users_map_through_the_configured_connections_only() {
        let connections = ["legacy-bridge".to_owned()];
        let direct = json!({"user_id": "oidc|legacy-bridge|alice"});
        assert_eq!(
            mapped(&direct, &connections, false).as_deref(),
            Some("alice")
        );
        let piped = json!({"user_id": "oauth2|legacy-bridge|uid=a|b"});
        assert_eq!(
            mapped(&piped, &connections, false).as_deref(),
            Some("uid=a|b")
        );
        let other = json!({"user_id": "oidc|another|alice"});
        assert_eq!(mapped(&other, &connections, false), None);
        let database = json!({"user_id": "auth0|alice"});
        assert_eq!(mapped(&database, &connections, false), None);
        assert_eq!(
            mapped(&database, &connections, true).as_deref(),
            Some("alice"),
            "a migrated database user"
        );
        let linked = json!({
            "user_id": "auth0|123",
            "identities": [
                {"provider": "auth0", "connection": "db", "user_id": "123"},
                {"provider": "oidc", "connection": "legacy-bridge", "user_id": "bob"}
            ]
        });
        assert_eq!(mapped(&linked, &connections, false).as_deref(), Some("bob"));
    }
}
