//! Forwarding one request to a legacy API, as a correct HTTP/1.1 proxy
//! (RFC 9110 §7.6): the target URL from the route; hop-by-hop headers
//! removed both ways, with those `Connection` names; `X-Forwarded-For`,
//! `-Proto` and `-Host` set, kept from the client only when it is a trusted
//! proxy; the Auth0 token removed and the legacy token put in the route's
//! header; bodies streamed both ways with an idle timeout (the request's
//! under [`super::body`]'s limits); pooled connections ([`super::pool`])
//! with separate connect and response-header timeouts; WebSocket upgrades
//! handed to [`super::upgrade`].

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;

use super::body::{BodyLimits, ClientBody};
pub use super::pool::{ForwardError, Origin};
use super::upgrade::{ClientSide, Handshake, Tunnel};
use crate::domain::config::{GatewaySettings, Route};

/// The connections to legacy APIs (http and https, rustls).
pub type BackendClient = std::sync::Arc<super::pool::Backends>;

/// Builds the connection pool: connect timeout, no Nagle, never following a
/// redirect (nothing here follows one).
pub fn client(config: &GatewaySettings) -> Result<BackendClient, String> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("cannot configure TLS to legacy APIs: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(std::sync::Arc::new(super::pool::Backends::new(
        https,
        config.connect_timeout,
        config.pool_max_idle_per_host,
    )))
}

/// Whether `name` describes one connection, never forwarded (RFC 9110
/// §7.6.1).
fn hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-authenticate"
    )
}

/// Whether `name` is a header naming the client or the request's original
/// target, which a legacy API may believe (IP allow-lists, IIS's and
/// Symfony's URL rewriting): dropped unless the peer is a trusted proxy.
fn client_claim(name: &str) -> bool {
    matches!(
        name,
        "x-real-ip"
            | "true-client-ip"
            | "x-client-ip"
            | "cf-connecting-ip"
            | "x-cluster-client-ip"
            | "x-original-url"
            | "x-rewrite-url"
            | "x-forwarded-port"
            | "x-forwarded-prefix"
            | "x-forwarded-server"
            | "x-forwarded-ssl"
    )
}

const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
const XFP: HeaderName = HeaderName::from_static("x-forwarded-proto");
const XFH: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Prepares the client's headers for the legacy API: hop-by-hop headers
/// out; the Auth0 token, `Host` (the client sets the API's) and, as nginx
/// does, every header with `_` in its name out (CGI-style servers read
/// `X_Legacy_Token` as `X-Legacy-Token`); the client's claims about itself
/// out unless `trusted`; HTTP/2's split `cookie` headers joined (RFC 9113
/// §8.2.3); `Via` added (RFC 9110 §7.6.3).
pub fn clean_request_headers(headers: &mut HeaderMap, trusted: bool, version: Version) {
    remove_connection_named(headers);
    remove_where(headers, |name| {
        let text = name.as_str();
        hop_by_hop(text)
            || name == header::AUTHORIZATION
            || name == header::HOST
            || text.contains('_')
            || (!trusted && client_claim(text))
    });
    if version == Version::HTTP_2 && headers.get_all(header::COOKIE).iter().count() > 1 {
        let joined = headers
            .get_all(header::COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join("; ");
        if let Ok(v) = HeaderValue::from_str(&joined) {
            headers.insert(header::COOKIE, v);
        }
    }
    let via = match version {
        Version::HTTP_2 => "2 idp-bridge",
        Version::HTTP_10 => "1.0 idp-bridge",
        _ => "1.1 idp-bridge",
    };
    headers.append(header::VIA, HeaderValue::from_static(via));
}

/// Removes the hop-by-hop headers and those `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    remove_connection_named(headers);
    remove_where(headers, |name| hop_by_hop(name.as_str()));
}

/// Removes the headers `Connection` names, each by a lookup: a list of
/// thousands of names checked against every header at every removal cost
/// a request hundreds of times the CPU of the rest of its headers.
fn remove_connection_named(headers: &mut HeaderMap) {
    for name in connection_named(headers) {
        headers.remove(name);
    }
}

/// The other headers the `Connection` header names (RFC 9110 §7.6.1);
/// the usual `keep-alive`, `close` and `upgrade` are no others, so most
/// messages allocate nothing here.
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|name| {
            !name.eq_ignore_ascii_case("close")
                && !name.eq_ignore_ascii_case("keep-alive")
                && !name.eq_ignore_ascii_case("upgrade")
        })
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect()
}

/// Removes every header `doomed` picks, looking at the names present (a
/// handful) instead of looking up each name that might be.
fn remove_where(headers: &mut HeaderMap, doomed: impl Fn(&HeaderName) -> bool) {
    while let Some(name) = headers.keys().find(|name| doomed(name)).cloned() {
        headers.remove(&name);
    }
}

/// The origin-form target on `route`'s legacy API for `path` and `query`
/// (the API's scheme and authority are the route's [`Origin`]).
pub fn target(route: &Route, path: &str, query: Option<&str>) -> Result<Uri, String> {
    let rest = if route.strip_prefix {
        &path[route.prefix.len()..]
    } else {
        path
    };
    let base = route.backend.path().trim_end_matches('/');
    let mut joined = String::with_capacity(base.len() + rest.len() + 2 + query.map_or(0, str::len));
    joined.push_str(base);
    if !rest.is_empty() && !rest.starts_with('/') {
        joined.push('/');
    }
    joined.push_str(rest);
    if joined.is_empty() {
        joined.push('/');
    }
    if let Some(q) = query {
        joined.push('?');
        joined.push_str(q);
    }
    http::uri::PathAndQuery::try_from(joined)
        .map(Uri::from)
        .map_err(|e| e.to_string())
}

