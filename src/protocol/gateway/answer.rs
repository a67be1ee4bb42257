//! The gateway's refusals (RFC 6750 §3 for tokens, RFC 9110 for the
//! proxy's own failures): each one a status, a `WWW-Authenticate` challenge
//! where a token is at fault, a JSON body with no legacy API detail, a
//! [`Refusal`] for the one log line, and an audit event by reason class.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::util::refusal::Refusal;

/// The realm named in challenges.
const REALM: &str = "idp-bridge";

/// Why the gateway did not forward a request.
#[derive(Debug)]
pub enum Refused {
    /// No route has this path's prefix.
    NoRoute,
    /// A method the route does not forward (`CONNECT` and `TRACE` never):
    /// what it does, for `Allow`.
    Method(HeaderValue),
    /// A malformed request: a token in the query string, two
    /// `Authorization` headers, a path a legacy server might read
    /// differently, a WebSocket upgrade without its key.
    InvalidRequest(&'static str),
    /// The client's body was malformed or broke off (the cause).
    MalformedBody(String),
    /// The client's body paused too long or came too slowly (the cause).
    SlowBody(String),
    /// No Bearer token at all (RFC 6750 §3.1: no error code then).
    NoToken,
    /// The Auth0 token is not acceptable here.
    InvalidToken {
        /// For the client.
        description: &'static str,
        /// Why, for the log.
        cause: String,
        /// The reason class (audit, metrics).
        class: &'static str,
    },
    /// A scope the route requires is missing.
    InsufficientScope(String),
    /// The user has no legacy session at the bridge.
    NoSession,
    /// The token cannot be checked or looked up now (Auth0's keys, the
    /// store, the legacy IdP).
    Unavailable(String),
    /// The legacy API cannot be reached or broke the exchange.
    BadGateway(String),
    /// The legacy API answered `101` with something other than the
    /// WebSocket handshake the client asked for: never a tunnel.
    NoTunnel(String),
    /// The legacy API did not answer in time.
    GatewayTimeout(String),
}

impl Refused {
    /// The reason class: a fixed label for audit and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            Self::NoRoute => "no_route",
            Self::Method(_) => "method",
            Self::InvalidRequest(_) => "invalid_request",
            Self::MalformedBody(_) => "malformed_body",
            Self::SlowBody(_) => "slow_body",
            Self::NoToken => "no_token",
            Self::InvalidToken { class, .. } => class,
            Self::InsufficientScope(_) => "scope",
            Self::NoSession => "no_legacy_session",
            Self::Unavailable(_) => "unavailable",
            Self::BadGateway(_) => "bad_gateway",
            Self::NoTunnel(_) => "bad_upgrade",
            Self::GatewayTimeout(_) => "gateway_timeout",
        }
    }
}

/// A refusal's status, error code, description, challenge and cause.
type Parts = (
    StatusCode,
    &'static str,
    String,
    Option<String>,
    Option<String>,
);

impl Refused {
    #[allow(clippy::too_many_lines)] // one arm per refusal, in the enum's order
    fn parts(self) -> Parts {
        match self {
            Self::NoRoute => (
                StatusCode::NOT_FOUND,
                "not_found",
                "no route for this path".into(),
                None,
                None,
            ),
            Self::Method(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not forwarded here; Allow lists those that are".into(),
                None,
                None,
            ),
            Self::MalformedBody(cause) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request body is malformed".into(),
                None,
                Some(cause),
            ),
            Self::SlowBody(cause) => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time".into(),
                None,
                Some(cause),
            ),
            Self::InvalidRequest(why) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                why.into(),
                Some(format!(
                    "Bearer realm=\"{REALM}\", error=\"invalid_request\", error_description=\"{why}\""
                )),
                None,
            ),
            // RFC 6750 §3.1: no error code when no token was sent at all.
            Self::NoToken => (
                StatusCode::UNAUTHORIZED,
                "",
                "an Auth0 access token is required (Authorization: Bearer)".into(),
                Some(format!("Bearer realm=\"{REALM}\"")),
                None,
            ),
            Self::InvalidToken {
                description, cause, ..
            } => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                description.into(),
                Some(format!(
                    "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{description}\""
                )),
                Some(cause),
            ),
            Self::InsufficientScope(scope) => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "the access token lacks a scope this API requires".into(),
                Some(format!(
                    "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", scope=\"{scope}\""
                )),
                None,
            ),
            Self::NoSession => {
                let why = "the user has no legacy session at the bridge; sign in through it again";
                (
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    why.into(),
                    Some(format!(
                        "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{why}\""
                    )),
                    None,
                )
            }
            Self::Unavailable(cause) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the token cannot be checked now; try again".into(),
                None,
                Some(cause),
            ),
            Self::BadGateway(cause) => (
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the API behind the gateway cannot be reached".into(),
                None,
                Some(cause),
            ),
            Self::NoTunnel(cause) => (
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the API's answer to the upgrade was not a WebSocket handshake".into(),
                None,
                Some(cause),
            ),
            Self::GatewayTimeout(cause) => (
                StatusCode::GATEWAY_TIMEOUT,
                "gateway_timeout",
                "the API behind the gateway did not answer in time".into(),
                None,
                Some(cause),
            ),
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let allow = match &self {
            Self::Method(allow) => Some(allow.clone()),
            _ => None,
        };
        // The connection cannot carry another request: the body's framing
        // is lost, or a client expecting a tunnel is at the other end.
        let close = matches!(
            self,
            Self::MalformedBody(_) | Self::SlowBody(_) | Self::NoTunnel(_)
        );
        let (status, code, description, challenge, cause) = self.parts();
        let body = if code.is_empty() {
            json!({ "error_description": description })
        } else {
            json!({ "error": code, "error_description": description })
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(allow) = allow {
            // RFC 9110 §15.5.6: say what is allowed.
            response.headers_mut().insert(header::ALLOW, allow);
        }
        if close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Refusal {
            code: if code.is_empty() { "no_token" } else { code },
            description,
            cause,
            reference: None,
        }
        .attach(&mut response);
        response
    }
}
