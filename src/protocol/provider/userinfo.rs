//! The userinfo endpoint (OIDC Core §5.3): accepts the legacy access token
//! as a Bearer token (header, or form body per RFC 6750 §2.2) and answers
//! `sub`, `user_id` and the claims of the granted scopes.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use super::claims::RequestedClaims;
use super::error::OAuthError;
use super::{profile_claims, split_scope};
use crate::app::state::AppState;
use crate::domain::sealed_grant::token_hash;
use crate::domain::store::GrantStore;
use crate::domain::types::UnixTime;
use crate::domain::upstream::Profile;

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// `GET /userinfo`.
pub async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(&*state.store, bearer(&headers)).await
}

/// `POST /userinfo`: the token in the header or as `access_token` in a form body.
pub async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let from_body = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned());
    match (bearer(&headers), from_body) {
        // RFC 6750 §2: only one method per request.
        (Some(_), Some(_)) => {
            OAuthError::invalid_request("the token was sent in more than one way").into_response()
        }
        (h, b) => respond(&*state.store, h.or(b)).await,
    }
}

async fn respond<S: GrantStore + ?Sized>(store: &S, token: Option<String>) -> Response {
    match userinfo(store, token, UnixTime::now()).await {
        Ok(v) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The claims for the Bearer `token` at `now`.
pub(super) async fn userinfo<S: GrantStore + ?Sized>(
    store: &S,
    token: Option<String>,
    now: UnixTime,
) -> Result<Value, OAuthError> {
    let token = token.filter(|t| !t.is_empty()).ok_or_else(|| {
        let mut e = OAuthError::invalid_token("a Bearer token is required");
        // RFC 6750 §3.1: no error code when the request had no token at all.
        e.challenge = Some("Bearer realm=\"idp-bridge\"".into());
        e
    })?;
    let grant = store
        .grants_by_token_hash(&token_hash(&token))
        .await?
        // Live first: every grant holding the token is revoked together.
        .into_iter()
        .next()
        .ok_or_else(|| OAuthError::invalid_token("the access token is unknown"))?;
    if grant.revoked {
        return Err(OAuthError::invalid_token("the access token was revoked"));
    }
    if UnixTime::from_secs(grant.token_expires_at) < now {
        return Err(OAuthError::invalid_token("the access token has expired"));
    }
    let profile: Profile =
        serde_json::from_str(&grant.profile_json).map_err(|e| OAuthError::server_error(&e))?;
    let requested = RequestedClaims::from_stored(&grant.claims);
    let mut claims = profile_claims(&profile, &split_scope(&grant.scope), &requested.userinfo);
    claims.insert("sub".into(), Value::String(grant.subject.clone()));
    claims.insert("user_id".into(), Value::String(grant.subject));
    Ok(Value::Object(claims))
}
