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

/// A legacy API as the pool knows it, worked out once per route (not per
/// request): the key of its idle connections, where to connect, and the
/// `Host` it is sent.
#[derive(Debug)]
pub struct Origin {
    /// `scheme://authority`.
    key: String,
    /// `scheme://authority/`, to connect to.
    base: Uri,
    /// The authority, as the `Host` header.
    host: HeaderValue,
}

impl Origin {
    /// The origin of `backend` (a route's `upstream` URL).
    pub fn new(backend: &url::Url) -> Result<Self, String> {
        let host = backend.host_str().unwrap_or("");
        let authority = match backend.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let base = Uri::builder()
            .scheme(backend.scheme())
            .authority(authority.as_str())
            .path_and_query("/")
            .build()
            .map_err(|e| format!("{backend}: {e}"))?;
        Ok(Self {
            key: format!("{}://{authority}", backend.scheme()),
            base,
            host: HeaderValue::from_str(&authority).map_err(|e| format!("{backend}: {e}"))?,
        })
    }

    /// `scheme://authority`.
    pub fn key(&self) -> &str {
        &self.key
    }
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

    /// Sends `request` (origin-form target) to `origin` on an idle
    /// connection or a new one, with the API's `Host`; the response's body
    /// drives the connection as it is read, and fails after `idle` without
    /// a byte.
    pub async fn send(
        self: &Arc<Self>,
        origin: &Arc<Origin>,
        mut request: Request<Body>,
        idle: Duration,
    ) -> Result<Response<Body>, ForwardError> {
        request
            .headers_mut()
            .insert(header::HOST, origin.host.clone());
        let mut pooled = match self.checkout(&origin.key).await {
            Some(p) => p,
            None => self.connect(&origin.base).await?,
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
            origin: origin.clone(),
            idle,
            timer: None,
            armed: false,
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

    /// A new connection to `base`'s API.
    async fn connect(&self, base: &Uri) -> Result<Pooled, ForwardError> {
        use tower::ServiceExt as _;
        let target = base.clone();
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
    fn release(&self, key: &str, mut pooled: Pooled) {
        // One clock read for the whole list (a read per idle connection
        // showed in the profile).
        let now = Instant::now();
        pooled.idle_since = now;
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if !idle.contains_key(key) {
            idle.insert(key.to_owned(), Vec::new());
        }
        let Some(list) = idle.get_mut(key) else {
            return;
        };
        list.retain(|p| now.saturating_duration_since(p.idle_since) <= IDLE_FOR);
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

/// A response body that drives its connection while it is read, gives the
/// connection back when it ends (a body dropped half-read closes it), and
/// fails after `idle` without a frame. Its timer is armed only while the
/// body waits on the API: a frame that is already there (most small
/// answers) costs no timer.
struct Driven {
    body: Incoming,
    pooled: Option<Pooled>,
    backends: Arc<Backends>,
    origin: Arc<Origin>,
    idle: Duration,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the timer runs for the current wait.
    armed: bool,
}

/// A response body that stayed silent for the idle limit.
#[derive(Debug)]
struct IdleTimeout(Duration);

impl std::fmt::Display for IdleTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no byte of the response body for {} ms",
            self.0.as_millis()
        )
    }
}

impl std::error::Error for IdleTimeout {}

impl Drop for Driven {
    fn drop(&mut self) {
        // A body that was empty from the start may never be polled.
        if http_body::Body::is_end_stream(&self.body) {
            if let Some(pooled) = self.pooled.take() {
                self.backends.release(&self.origin.key, pooled);
            }
        }
    }
}

impl http_body::Body for Driven {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

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
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            self.armed = false;
            if frame.is_none() {
                if let Some(pooled) = self.pooled.take() {
                    self.backends.release(&self.origin.key, pooled);
                }
            }
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let this = &mut *self;
        let deadline = || tokio::time::Instant::now() + this.idle;
        let timer = match &mut this.timer {
            Some(timer) if this.armed => timer,
            Some(timer) => {
                timer.as_mut().reset(deadline());
                timer
            }
            None => this
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline()))),
        };
        this.armed = true;
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(IdleTimeout(this.idle)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.body)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::Body::size_hint(&self.body)
    }
}
