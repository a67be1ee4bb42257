//! Keep-alive connections to legacy APIs, driven by the request that uses
//! them. `hyper-util`'s pooled client runs each connection on a task of its
//! own and hands requests and responses over channels: two task wake-ups
//! per request, often across threads, which a profile of the gateway showed
//! as a large share of its CPU (context switches, futex wake-ups). Here the
//! request's own task polls the connection while it waits for the response
//! and, through [`Driven`], while the response body streams; a finished
//! exchange puts the connection back (HTTP/1.1, at most
//! `pool_max_idle_per_host` idle per API, none older than 90 s). An upgraded
//! connection (101) is handed to a task of its own.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use http::{HeaderValue, Request, Response, Uri, header};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::client::legacy::connect::HttpConnector;

/// The connection future (with upgrades), boxed: hyper does not name its type.
type Connection = dyn Future<Output = hyper::Result<()>> + Send;

/// How long an idle connection is kept.
const IDLE_FOR: Duration = Duration::from_secs(90);

/// One connection: its request handle and the connection future.
struct Pooled {
    sender: http1::SendRequest<Body>,
    connection: Pin<Box<Connection>>,
    idle_since: Instant,
}

/// The idle connections by `scheme://authority`, and how to make more.
pub struct Backends {
    connector: hyper_rustls::HttpsConnector<HttpConnector>,
    connect_timeout: Duration,
    max_idle: usize,
    idle: Mutex<HashMap<String, Vec<Pooled>>>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backends").finish_non_exhaustive()
    }
}

impl Backends {
    /// Connections made with `connector` (plain or TLS), within
    /// `connect_timeout`, at most `max_idle` kept per API.
    pub fn new(
        connector: hyper_rustls::HttpsConnector<HttpConnector>,
        connect_timeout: Duration,
        max_idle: usize,
    ) -> Self {
        Self {
            connector,
            connect_timeout,
            max_idle,
            idle: Mutex::new(HashMap::new()),
        }
    }

