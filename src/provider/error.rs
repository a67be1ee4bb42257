//! Errors, one type per audience: [`OAuthError`] for the token and userinfo
//! endpoints (RFC 6749 §5.2, RFC 6750 §3), [`super::authorize::AuthorizeError`] for the
//! authorization endpoint (RFC 6749 §4.1.2.1), and pages for people.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered as RFC 6749 §5.2 JSON.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// The error code.
    pub error: &'static str,
    /// A human-readable description (never a secret or an internal cause).
    pub description: String,
    /// The HTTP status.
    pub status: StatusCode,
    /// `WWW-Authenticate` to send, if any.
    pub challenge: Option<String>,
}

impl OAuthError {
    /// A 400 error with a given code.
    pub fn new_static(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(error, StatusCode::BAD_REQUEST, description)
    }

    fn new(error: &'static str, status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            status,
            challenge: None,
        }
    }
    /// `invalid_request`.
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", StatusCode::BAD_REQUEST, d)
    }
    /// `invalid_client`, 401; with a Basic challenge when Basic was used.
    pub fn invalid_client(basic_used: bool) -> Self {
        let mut e = Self::new(
            "invalid_client",
            StatusCode::UNAUTHORIZED,
            "client authentication failed",
        );
        if basic_used {
            e.challenge = Some("Basic realm=\"idp-bridge\"".into());
        }
        e
    }
    /// `invalid_grant`.
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", StatusCode::BAD_REQUEST, d)
    }
    /// `unauthorized_client`.
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", StatusCode::BAD_REQUEST, d)
    }
    /// `unsupported_grant_type`.
    pub fn unsupported_grant_type() -> Self {
        Self::new(
            "unsupported_grant_type",
            StatusCode::BAD_REQUEST,
            "this grant type is not supported",
        )
    }
    /// `temporarily_unavailable`, 503.
    pub fn temporarily_unavailable(d: impl Into<String>) -> Self {
        Self::new(
            "temporarily_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            d,
        )
    }
    /// `server_error`, 500; the cause goes to the log, not the body.
    pub fn server_error(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            "server_error",
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        )
    }
    /// RFC 6750 §3: `invalid_token`, 401, with a Bearer challenge.
    pub fn invalid_token(d: impl Into<String>) -> Self {
        let mut e = Self::new("invalid_token", StatusCode::UNAUTHORIZED, d);
        e.challenge = Some("Bearer error=\"invalid_token\"".into());
        e
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(c) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, c);
        }
        response
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store unavailable");
        Self::temporarily_unavailable("the bridge's store is unavailable; try again")
    }
}
