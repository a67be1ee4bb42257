//! Revocation (RFC 7009) for authenticated clients, for the two kinds of
//! token the bridge issues: the legacy access token (found by its hash) and
//! refresh tokens. Revoking either ends the grant: its legacy token stops
//! working at userinfo and every refresh token of its family stops working.
//! How a presented token is found (`find`) is shared with introspection
//! (`super::introspection`), which reads the same two kinds.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use tracing::instrument;

use super::client_auth::{ClientAuth, authenticate_client};
use super::error::OAuthError;
use super::form::FormParams;
use crate::app::state::AppState;
use crate::domain::config::Client;
use crate::domain::metrics::Metrics;
use crate::domain::sealed_grant::token_hash;
use crate::domain::store::{GrantRow, GrantStore, OnceStore, RefreshRow, RefreshStore};
use crate::domain::types::UnixTime;
use crate::util::crypto::sha256;

/// The token a request names, resolved.
pub(super) enum Found {
    Refresh(RefreshRow),
    Access(GrantRow),
    Nothing,
}

/// Finds `token` for `client`. A legacy token held by several grants is
/// the caller's own grant when it holds one (so ownership never depends on
/// which grant happens to be newest), else the newest.
pub(super) async fn find<S: GrantStore + RefreshStore + ?Sized>(
    store: &S,
    client: &Client,
    token: &str,
    hint: Option<&str>,
) -> Result<Found, OAuthError> {
    // Refresh tokens are the bridge's own; access tokens are legacy tokens,
    // found by the grant's hash of them.
    let refresh_hash = sha256(token.as_bytes());
    let access_hash = token_hash(token);
    // The hint only orders the lookups (RFC 7009 §2.1).
    let refresh_first = hint != Some("access_token");
    for refresh in [refresh_first, !refresh_first] {
        if refresh {
            if let Some(row) = store.refresh(&refresh_hash).await? {
                return Ok(Found::Refresh(row));
            }
        } else {
            let grants = store.grants_by_token_hash(&access_hash).await?;
            let position = grants.iter().position(|g| g.client_id == client.id);
            if let Some(grant) = grants.into_iter().nth(position.unwrap_or(0)) {
                return Ok(Found::Access(grant));
            }
        }
    }
    Ok(Found::Nothing)
}

pub(super) fn no_store(status: StatusCode, body: Option<impl Serialize>) -> Response {
    let mut response = match body {
        Some(b) => (status, axum::Json(b)).into_response(),
        None => status.into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /revoke`.
#[instrument(skip_all, fields(client_id))]
pub async fn revoke_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = ClientAuth::new(&state.settings, &*state.store, &state.metrics);
    match revoke(&auth, &state.metrics, &headers, &body).await {
        Ok(()) => no_store(StatusCode::OK, None::<()>),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn revoke<S: GrantStore + RefreshStore + OnceStore + ?Sized>(
    auth: &ClientAuth<'_, S>,
    metrics: &Metrics,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), OAuthError> {
    let form = FormParams::parse(headers, body)?;
    let client = authenticate_client(auth, headers, &form, UnixTime::now()).await?;
    tracing::Span::current().record("client_id", client.id.as_str());
    let token = form.require("token")?;
    let grant_id = match find(auth.store, client, token, form.get("token_type_hint")).await? {
        Found::Refresh(row) => owned(client, &row.client_id).map(|()| row.grant_id)?,
        Found::Access(grant) => owned(client, &grant.client_id).map(|()| grant.id)?,
        // RFC 7009 §2.2: an invalid or unknown token is not an error.
        Found::Nothing => return Ok(()),
    };
    auth.store.revoke_grant(&grant_id).await?;
    crate::audit!(metrics, "token_revoked", client_id = %client.id);
    Ok(())
}

/// RFC 7009 §2.1: a client may only revoke its own tokens.
fn owned(client: &Client, owner: &str) -> Result<(), OAuthError> {
    if client.id == owner {
        Ok(())
    } else {
        Err(OAuthError::unauthorized_client(
            "the token was not issued to this client",
        ))
    }
}
