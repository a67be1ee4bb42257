//! The reference legacy API: an "unchanged" API that accepts only valid LT1
//! tokens under the shared key, as the company's real APIs do with their own
//! format. Any `GET /api/...` answers who the token belongs to.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::clock::now_unix;
use crate::legacy_token::Lt1Keys;

/// The legacy API's router, validating with `keys`.
pub fn router(keys: Lt1Keys) -> Router {
    Router::new()
        .route("/api/{*path}", get(api_get))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(keys)
}

async fn api_get(
    State(keys): State<Lt1Keys>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let Some(token) = token else {
        return refuse("invalid_request", "a Bearer token is required");
    };
    match keys.validate(token, now_unix()) {
        Ok(claims) => Json(json!({
            "message": "the legacy API accepted the token",
            "path": format!("/api/{path}"),
            "sub": claims.sub,
            "scope": claims.scope,
            "exp": claims.exp,
            "claims": claims.attributes.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        }))
        .into_response(),
        Err(e) => refuse("invalid_token", &e.to_string()),
    }
}

/// RFC 6750 §3: 401 with `WWW-Authenticate: Bearer error=...`.
fn refuse(error: &str, description: &str) -> Response {
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    let challenge = format!("Bearer error=\"{error}\", error_description=\"{description}\"");
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}
