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
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;

pub use super::pool::ForwardError;
use crate::config::{Gateway, Route};

/// The connections to legacy APIs (http and https, rustls).
pub type UpstreamClient = std::sync::Arc<super::pool::Upstreams>;

/// Builds the connection pool: connect timeout, no Nagle, never following a
/// redirect (nothing here follows one).
pub fn client(config: &Gateway) -> Result<UpstreamClient, String> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("cannot configure TLS to legacy APIs: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(std::sync::Arc::new(super::pool::Upstreams::new(
        https,
        config.connect_timeout,
        config.pool_max_idle_per_host,
    )))
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

/// Headers naming the client or the request's original target, which a
/// legacy API may believe (IP allow-lists, IIS's and Symfony's URL
/// rewriting): dropped unless the peer is a trusted proxy.
const CLIENT_CLAIMS: [&str; 11] = [
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "cf-connecting-ip",
    "x-cluster-client-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-ssl",
];

/// Prepares the client's headers for the legacy API: hop-by-hop headers
/// out; the Auth0 token, `Host` (the client sets the API's) and, as nginx
/// does, every header with `_` in its name out (CGI-style servers read
/// `X_Legacy_Token` as `X-Legacy-Token`); the client's claims about itself
/// out unless `trusted`; HTTP/2's split `cookie` headers joined (RFC 9113
/// §8.2.3); `Via` added (RFC 9110 §7.6.3).
pub fn clean_request_headers(headers: &mut HeaderMap, trusted: bool, version: Version) {
    strip_hop_by_hop(headers);
    headers.remove(header::AUTHORIZATION);
    headers.remove(header::HOST);
    let underscored: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().contains('_'))
        .cloned()
        .collect();
    for name in underscored {
        headers.remove(name);
    }
    if !trusted {
        for name in CLIENT_CLAIMS {
            headers.remove(name);
        }
    }
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
    // WebSocket only: an `h2c` (or any other) upgrade answered 101 would
    // hand the client a raw pipe to the API, past every check here.
    request
        .headers()
        .get(header::UPGRADE)
        .filter(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
        .cloned()
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

/// What an upgraded connection needs: its idle limit, and the cache entry
/// whose expiry or revocation ends it.
pub struct Tunnel {
    /// The longest silence.
    pub idle: Duration,
    /// The cache that sees revocations.
    pub cache: std::sync::Arc<super::cache::TokenCache>,
    /// The token's entry.
    pub entry: std::sync::Arc<super::cache::Entry>,
}

/// Sends `request` (already rewritten) and answers with the upstream's
/// response, streamed, its hop-by-hop headers removed; an upgrade is
/// spliced when both sides agree. `response_timeout` runs from the end of
/// the request body (an upload may take longer while it flows; its pauses
/// are bounded by the idle timeout) to the response headers.
pub async fn send(
    client: &UpstreamClient,
    request: Request<Body>,
    upgrade: Option<HeaderValue>,
    response_timeout: Duration,
    tunnel: Tunnel,
) -> Result<Response<Body>, ForwardError> {
    let (mut parts, body) = request.into_parts();
    let client_upgrade = upgrade
        .as_ref()
        .and_then(|_| parts.extensions.remove::<hyper::upgrade::OnUpgrade>());
    // The connection's place under the listener's caps, held by the tunnel.
    let slot = parts.extensions.remove::<crate::server::ConnectionSlot>();
    if let Some(protocol) = &upgrade {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol.clone());
    }
    let (sent, body_sent) = tokio::sync::oneshot::channel();
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut body = EndSignal {
        inner: Body::new(tower_http::timeout::TimeoutBody::new(tunnel.idle, body)),
        sent: Some(sent),
        progress: progress.clone(),
    };
    if http_body::Body::is_end_stream(&body.inner) {
        // Nothing to send (hyper may never poll it): the clock runs now.
        body.signal();
    }
    let request = Request::from_parts(parts, Body::new(body));
    // While the body is being sent, it must move: an API that stops reading
    // it (or a client that stops sending) for the idle limit ends the
    // exchange, as nginx's `proxy_send_timeout`.
    let stalled = async {
        let mut seen = 0;
        loop {
            tokio::time::sleep(tunnel.idle).await;
            let now = progress.load(std::sync::atomic::Ordering::Relaxed);
            if now == seen {
                return;
            }
            seen = now;
        }
    };
    let timed_out = || {
        ForwardError::Timeout(format!(
            "no response headers within {} ms of the request",
            response_timeout.as_millis()
        ))
    };
    let exchange = client.send(request);
    tokio::pin!(exchange);
    let answered = tokio::select! {
        answered = &mut exchange => answered,
        // The body is sent (or dropped): from now on the clock runs.
        _ = body_sent => match tokio::time::timeout(response_timeout, &mut exchange).await {
            Ok(answered) => answered,
            Err(_) => return Err(timed_out()),
        },
        () = stalled => {
            return Err(ForwardError::Timeout(format!(
                "the request body did not move for {} ms",
                tunnel.idle.as_millis()
            )));
        }
    };
    let mut response = answered?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_side) = client_upgrade else {
            return Err(ForwardError::Broken(
                "101 Switching Protocols to a request that asked for no upgrade".into(),
            ));
        };
        let protocol = response.headers().get(header::UPGRADE).cloned();
        let upstream_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::join!(client_side, upstream_side) {
                (Ok(client), Ok(upstream)) => {
                    splice(TokioIo::new(client), TokioIo::new(upstream), &tunnel).await;
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
        Body::new(tower_http::timeout::TimeoutBody::new(tunnel.idle, body)),
    ))
}

