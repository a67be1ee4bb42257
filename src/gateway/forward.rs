//! Forwarding one request to a legacy API, as a correct HTTP/1.1 proxy
//! (RFC 9110 §7.6): the target URL from the route; hop-by-hop headers
//! removed both ways, with those `Connection` names; `X-Forwarded-For`,
//! `-Proto` and `-Host` set, kept from the client only when it is a trusted
//! proxy; the Auth0 token removed and the legacy token put in the route's
//! header; bodies streamed both ways with an idle timeout; a pooled
//! `hyper-util` client with separate connect and response-header timeouts;
//! WebSocket (HTTP/1.1 `Upgrade`) passed through.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::config::{Gateway, Route};

/// The pooled client to legacy APIs (http and https, rustls).
pub type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// Builds the client: connect timeout, no Nagle, pooled, never following
/// a redirect (hyper's client does not).
pub fn client(config: &Gateway) -> Result<UpstreamClient, String> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(config.connect_timeout));
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("cannot configure TLS to legacy APIs: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(config.pool_max_idle_per_host)
        .build(https))
}

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

/// Removes the hop-by-hop headers and those `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("proxy-authenticate");
}

/// The upgrade protocol asked for, when the request is an HTTP/1.1 upgrade.
pub fn upgrade_of(request: &Request<Body>) -> Option<HeaderValue> {
    let asks = request
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if !asks || request.version() != Version::HTTP_11 {
        return None;
    }
    request.headers().get(header::UPGRADE).cloned()
}

/// The upstream URL for `path_and_query` on `route`.
pub fn target(route: &Route, path: &str, query: Option<&str>) -> Result<Uri, String> {
    let rest = if route.strip_prefix {
        &path[route.prefix.len()..]
    } else {
        path
    };
    let base = route.upstream.path().trim_end_matches('/');
    let mut joined = String::with_capacity(base.len() + rest.len() + 1);
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
    let authority = match route.upstream.port() {
        Some(port) => format!("{}:{port}", route.upstream.host_str().unwrap_or("")),
        None => route.upstream.host_str().unwrap_or("").to_owned(),
    };
    Uri::builder()
        .scheme(route.upstream.scheme())
        .authority(authority)
        .path_and_query(joined)
        .build()
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
    const XFF: &str = "x-forwarded-for";
    const XFP: &str = "x-forwarded-proto";
    const XFH: &str = "x-forwarded-host";
    let prior_for = headers
        .get_all(XFF)
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
        headers.remove(XFP);
        headers.remove(XFH);
        headers.remove(header::FORWARDED);
    }
    if let Ok(v) = HeaderValue::from_str(&chain) {
        headers.insert(XFF, v);
    }
    if !headers.contains_key(XFP) {
        headers.insert(XFP, HeaderValue::from_static("http"));
    }
    if !headers.contains_key(XFH) {
        if let Some(host) = host {
            headers.insert(XFH, host);
        }
    }
}

/// Why a forward failed.
#[derive(Debug)]
pub enum ForwardError {
    /// No connection (refused, DNS, TLS): 502.
    Connect(String),
    /// Connecting or the response headers took too long: 504.
    Timeout(String),
    /// The upstream broke the exchange: 502.
    Broken(String),
}

/// The outcome label of a failed forward, for metrics.
impl ForwardError {
    /// A fixed label.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::Timeout(_) => "timeout",
            Self::Broken(_) => "error",
        }
    }
}

/// Sends `request` (already rewritten) and answers with the upstream's
/// response, streamed, its hop-by-hop headers removed; an upgrade is
/// spliced when both sides agree.
pub async fn send(
    client: &UpstreamClient,
    mut request: Request<Body>,
    upgrade: Option<HeaderValue>,
    timeouts: (Duration, Duration),
) -> Result<Response<Body>, ForwardError> {
    let (response_timeout, idle) = timeouts;
    let client_upgrade = upgrade.as_ref().and_then(|_| {
        request
            .extensions_mut()
            .remove::<hyper::upgrade::OnUpgrade>()
    });
    if let Some(protocol) = &upgrade {
        request
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        request
            .headers_mut()
            .insert(header::UPGRADE, protocol.clone());
    }
    let started = Instant::now();
    let mut response = match tokio::time::timeout(response_timeout, client.request(request)).await {
        Err(_) => {
            return Err(ForwardError::Timeout(format!(
                "no response headers within {} ms",
                response_timeout.as_millis()
            )));
        }
        Ok(Err(e)) => return Err(classify(&e, started)),
        Ok(Ok(response)) => response,
    };
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_side) = client_upgrade else {
            return Err(ForwardError::Broken(
                "101 Switching Protocols to a request that asked for no upgrade".into(),
            ));
        };
        let protocol = response.headers().get(header::UPGRADE).cloned();
        let upstream_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            match tokio::join!(client_side, upstream_side) {
                (Ok(client), Ok(upstream)) => {
                    let (mut a, mut b) = (TokioIo::new(client), TokioIo::new(upstream));
                    if let Err(e) = tokio::io::copy_bidirectional(&mut a, &mut b).await {
                        tracing::debug!(error = %e, "an upgraded connection ended");
                    }
                }
                (a, b) => tracing::debug!(
                    client = a.err().map(|e| e.to_string()),
                    upstream = b.err().map(|e| e.to_string()),
                    "an upgrade did not complete"
                ),
            }
        });
        let (mut parts, _) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        if let Some(protocol) = protocol {
            parts.headers.insert(header::UPGRADE, protocol);
        }
        return Ok(Response::from_parts(parts, Body::empty()));
    }
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(
        parts,
        Body::new(tower_http::timeout::TimeoutBody::new(idle, body)),
    ))
}

/// A client error's class: a connect timeout is a timeout (504, as nginx's
/// `proxy_connect_timeout`), any other connect failure 502.
fn classify(e: &hyper_util::client::legacy::Error, started: Instant) -> ForwardError {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut timed_out = false;
    let mut detail = e.to_string();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        if s.to_string().contains("timed out") {
            timed_out = true;
        }
        detail = s.to_string();
        source = s.source();
    }
    let detail = format!("{detail} (after {} ms)", started.elapsed().as_millis());
    if e.is_connect() {
        if timed_out {
            ForwardError::Timeout(format!("connect: {detail}"))
        } else {
            ForwardError::Connect(detail)
        }
    } else {
        ForwardError::Broken(detail)
    }
}

/// The peer as the forwarding headers name it.
pub fn peer_ip(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}