    /// Sends `request` (absolute URI) on an idle connection to its API or a
    /// new one; the response's body drives the connection as it is read.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<Body>,
    ) -> Result<Response<Body>, ForwardError> {
        let uri = request.uri().clone();
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map_or("", |a| a.as_str())
        );
        // HTTP/1.1 to an origin: origin-form target, and the API's Host.
        if let Some(authority) = uri.authority() {
            if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                request.headers_mut().insert(header::HOST, host);
            }
        }
        *request.uri_mut() = uri
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()));
        let mut pooled = match self.checkout(&key).await {
            Some(p) => p,
            None => self.connect(&uri).await?,
        };
        let mut answer = Box::pin(pooled.sender.send_request(request));
        let mut ended = false;
        let answered = std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = answer.as_mut().poll(cx) {
                return Poll::Ready(r.map_err(|e| e.to_string()));
            }
            if !ended && pooled.connection.as_mut().poll(cx).is_ready() {
                ended = true;
                if let Poll::Ready(r) = answer.as_mut().poll(cx) {
                    return Poll::Ready(r.map_err(|e| e.to_string()));
                }
                return Poll::Ready(Err("the connection closed before the response".into()));
            }
            Poll::Pending
        })
        .await;
        let response = answered.map_err(ForwardError::Broken)?;
        if response.status() == http::StatusCode::SWITCHING_PROTOCOLS {
            // The upgrade completes when the connection future hands over
            // its socket: on its own task, for as long as the tunnel lives.
            if !ended {
                let connection = pooled.connection;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            return Ok(response.map(Body::new));
        }
        let (parts, body) = response.into_parts();
        let driven = Driven {
            body,
            pooled: (!ended).then_some(pooled),
            backends: self.clone(),
            key,
        };
        Ok(Response::from_parts(parts, Body::new(driven)))
    }

    /// An idle connection to `key` that is still open and ready.
    async fn checkout(&self, key: &str) -> Option<Pooled> {
        loop {
            let mut candidate = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                idle.get_mut(key)?.pop()?
            };
            if candidate.idle_since.elapsed() > IDLE_FOR {
                continue;
            }
            let ready = std::future::poll_fn(|cx| {
                if candidate.connection.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
                Poll::Ready(matches!(
                    candidate.sender.poll_ready(cx),
                    Poll::Ready(Ok(()))
                ))
            })
            .await;
            if ready {
                return Some(candidate);
            }
        }
    }

    /// A new connection to `uri`'s API.
    async fn connect(&self, uri: &Uri) -> Result<Pooled, ForwardError> {
        use tower::ServiceExt as _;
        let target = Uri::builder()
            .scheme(uri.scheme_str().unwrap_or("http"))
            .authority(uri.authority().map_or("", |a| a.as_str()))
            .path_and_query("/")
            .build()
            .map_err(|e| ForwardError::Connect(e.to_string()))?;
        let started = Instant::now();
        let io = match tokio::time::timeout(
            self.connect_timeout,
            self.connector.clone().oneshot(target),
        )
        .await
        {
            Err(_) => {
                return Err(ForwardError::Timeout(format!(
                    "connect: no connection within {} ms",
                    self.connect_timeout.as_millis()
                )));
            }
            Ok(Err(e)) => return Err(classify_connect(e.as_ref(), started)),
            Ok(Ok(io)) => io,
        };
        let (sender, connection) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| ForwardError::Connect(format!("handshake: {e}")))?;
        Ok(Pooled {
            sender,
            connection: Box::pin(connection.with_upgrades()),
            idle_since: Instant::now(),
        })
    }

    /// Puts a connection whose exchange finished back, if there is room.
    fn release(&self, key: String, mut pooled: Pooled) {
        pooled.idle_since = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(key).or_default();
        list.retain(|p| p.idle_since.elapsed() <= IDLE_FOR);
        if list.len() < self.max_idle {
            list.push(pooled);
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
    /// The legacy API broke the exchange: 502.
    Broken(String),
    /// A `101` that is not the WebSocket handshake asked for: 502, and the
    /// client's connection closed.
    NoTunnel(String),
    /// The client's body failed (malformed, too slow): its fault, 400 or 408.
    Client(super::body::ClientFault),
}

/// The outcome label of a failed forward, for metrics.
impl ForwardError {
    /// A fixed label.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect",
            Self::Timeout(_) => "timeout",
            Self::Broken(_) | Self::NoTunnel(_) => "error",
            Self::Client(_) => "client",
        }
    }
}

/// A connect failure's class: a timeout (504) or anything else (502).
fn classify_connect(
    e: &(dyn std::error::Error + Send + Sync + 'static),
    started: Instant,
) -> ForwardError {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let (mut timed_out, mut detail) = (false, e.to_string());
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
        }
        detail = s.to_string();
        source = s.source();
    }
    let detail = format!("{detail} (after {} ms)", started.elapsed().as_millis());
    if timed_out {
        ForwardError::Timeout(format!("connect: {detail}"))
    } else {
        ForwardError::Connect(detail)
    }
}

/// A response body that drives its connection while it is read, and gives
/// the connection back when it ends (a body dropped half-read closes it).
struct Driven {
    body: Incoming,
    pooled: Option<Pooled>,
    backends: Arc<Backends>,
    key: String,
}

impl Drop for Driven {
    fn drop(&mut self) {
        // A body that was empty from the start may never be polled.
        if http_body::Body::is_end_stream(&self.body) {
            if let Some(pooled) = self.pooled.take() {
                self.backends.release(std::mem::take(&mut self.key), pooled);
            }
        }
    }
}

impl http_body::Body for Driven {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        if let Some(pooled) = &mut self.pooled {
            if pooled.connection.as_mut().poll(cx).is_ready() {
                // Closed (the API said `Connection: close`, or it failed):
                // the body has what was read, or its error.
                self.pooled = None;
            }
        }
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) {
            if let Some(pooled) = self.pooled.take() {
                let key = std::mem::take(&mut self.key);
                self.backends.release(key, pooled);
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.body)
    }
}