/// A body that says when it has been sent in full (or dropped).
struct EndSignal {
    inner: Body,
    sent: Option<tokio::sync::oneshot::Sender<()>>,
    /// Frames sent so far.
    progress: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl EndSignal {
    fn signal(&mut self) {
        if let Some(sent) = self.sent.take() {
            let _ = sent.send(());
        }
    }
}

impl Drop for EndSignal {
    fn drop(&mut self) {
        self.signal();
    }
}

impl http_body::Body for EndSignal {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(Some(Ok(_)))) {
            self.progress
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if matches!(polled, std::task::Poll::Ready(None | Some(Err(_))))
            || http_body::Body::is_end_stream(&self.inner)
        {
            self.signal();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

/// Copies both ways until either side closes, neither sends anything for
/// the idle limit (as nginx's `proxy_read_timeout` ends a silent WebSocket;
/// the peers' own pings keep a live one open), or the token's entry expires
/// or its user is revoked (checked each second).
async fn splice<A, B>(a: A, b: B, tunnel: &Tunnel)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let moved = Arc::new(AtomicU64::new(0));
    let (mut a, mut b) = (
        Counted {
            inner: a,
            moved: moved.clone(),
        },
        Counted {
            inner: b,
            moved: moved.clone(),
        },
    );
    let watchdog = async {
        let tick = tunnel.idle.min(Duration::from_secs(1));
        let (mut seen, mut quiet_since) = (0, Instant::now());
        loop {
            tokio::time::sleep(tick).await;
            if !tunnel.cache.still_valid(&tunnel.entry) {
                return "the token expired or its user was revoked";
            }
            let now = moved.load(Ordering::Relaxed);
            if now != seen {
                (seen, quiet_since) = (now, Instant::now());
            } else if quiet_since.elapsed() >= tunnel.idle {
                return "idle too long";
            }
        }
    };
    tokio::select! {
        result = tokio::io::copy_bidirectional(&mut a, &mut b) => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "an upgraded connection ended");
            }
        }
        why = watchdog => tracing::debug!(why, "an upgraded connection was closed"),
    }
}

/// A stream that counts the bytes read through it.
struct Counted<T> {
    inner: T,
    moved: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.moved
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        polled
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The peer as the forwarding headers name it.
pub fn peer_ip(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}
