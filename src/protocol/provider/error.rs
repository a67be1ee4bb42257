//! Errors, one type per audience: [`OAuthError`] for the token and userinfo
//! endpoints (RFC 6749 §5.2, RFC 6750 §3), [`super::authorize::AuthorizeError`] for the
//! authorization endpoint (RFC 6749 §4.1.2.1), and pages for people.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::util::refusal::Refusal;

/// The error codes the provider answers with (RFC 6749 §5.2, RFC 6750 §3.1,
/// RFC 7009 §2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is malformed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The code or refresh token is invalid, expired, revoked or another's.
    InvalidGrant,
    /// The client may not do this.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The scope exceeds what was granted.
    InvalidScope,
    /// The bridge or the legacy IdP cannot answer now; try again.
    TemporarilyUnavailable,
    /// An internal error (the cause is in the log).
    ServerError,
    /// The Bearer token is missing, unknown, expired or revoked.
    InvalidToken,
    /// RFC 8693 §2.2.2: a target (`audience`, `resource`) the server will
    /// not issue for.
    InvalidTarget,
}

impl ErrorCode {
    /// The registered name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
            Self::InvalidToken => "invalid_token",
            Self::InvalidTarget => "invalid_target",
        }
    }
}

/// An error answered as RFC 6749 §5.2 JSON.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// The error code.
    pub error: ErrorCode,
    /// A human-readable description (never a secret or an internal cause).
    pub description: String,
    /// The HTTP status.
    pub status: StatusCode,
    /// `WWW-Authenticate` to send, if any.
    pub challenge: Option<String>,
    /// The internal cause, logged (once, by the middleware), never sent.
    pub cause: Option<String>,
}

impl OAuthError {
    fn new(error: ErrorCode, status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
            status,
            challenge: None,
            cause: None,
        }
    }
    /// `invalid_target` (RFC 8693 §2.2.2).
    pub fn invalid_target(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidTarget, StatusCode::BAD_REQUEST, d)
    }
    /// `invalid_scope` (RFC 6749 §5.2).
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, StatusCode::BAD_REQUEST, d)
    }
    /// `invalid_request`.
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, StatusCode::BAD_REQUEST, d)
    }
    /// `invalid_client`, 401; with a Basic challenge when Basic was used.
    /// `cause` says which check failed, for the log only: the client is told
    /// nothing more than that authentication failed.
    pub fn invalid_client(basic_used: bool, cause: impl Into<String>) -> Self {
        let mut e = Self::new(
            ErrorCode::InvalidClient,
            StatusCode::UNAUTHORIZED,
            "client authentication failed",
        );
        e.cause = Some(cause.into());
        if basic_used {
            e.challenge = Some("Basic realm=\"idp-bridge\"".into());
        }
        e
    }
    /// `invalid_grant`.
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, StatusCode::BAD_REQUEST, d)
    }
    /// `unauthorized_client`.
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, StatusCode::BAD_REQUEST, d)
    }
    /// `unsupported_grant_type`.
    pub fn unsupported_grant_type() -> Self {
        Self::new(
            ErrorCode::UnsupportedGrantType,
            StatusCode::BAD_REQUEST,
            "this grant type is not supported",
        )
    }
    /// `temporarily_unavailable`, 503.
    pub fn temporarily_unavailable(d: impl Into<String>) -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            d,
        )
    }
    /// `server_error`, 500; the cause goes to the log, not the body.
    pub fn server_error(cause: &dyn std::fmt::Display) -> Self {
        let mut e = Self::new(
            ErrorCode::ServerError,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        );
        e.cause = Some(cause.to_string());
        e
    }
    /// RFC 6750 §3: `invalid_token`, 401, with a Bearer challenge.
    pub fn invalid_token(d: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorCode::InvalidToken, StatusCode::UNAUTHORIZED, d);
        e.challenge = Some("Bearer error=\"invalid_token\"".into());
        e
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error.as_str(), "error_description": self.description});
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(c) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, c);
        }
        Refusal {
            code: self.error.as_str(),
            description: self.description,
            cause: self.cause,
            reference: None,
        }
        .attach(&mut response);
        response
    }
}

impl From<crate::domain::store::StoreError> for OAuthError {
    fn from(e: crate::domain::store::StoreError) -> Self {
        let mut error =
            Self::temporarily_unavailable("the bridge's store is unavailable; try again");
        error.cause = Some(format!("store unavailable: {e}"));
        error
    }
}
