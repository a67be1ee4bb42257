//! `POST /legacy/introspect`: whether a legacy token is live and whose it
//! is, in RFC 7662's shape, for a client allowed to ask
//! (`validate_legacy_tokens`) — the Auth0 Custom Token Exchange Action
//! printed by `idp-bridge auth0 token-exchange`.
//!
//! The client authenticates as at `/introspect` (`client_auth`); a client
//! without the setting is `unauthorized_client`; no `token` is
//! `invalid_request`. Every token that is not live — malformed, too long,
//! forged, expired, under an unknown key, refused by the legacy IdP,
//! revoked at the bridge, of a revoked user — is `{"active": false}` and
//! nothing more (RFC 7662 §2.2), so the answer tells a prober nothing. A
//! live one is `{"active": true, "sub", "exp", "iat", "scope", …}` with
//! the configured claims. A legacy IdP that cannot answer now is
//! `temporarily_unavailable` (503), never "inactive": the Action then
//! fails closed with `api.access.deny`, not as if the token were forged.
//! No standard discovery field names this endpoint, so discovery does not.
//!
//! Each answer is counted and logged at debug with its class
//! (`legacy_token_checked`); refusals once, by the middleware; the token
//! never.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tracing::instrument;

use super::client_auth::{ClientAuth, authenticate_client};
use super::error::OAuthError;
use super::form::FormParams;
use crate::app::state::AppState;
use crate::domain::legacy_validation::{LegacyValidator, Verdict};
use crate::domain::metrics::Metrics;
use crate::domain::store::OnceStore;
use crate::domain::types::UnixTime;

/// The path.
pub const PATH: &str = "/legacy/introspect";

/// `POST /legacy/introspect`.
#[instrument(skip_all, fields(client_id))]
pub async fn legacy_introspect_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let store = &*state.store;
    let auth = ClientAuth::new(&state.settings, store, &state.metrics);
    let validator = state.legacy_validator.as_deref();
    match introspect(&auth, validator, &state.metrics, &headers, &body).await {
        Ok(answer) => {
            let mut response = (StatusCode::OK, axum::Json(answer)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn introspect<S: OnceStore + ?Sized>(
    auth: &ClientAuth<'_, S>,
    validator: Option<&LegacyValidator>,
    metrics: &Metrics,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let form = FormParams::parse(headers, body)?;
    let client = authenticate_client(auth, headers, &form, UnixTime::now()).await?;
    tracing::Span::current().record("client_id", client.id.as_str());
    let validator = match validator {
        Some(v) if client.validate_legacy_tokens => v,
        _ => {
            return Err(OAuthError::unauthorized_client(
                "this client may not validate legacy tokens",
            ));
        }
    };
    let token = form.require("token")?;
    let verdict = validator.check(token).await.map_err(|e| {
        crate::audit!(metrics, "legacy_token_checked", reason = "unavailable", client_id = %client.id);
        let mut error =
            OAuthError::temporarily_unavailable("the legacy token cannot be checked now; try again");
        error.cause = Some(e.to_string());
        error
    })?;
    Ok(match verdict {
        Verdict::Inactive(class) => {
            crate::audit_debug!(metrics, "legacy_token_checked", reason = class, client_id = %client.id);
            json!({"active": false})
        }
        Verdict::Active(live) => {
            crate::audit_debug!(metrics, "legacy_token_checked", reason = "active", client_id = %client.id, subject = %live.sub);
            let mut answer = Map::new();
            answer.insert("active".into(), Value::Bool(true));
            answer.insert("sub".into(), Value::String(live.sub));
            if let Some(exp) = live.exp {
                answer.insert("exp".into(), exp.into());
            }
            if let Some(iat) = live.iat {
                answer.insert("iat".into(), iat.into());
            }
            if let Some(scope) = live.scope {
                answer.insert("scope".into(), Value::String(scope));
            }
            for (name, value) in live.claims {
                answer.entry(name).or_insert(value);
            }
            Value::Object(answer)
        }
    })
}