/// Sets `X-Forwarded-For`, `-Proto` and `-Host`: the client's own values
/// only when `peer` is a trusted proxy, else ours alone; `Forwarded` (RFC
/// 7239) from an untrusted peer is dropped for the same reason.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    peer: IpAddr,
    trusted: bool,
    host: Option<HeaderValue>,
) {
    let prior_for = headers
        .get_all(&XFF)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let chain = if trusted && !prior_for.is_empty() {
        format!("{prior_for}, {peer}")
    } else {
        peer.to_string()
    };
    if !trusted {
        headers.remove(&XFP);
        headers.remove(&XFH);
        headers.remove(header::FORWARDED);
    }
    if let Ok(v) = HeaderValue::from_str(&chain) {
        headers.insert(XFF, v);
    }
    if !headers.contains_key(&XFP) {
        headers.insert(XFP, HeaderValue::from_static("http"));
    }
    if !headers.contains_key(&XFH) {
        if let Some(host) = host {
            headers.insert(XFH, host);
        }
    }
}

/// Sends `request` (already rewritten) and answers with the legacy API's
/// response, streamed, its hop-by-hop headers removed; a WebSocket upgrade
/// is spliced when the API's `101` is the handshake the client asked for
/// ([`super::upgrade`]). The client's body streams under `limits`
/// ([`super::body`]); `response_timeout` runs from the end of the request
/// body (an upload may take longer while it flows) to the response headers.
pub async fn send(
    client: &BackendClient,
    origin: &std::sync::Arc<Origin>,
    request: Request<Body>,
    handshake: Option<Handshake>,
    response_timeout: Duration,
    limits: BodyLimits,
    tunnel: Tunnel,
) -> Result<Response<Body>, ForwardError> {
    let (mut parts, body) = request.into_parts();
    let client_side = ClientSide {
        upgrade: handshake
            .as_ref()
            .and_then(|_| parts.extensions.remove::<hyper::upgrade::OnUpgrade>()),
        slot: parts
            .extensions
            .remove::<crate::util::connection_slot::ConnectionSlot>(),
        handshake,
    };
    if client_side.handshake.is_some() {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts
            .headers
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    let response = if http_body::Body::is_end_stream(&body) {
        // No body to send (a GET, say): the clock runs from now, and there
        // is nothing to watch.
        let request = Request::from_parts(parts, body);
        match tokio::time::timeout(response_timeout, client.send(origin, request, limits.idle))
            .await
        {
            Ok(answered) => answered?,
            Err(_) => return Err(no_headers(response_timeout)),
        }
    } else {
        send_streamed(client, origin, parts, body, response_timeout, limits).await?
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let (mut parts, _) = super::upgrade::switch(response, client_side, tunnel)?.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts
            .headers
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    // The body ends the exchange after `limits.idle` without a byte
    // ([`super::pool`] times it).
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, body))
}

/// The API sent no response headers in time: 504.
fn no_headers(response_timeout: Duration) -> ForwardError {
    ForwardError::Timeout(format!(
        "no response headers within {} ms of the request",
        response_timeout.as_millis()
    ))
}

/// Sends a request whose body streams from the client, under `limits`,
/// with `response_timeout` running from the end of the body.
async fn send_streamed(
    client: &BackendClient,
    origin: &std::sync::Arc<Origin>,
    mut parts: http::request::Parts,
    body: Body,
    response_timeout: Duration,
    limits: BodyLimits,
) -> Result<Response<Body>, ForwardError> {
    // A body of no stated length (chunked from the client, HTTP/2 without
    // `content-length`) is sent chunked, said explicitly: left to hyper, a
    // GET's or HEAD's such body would be sent as none at all, silently.
    if !parts.headers.contains_key(header::CONTENT_LENGTH)
        && http_body::Body::size_hint(&body).exact().is_none()
    {
        parts.headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    let (sent, body_sent) = tokio::sync::oneshot::channel();
    let (body, watch) = ClientBody::new(body, limits, sent);
    let request = Request::from_parts(parts, Body::new(body));
    // While the body is being sent, it must move: an API that stops reading
    // it for the idle limit ends the exchange, as nginx's
    // `proxy_send_timeout` (a client that stops sending is the body's own
    // timer's to judge).
    let stalled = async {
        let mut seen = 0;
        loop {
            tokio::time::sleep(limits.idle).await;
            let now = watch.progress.load(Ordering::Relaxed);
            if now == seen && !watch.waiting.load(Ordering::Relaxed) {
                return;
            }
            seen = now;
        }
    };
    let exchange = client.send(origin, request, limits.idle);
    tokio::pin!(exchange);
    let answered = tokio::select! {
        answered = &mut exchange => answered,
        // The body is sent (or dropped): from now on the clock runs.
        _ = body_sent => match tokio::time::timeout(response_timeout, &mut exchange).await {
            Ok(answered) => answered,
            Err(_) => Err(no_headers(response_timeout)),
        },
        () = stalled => Err(ForwardError::Timeout(format!(
            "the API did not read the request body for {} ms",
            limits.idle.as_millis()
        ))),
    };
    // A body the client broke or let lag fails the exchange: its fault.
    answered.map_err(|e| watch.fault().map_or(e, ForwardError::Client))
}

/// The peer as the forwarding headers name it.
pub fn peer_ip(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}
