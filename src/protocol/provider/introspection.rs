//! Introspection (RFC 7662) for authenticated clients: whether a legacy
//! access token or a refresh token is active, and for whom. Anything
//! unknown, expired, revoked or not the caller's is simply inactive. The
//! token is found as revocation finds it (`super::revocation::find`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tracing::instrument;

use super::client_auth::{ClientAuth, authenticate_client};
use super::error::OAuthError;
use super::form::FormParams;
use super::messages::Introspection;
use super::revocation::{Found, find, no_store};
use crate::app::state::AppState;
use crate::domain::store::{GrantStore, OnceStore, RefreshState, RefreshStore};
use crate::domain::types::UnixTime;

/// `POST /introspect`.
#[instrument(skip_all, fields(client_id))]
pub async fn introspect_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let store = &*state.store;
    match introspect(
        &ClientAuth::new(&state.settings, store, &state.metrics),
        &headers,
        &body,
    )
    .await
    {
        Ok(v) => no_store(StatusCode::OK, Some(v)),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn introspect<S: GrantStore + RefreshStore + OnceStore + ?Sized>(
    auth: &ClientAuth<'_, S>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Introspection, OAuthError> {
    let form = FormParams::parse(headers, body)?;
    let now = UnixTime::now();
    let client = authenticate_client(auth, headers, &form, now).await?;
    tracing::Span::current().record("client_id", client.id.as_str());
    let token = form.require("token")?;
    let store = auth.store;
    let inactive = Introspection::inactive();
    // RFC 7662 §2.2: anything unknown, expired, revoked or not the caller's
    // is simply inactive.
    Ok(
        match find(store, client, token, form.get("token_type_hint")).await? {
            Found::Refresh(row) if row.client_id == client.id => {
                // Rows keep i64 columns; read as times here.
                let exp = UnixTime::from_secs(row.family_expires_at).min(
                    UnixTime::from_secs(row.last_used_at)
                        .plus(client.refresh.idle_lifetime_seconds),
                );
                let live = matches!(row.state, RefreshState::Active | RefreshState::Rotating)
                    && exp >= now;
                match store.grant(&row.grant_id).await? {
                    Some(grant) if live && !grant.revoked => Introspection {
                        active: true,
                        token_type: Some("refresh_token"),
                        client_id: Some(row.client_id),
                        sub: Some(grant.subject),
                        scope: Some(row.scope),
                        exp: Some(exp),
                        iat: Some(UnixTime::from_secs(row.created_at)),
                        iss: Some(auth.issuer.to_owned()),
                    },
                    _ => inactive,
                }
            }
            Found::Access(grant)
                if grant.client_id == client.id
                    && !grant.revoked
                    && UnixTime::from_secs(grant.token_expires_at) >= now =>
            {
                Introspection {
                    active: true,
                    token_type: Some("Bearer"),
                    client_id: Some(grant.client_id),
                    sub: Some(grant.subject),
                    scope: Some(grant.scope),
                    exp: Some(UnixTime::from_secs(grant.token_expires_at)),
                    iat: None,
                    iss: Some(auth.issuer.to_owned()),
                }
            }
            _ => inactive,
        },
    )
}
