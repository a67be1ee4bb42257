//! The layers every answer passes through, outermost last: a request id
//! (kept from a trusted proxy's `x-request-id` in a bounded form, the rule
//! of [`crate::util::request_id`]) in the trace span and the answer — the one
//! stack the gateway's listener uses too ([`crate::util::request_id::identified`]);
//! security headers; limits on the request target, headers and body; the
//! one log line of each refusal ([`crate::util::refusal`]); request metrics by
//! route template.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::state::AppState;

/// The Auth0 Event Streams webhook (`admin::events`), the one route that
/// reads its own body, after authenticating the delivery.
pub const AUTH0_EVENTS_PATH: &str = "/events/auth0";

/// Largest request body any endpoint reads (forms and token requests are
/// a few KiB at most).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest request target: an authorization request with a long `state`,
/// a `claims` request and a PKCE challenge stays far below it.
pub const MAX_URI_BYTES: usize = 16 * 1024;
/// Largest total of header names and values (the session and CSRF cookies
/// are well under 1 KiB; proxies commonly allow 8 to 32 KiB).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The provider's own layers, inside the request span: route metrics, the
/// body's size and deadline, the refusal log, the head's limits and the
/// security headers.
fn limits(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    router
        // After routing, so requests are counted under their route template.
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::domain::metrics::track_http,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Before any handler: the whole body within its deadline, or 408.
        .layer(axum::middleware::from_fn_with_state(
            state.settings.limits.body_read_timeout,
            read_body,
        ))
        // Counts the refusals `log_refusal` logs, by code.
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.ops.refusals(),
            crate::domain::ops_metrics::count_refusals,
        ))
        // Inside the request span, so each refusal's line carries its ids.
        .layer(axum::middleware::from_fn(crate::util::refusal::log_refusal))
        .layer(axum::middleware::from_fn(limit_request_head))
        // A handler may set a stricter policy of its own (form_post does).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
}

/// Wraps the routed `router` in the bridge's middleware: `limits`, then
/// the request id and span both listeners share
/// ([`crate::util::request_id::identified`]).
pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    // Each request gets an id (kept from `x-request-id` if a trusted proxy
    // set an acceptable one), recorded in its span and sent back.
    crate::util::request_id::identified(
        limits(router, state),
        &state.settings.throttle.trusted_proxies,
        request_span,
    )
}

/// The provider's request span: it names the path only, never the query
/// (it carries state, nonce, login hints).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = crate::util::request_id::id_of(request);
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
}

/// Reads the whole request body (at most [`MAX_BODY_BYTES`]) within
/// `deadline` of its headers. A client that announces a body and stalls, or
/// trickles it, is answered 408 and its connection closed, instead of
/// holding a connection, a task and its buffers for ever (hyper times out
/// headers only). Every handler reads its body whole anyway.
async fn read_body(
    axum::extract::State(deadline): axum::extract::State<std::time::Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // The Auth0 webhook authenticates first, then reads its own (larger)
    // body under the same deadline (`admin::events`): a user object with
    // its metadata may pass 64 KiB, and no one unauthenticated gets to send
    // that much.
    if request.uri().path() == AUTH0_EVENTS_PATH {
        return next.run(request).await;
    }
    // Nothing to wait for (a GET, say): no timer, no copy.
    let headers = request.headers();
    let bodiless = !headers.contains_key(header::TRANSFER_ENCODING)
        && headers
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
    if bodiless {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Ok(Err(_)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONNECTION, "close")],
            "request body too large",
        )
            .into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            "request body not received in time",
        )
            .into_response(),
    }
}

/// Refuses oversized request targets (414) and headers (431) before any
/// handler or session lookup runs.
async fn limit_request_head(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return (StatusCode::URI_TOO_LONG, "request target too long").into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large",
        )
            .into_response();
    }
    next.run(request).await
}
