//! Request ids, one rule for both listeners. An id is a reference for
//! operators: it is in every log line of the request, in the answer's
//! `x-request-id`, on an error page, and (at the gateway) sent to the API.
//! So a client must not choose it — it could make its requests look like
//! someone else's, or write what it likes into the logs — but a proxy in
//! front may hand on its own, so one id follows a request end to end.
//!
//! The rule ([`RequestIdLayer`]): an incoming `x-request-id` is kept only
//! when the peer is one of the listener's trusted proxies (`[throttle]
//! trusted_proxies` for the provider, `[gateway] trusted_proxies` for the
//! gateway) and it is one value of 1 to 64 characters from
//! `[A-Za-z0-9._-]` (a UUID, a hex trace id, Envoy's or nginx's ids);
//! otherwise a new one is made. Envoy does the same: it keeps an incoming
//! `x-request-id` only from internal peers (`preserve_external_request_id`
//! is off by default).
//!
//! New ids are a random prefix chosen once per process and a counter, so
//! they are unique across instances without a system call per request (a
//! UUID v4 asks the kernel for randomness every time). A leaf: it depends
//! on nothing in the crate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::RequestId;

/// The header.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id believed.
const MAX_LEN: usize = 64;

/// Makes `PREFIX-COUNTER` ids (16 hex digits each).
#[derive(Clone, Debug)]
struct MakeSequentialId {
    prefix: u64,
    counter: Arc<AtomicU64>,
}

impl Default for MakeSequentialId {
    fn default() -> Self {
        Self {
            prefix: rand::random(),
            counter: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl MakeSequentialId {
    fn next(&self) -> HeaderValue {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // Written by hand: `format!` with two padded hex fields was a
        // visible share of a gateway request's instructions.
        let mut id = [b'-'; 33];
        hex16(self.prefix, &mut id[..16]);
        hex16(n, &mut id[17..]);
        HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("0"))
    }
}

/// `value` as 16 lowercase hex digits into `out` (16 bytes).
fn hex16(value: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().enumerate() {
        let shift = 60 - 4 * i;
        *byte = DIGITS[usize::try_from((value >> shift) & 0xf).unwrap_or(0)];
    }
}

/// The outer layers of both listeners, one stack: the request's id by the
/// rule above (believed from `trusted` peers only), a trace span made by
/// `span` (which reads the id with [`id_of`]), and the id sent back on the
/// answer. Each listener puts its own layers inside (the provider's
/// limits and security headers, the refusal log).
pub fn identified<S>(
    router: axum::Router<S>,
    trusted: &[ipnet::IpNet],
    span: fn(&Request<axum::body::Body>) -> tracing::Span,
) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    // One composed layer, not three: each `Router::layer` boxes every route
    // once more (a boxed service cloned and a boxed future per request), a
    // visible share of a gateway request's allocations.
    router.layer(
        tower::ServiceBuilder::new()
            .layer(RequestIdLayer::new(trusted))
            .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(span))
            .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id()),
    )
}

/// The id [`RequestIdLayer`] gave `request` (empty before it ran).
pub fn id_of<B>(request: &Request<B>) -> &str {
    request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Whether `value` has the form of an id a proxy may hand on: 1 to 64 of
/// `[A-Za-z0-9._-]`.
pub fn acceptable(value: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Gives each request its id: the trusted proxy's, if acceptable, else a
/// new one; in the `x-request-id` header (read by the span, the refusal
/// log and `PropagateRequestIdLayer`) and as a [`RequestId`] extension.
#[derive(Clone, Debug)]
pub struct RequestIdLayer {
    trusted: Arc<[ipnet::IpNet]>,
    make: MakeSequentialId,
}

impl RequestIdLayer {
    /// Ids are believed from `trusted` peers only.
    pub fn new(trusted: &[ipnet::IpNet]) -> Self {
        Self {
            trusted: trusted.into(),
            make: MakeSequentialId::default(),
        }
    }

    /// Whether the request's own id is kept.
    fn keeps<B>(&self, request: &Request<B>) -> bool {
        let from_trusted = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(peer)| {
                let ip = peer.ip().to_canonical();
                self.trusted.iter().any(|n| n.contains(&ip))
            });
        let mut values = request.headers().get_all(X_REQUEST_ID).iter();
        from_trusted
            && matches!((values.next(), values.next()), (Some(v), None) if acceptable(v.as_bytes()))
    }
}

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = SetRequestId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetRequestId {
            inner,
            rule: self.clone(),
        }
    }
}

/// [`RequestIdLayer`]'s service.
#[derive(Clone, Debug)]
pub struct SetRequestId<S> {
    inner: S,
    rule: RequestIdLayer,
}

impl<S, B> tower::Service<Request<B>> for SetRequestId<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = if self.rule.keeps(&request) {
            request.headers()[X_REQUEST_ID].clone()
        } else {
            let id = self.rule.make.next();
            request.headers_mut().insert(X_REQUEST_ID, id.clone());
            id
        };
        request.extensions_mut().insert(RequestId::new(id));
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_the_prefix_and_a_counter_in_hex() {
        let make = MakeSequentialId {
            prefix: 0x0123_4567_89ab_cdef,
            counter: Arc::new(AtomicU64::new(0xfe)),
        };
        assert_eq!(make.next(), "0123456789abcdef-00000000000000fe");
        assert_eq!(make.next(), "0123456789abcdef-00000000000000ff");
        assert!(acceptable(make.next().as_bytes()));
    }

    #[test]
    fn only_bounded_plain_ids_are_acceptable() {
        for good in [
            &b"a"[..],
            b"edge-42_a.B",
            b"0f8fad5b-d9cb-469f-a165-70867728950e",
        ] {
            assert!(acceptable(good), "{good:?}");
        }
        for bad in [
            &b""[..],
            &[b'a'; 65],
            b"a b",
            b"a\"b",
            b"a/b",
            b"caf\xc3\xa9",
            b"a\tb",
        ] {
            assert!(!acceptable(bad), "{bad:?}");
        }
    }

    fn request(peer: &str, ids: &[&'static str]) -> Request<()> {
        let mut request = Request::new(());
        for id in ids {
            request
                .headers_mut()
                .append(X_REQUEST_ID, HeaderValue::from_static(id));
        }
        let peer: SocketAddr = peer.parse().expect("peer");
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }

    #[test]
    fn an_id_is_kept_only_from_a_trusted_peer_and_only_alone() {
        let layer = RequestIdLayer::new(&["10.0.0.0/8".parse().expect("net")]);
        assert!(layer.keeps(&request("10.1.2.3:5000", &["edge-1"])));
        assert!(
            layer.keeps(&request("[::ffff:10.1.2.3]:5000", &["edge-1"])),
            "IPv4-mapped counts as IPv4"
        );
        assert!(!layer.keeps(&request("192.0.2.1:5000", &["edge-1"])));
        assert!(!layer.keeps(&request("10.1.2.3:5000", &["edge-1", "edge-2"])));
        assert!(!layer.keeps(&request("10.1.2.3:5000", &["a b"])));
        assert!(!layer.keeps(&Request::new(())), "no peer, no trust");
    }
}
