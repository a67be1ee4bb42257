//! WebSocket upgrades: when a request asks for one, when the API's `101`
//! grants it, and the tunnel that follows.
//!
//! A tunnel is a raw pipe to the API, past every check the gateway makes
//! per request, so it exists only for the handshake RFC 6455 describes:
//!
//! - the client asks over HTTP/1.1 with `Connection: upgrade`, `Upgrade:
//!   websocket` and one `Sec-WebSocket-Key` of 16 bytes in base64
//!   (§4.1); a WebSocket request without one is refused (400, §4.2.1), any
//!   other protocol (`h2c`) is forwarded as a plain request, its upgrade
//!   headers removed as hop-by-hop;
//! - the API's `101` must carry `Upgrade: websocket`, `Connection:
//!   upgrade` and the `Sec-WebSocket-Accept` computed from the client's key
//!   (§4.2.2 step 5.4; §4.1 says a client fails the connection otherwise,
//!   and RFC 9110 §15.2.2 says the protocols are the ones named in
//!   `Upgrade`). Anything else — a `101` without `Upgrade`, another
//!   protocol, a wrong or missing accept value, a `101` to a request that
//!   asked for none — is answered 502 and the client's connection closed,
//!   never spliced: otherwise an API that can be made to answer `101`
//!   (a status passed through, a health check) would carry the client's
//!   next requests to the API with no token and outside every route (the
//!   websocket-smuggling pattern);
//! - the tunnel keeps its connection's place under the listener's caps and
//!   ends when either side closes, when silent for the idle limit, when its
//!   user is revoked, or when its cache entry ends: `cache_skew_seconds`
//!   before the earlier of the Auth0 token's and the legacy token's expiry,
//!   so a tunnel never outlives either.

use std::time::{Duration, Instant};

use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, Version};
use hyper_util::rt::TokioIo;

use super::pool::ForwardError;

/// The GUID every WebSocket accept value is computed with (RFC 6455 §1.3).
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A WebSocket handshake the client asked for: the accept value its `101`
/// must carry.
#[derive(Debug, Clone)]
pub struct Handshake {
    accept: String,
}

/// Whether `headers` name `token` in any of their comma-separated values,
/// ignoring ASCII case.
fn lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The WebSocket handshake `request` asks for, if any (HTTP/1.1
/// `Connection: upgrade` with `Upgrade: websocket`); an error when it asks
/// for one without a proper key.
pub fn asked(request: &Request<Body>) -> Result<Option<Handshake>, &'static str> {
    let headers = request.headers();
    if request.version() != Version::HTTP_11
        || !lists(headers, header::CONNECTION, "upgrade")
        || !headers
            .get(header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
    {
        return Ok(None);
    }
    let mut keys = headers.get_all(header::SEC_WEBSOCKET_KEY).iter();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err("a WebSocket upgrade needs one Sec-WebSocket-Key (RFC 6455 §4.1)");
    };
    if STANDARD
        .decode(key.as_bytes())
        .map_or(true, |raw| raw.len() != 16)
    {
        return Err("the Sec-WebSocket-Key is not 16 bytes in base64 (RFC 6455 §4.1)");
    }
    Ok(Some(Handshake {
        accept: accept_for(key.as_bytes()),
    }))
}

/// `Sec-WebSocket-Accept` for a key: base64 of SHA-1 of the key and the
/// GUID (RFC 6455 §4.2.2 step 5.4).
fn accept_for(key: &[u8]) -> String {
    let mut input = key.to_vec();
    input.extend_from_slice(WEBSOCKET_GUID.as_bytes());
    STANDARD.encode(crate::util::crypto::sha1(&input))
}

/// Why the API's `101` is not the WebSocket handshake the client asked
/// for, if it is not.
fn refuse_switch(handshake: &Handshake, headers: &HeaderMap) -> Option<String> {
    let upgrade: Vec<&HeaderValue> = headers.get_all(header::UPGRADE).iter().collect();
    if !matches!(upgrade.as_slice(), [one] if one.as_bytes().eq_ignore_ascii_case(b"websocket")) {
        return Some(format!(
            "a 101 switching to {upgrade:?}, not to websocket alone (RFC 9110 §15.2.2)"
        ));
    }
    if !lists(headers, header::CONNECTION, "upgrade") {
        return Some("a 101 without `Connection: upgrade` (RFC 6455 §4.1)".into());
    }
    let accept: Vec<&HeaderValue> = headers
        .get_all(header::SEC_WEBSOCKET_ACCEPT)
        .iter()
        .collect();
    if !matches!(accept.as_slice(), [one] if one.as_bytes() == handshake.accept.as_bytes()) {
        return Some(format!(
            "a 101 whose Sec-WebSocket-Accept {accept:?} is not the key's (RFC 6455 §4.2.2)"
        ));
    }
    None
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

/// The client's side of a switch: its handshake, the connection it will
/// hand over, and its place under the listener's caps.
pub struct ClientSide {
    /// What the client asked for (`None`: no upgrade).
    pub handshake: Option<Handshake>,
    /// The client's connection, once the `101` is sent.
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
    /// The connection's place under the caps, held by the tunnel.
    pub slot: Option<crate::util::connection_slot::ConnectionSlot>,
}

/// Judges the API's `101`: when it is the handshake the client asked for,
/// splices the two connections (on a task of their own) and gives the
/// `101` back to pass on; else refuses it, dropping the API's connection.
pub fn switch(
    mut response: Response<Body>,
    client: ClientSide,
    tunnel: Tunnel,
) -> Result<Response<Body>, ForwardError> {
    let (Some(handshake), Some(client_upgrade)) = (client.handshake, client.upgrade) else {
        return Err(ForwardError::NoTunnel(
            "101 Switching Protocols to a request that asked for no upgrade".into(),
        ));
    };
    if let Some(why) = refuse_switch(&handshake, response.headers()) {
        return Err(ForwardError::NoTunnel(why));
    }
    let backend_upgrade = hyper::upgrade::on(&mut response);
    let slot = client.slot;
    tokio::spawn(async move {
        let _slot = slot;
        match tokio::join!(client_upgrade, backend_upgrade) {
            (Ok(client), Ok(backend)) => {
                splice(TokioIo::new(client), TokioIo::new(backend), &tunnel).await;
            }
            (a, b) => tracing::debug!(
                client = a.err().map(|e| e.to_string()),
                upstream = b.err().map(|e| e.to_string()),
                "an upgrade did not complete"
            ),
        }
    });
    // The forwarder removes the API's hop-by-hop headers and names the
    // protocol switched to itself.
    Ok(response)
}

/// Copies both ways until either side closes, neither sends anything for
/// the idle limit (as nginx's `proxy_read_timeout` ends a silent WebSocket;
/// the peers' own pings keep a live one open), or the token's entry ends
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
                return "the token's cache entry ended or its user was revoked";
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_is_rfc_6455_s_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_for(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn only_the_handshake_asked_for_is_a_switch() {
        let handshake = Handshake {
            accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".into(),
        };
        let good = [
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ];
        assert_eq!(refuse_switch(&handshake, &headers(&good)), None);
        for bad in [
            &good[1..],
            &[good[0], good[1]][..],
            &[("upgrade", "h2c"), good[1], good[2]][..],
            &[good[0], ("connection", "close"), good[2]][..],
            &[good[0], good[1], ("sec-websocket-accept", "AAAA")][..],
            &[good[0], good[0], good[1], good[2]][..],
            &[good[0], good[1], good[2], good[2]][..],
        ] {
            assert!(
                refuse_switch(&handshake, &headers(bad)).is_some(),
                "{bad:?}"
            );
        }
    }
}
