//! Revocation (RFC 7009) and introspection (RFC 7662), both for
//! authenticated clients and both for the two kinds of token the bridge
//! issues: the legacy access token (found by its hash) and refresh tokens.
//! Revoking either ends the grant: its legacy token stops working at
//! userinfo and every refresh token of its family stops working.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};
use tracing::instrument;

use super::error::OAuthError;
use super::token::{authenticate_client, parse_form};
use crate::app::AppState;
use crate::config::Client;
use crate::crypto::sha256;
use crate::store::{GrantRow, RefreshRow, RefreshState};
use crate::upstream::now_unix;

/// The token a request names, resolved.
enum Found {
    Refresh(RefreshRow),
    Access(GrantRow),
    Nothing,
}

async fn find(state: &AppState, token: &str, hint: Option<&str>) -> Result<Found, OAuthError> {
    let hash = sha256(token.as_bytes());
    // The hint only orders the lookups (RFC 7009 §2.1).
    let refresh_first = hint != Some("access_token");
    for refresh in [refresh_first, !refresh_first] {
        if refresh {
            if let Some(row) = state.store.refresh(&hash).await? {
                return Ok(Found::Refresh(row));
            }
        } else if let Some(grant) = state.store.grant_by_token_hash(&hash).await? {
            return Ok(Found::Access(grant));
        }
    }
    Ok(Found::Nothing)
}

fn no_store(status: StatusCode, body: Option<Value>) -> Response {
    let mut response = match body {
        Some(b) => (status, axum::Json(b)).into_response(),
        None => status.into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn token_param(form: &serde_json::Map<String, Value>) -> Result<String, OAuthError> {
    form.get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| OAuthError::invalid_request("token is required"))
}

/// `POST /revoke`.
#[instrument(skip_all, fields(client_id))]
pub async fn revoke_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match revoke(&state, &headers, &body).await {
        Ok(()) => no_store(StatusCode::OK, None),
        Err(e) => e.into_response(),
    }
}

async fn revoke(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let form = parse_form(headers, body)?;
    let client = authenticate_client(state, headers, &form).await?;
    tracing::Span::current().record("client_id", client.id.as_str());
    let token = token_param(&form)?;
    let grant_id = match find(
        state,
        &token,
        form.get("token_type_hint").and_then(Value::as_str),
    )
    .await?
    {
        Found::Refresh(row) => owned(client, &row.client_id).map(|()| row.grant_id)?,
        Found::Access(grant) => owned(client, &grant.client_id).map(|()| grant.id)?,
        // RFC 7009 §2.2: an invalid or unknown token is not an error.
        Found::Nothing => return Ok(()),
    };
    state.store.revoke_grant(&grant_id).await?;
    crate::audit!(state.metrics, "token_revoked", client_id = %client.id);
    Ok(())
}

/// RFC 7009 §2.1: a client may only revoke its own tokens.
fn owned(client: &Client, owner: &str) -> Result<(), OAuthError> {
    if owner == client.id {
        Ok(())
    } else {
        Err(OAuthError::unauthorized_client(
            "the token was not issued to this client",
        ))
    }
}

/// `POST /introspect`.
#[instrument(skip_all, fields(client_id))]
pub async fn introspect_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match introspect(&state, &headers, &body).await {
        Ok(v) => no_store(StatusCode::OK, Some(v)),
        Err(e) => e.into_response(),
    }
}

async fn introspect(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let form = parse_form(headers, body)?;
    let client = authenticate_client(state, headers, &form).await?;
    tracing::Span::current().record("client_id", client.id.as_str());
    let token = token_param(&form)?;
    let now = now_unix();
    let inactive = json!({"active": false});
    // RFC 7662 §2.2: anything unknown, expired, revoked or not the caller's
    // is simply inactive.
    Ok(
        match find(
            state,
            &token,
            form.get("token_type_hint").and_then(Value::as_str),
        )
        .await?
        {
            Found::Refresh(row) if row.client_id == client.id => {
                let exp = row
                    .family_expires_at
                    .min(row.last_used_at + client.refresh.idle_lifetime_seconds);
                let live = matches!(row.state, RefreshState::Active | RefreshState::Rotating)
                    && exp >= now;
                match state.store.grant(&row.grant_id).await? {
                    Some(grant) if live && !grant.revoked => json!({
                        "active": true,
                        "token_type": "refresh_token",
                        "client_id": row.client_id,
                        "sub": grant.subject,
                        "scope": row.scope,
                        "exp": exp,
                        "iat": row.created_at,
                        "iss": state.settings.issuer,
                    }),
                    _ => inactive,
                }
            }
            Found::Access(grant)
                if grant.client_id == client.id
                    && !grant.revoked
                    && grant.token_expires_at >= now =>
            {
                json!({
                    "active": true,
                    "token_type": "Bearer",
                    "client_id": grant.client_id,
                    "sub": grant.subject,
                    "scope": grant.scope,
                    "exp": grant.token_expires_at,
                    "iss": state.settings.issuer,
                })
            }
            _ => inactive,
        },
    )
}
