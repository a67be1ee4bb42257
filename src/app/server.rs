//! The accept loop and its limits: hyper's HTTP/1.1 — and HTTP/2 (prior
//! knowledge, h2c) for the gateway, whose API clients may speak it; the
//! provider sits behind a TLS proxy or is reached directly by browsers and
//! Auth0 over HTTP/1.1 — with upgrades (the gateway passes WebSockets
//! through), a header read timeout
//! (`axum::serve` sets no timer, so a client could hold a connection open by
//! sending its headers a byte at a time), a bounded read buffer, the peer
//! address for login throttling, caps on open connections (in total and
//! per address, so stalled clients cannot exhaust file descriptors or
//! memory), and a graceful shutdown that lets requests in flight finish (for
//! at most 30 s). With `[tls]` the same loop runs each connection's TLS
//! handshake first (within the header timeout), with the certificate
//! `crate::util::tls` keeps current. The body's own deadline is a middleware
//! (`crate::app::middleware`), since hyper has none.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use prometheus_client::metrics::gauge::Gauge;
use tokio::net::TcpListener;

use crate::domain::config::ConnectionLimits;
use crate::util::connection_slot::ConnectionSlot;

/// Open connections, in total and by peer address.
#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
    /// When a refusal was last logged (unix seconds), so a flood is one line.
    last_logged: i64,
}

/// One admitted connection; dropping it frees its place.
struct Admitted {
    /// The listener's `idp_bridge_open_connections` gauge.
    gauge: Gauge,
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.gauge.dec();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.ip);
            }
        }
    }
}

/// Admits a connection from `ip` if both caps allow it.
fn admit(
    open: &Arc<Mutex<Open>>,
    ip: IpAddr,
    limits: &ConnectionLimits,
    gauge: &Gauge,
) -> Option<Admitted> {
    let mut state = open.lock().unwrap_or_else(PoisonError::into_inner);
    let from_ip = state.by_address.get(&ip).copied().unwrap_or(0);
    if state.total >= limits.max_connections || from_ip >= limits.max_per_address {
        let now = crate::util::clock::now_unix();
        if now > state.last_logged {
            state.last_logged = now;
            tracing::warn!(
                open = state.total,
                from_address = from_ip,
                address = %ip,
                "connection refused: too many open connections"
            );
        }
        return None;
    }
    state.total += 1;
    *state.by_address.entry(ip).or_insert(0) += 1;
    gauge.inc();
    Some(Admitted {
        gauge: gauge.clone(),
        open: open.clone(),
        ip,
    })
}

/// What a refused connection is told before it is closed.
const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 30\r\nretry-after: 1\r\n\r\ntoo many connections; retry.\r\n";

/// Which HTTP versions a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocols {
    /// HTTP/1.1 only (the provider).
    Http1,
    /// HTTP/1.1 and HTTP/2 with prior knowledge (the gateway).
    Http1And2,
}

impl Protocols {
    /// The ALPN names offered over TLS, most preferred first.
    pub fn alpn(self) -> &'static [&'static [u8]] {
        match self {
            Self::Http1 => &[b"http/1.1"],
            Self::Http1And2 => &[b"h2", b"http/1.1"],
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; over TLS when
/// `tls` is given. `open_gauge` counts the connections open now.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    protocols: Protocols,
    tls: Option<tokio_rustls::TlsAcceptor>,
    open_gauge: Gauge,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if protocols == Protocols::Http1 {
        builder = builder.http1_only();
    }
    builder
        .http1()
        .timer(TokioTimer::new())
        // Also the idle limit between requests on a kept-alive connection.
        .header_read_timeout(limits.header_read_timeout)
        // Requests beyond this much head are answered 431 by hyper.
        .max_buf_size(64 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        // A peer that stops answering pings is dropped.
        .keep_alive_interval(std::time::Duration::from_secs(30))
        .max_header_list_size(64 * 1024);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let open = Arc::new(Mutex::new(Open::default()));
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = admit(&open, peer.ip(), &limits, &open_gauge) else {
            // A fresh socket's send buffer takes these few bytes at once,
            // so one non-blocking write says why; never wait on a client
            // that is being refused.
            if let Ok(mut socket) = stream.into_std() {
                let _ = std::io::Write::write(&mut socket, TOO_MANY);
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let admitted = Arc::new(admitted);
        let slot = ConnectionSlot::new(admitted.clone());
        let service = router.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request.extensions_mut().insert(slot.clone());
                request.map(axum::body::Body::new)
            },
        );
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let first_byte = limits.header_read_timeout;
        let tls = tls.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            let Some(io) = open_stream(stream, peer, tls, first_byte).await else {
                return;
            };
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(io),
                hyper_util::service::TowerToHyperService::new(service),
            );
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(std::time::Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 30 s; stopping anyway");
    }
    Ok(())
}

/// A connection's byte stream: plain TCP, or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// Waits for the connection's first byte — hyper's header timer starts only
/// once the protocol is known, so a client that connects and sends nothing
/// is dropped here — then, on a TLS listener, runs the handshake within the
/// same deadline (a client that starts one and stalls holds its place no
/// longer than that). `None`: nothing to serve.
async fn open_stream(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    deadline: std::time::Duration,
) -> Option<Box<dyn Io>> {
    let mut byte = [0u8; 1];
    if !matches!(
        tokio::time::timeout(deadline, stream.peek(&mut byte)).await,
        Ok(Ok(1..))
    ) {
        return None;
    }
    let Some(tls) = tls else {
        return Some(Box::new(stream));
    };
    if !crate::util::tls::starts_tls(byte[0]) {
        // Plain HTTP on the https port: say so in HTTP, which the client
        // can show, rather than fail a handshake it never began.
        let mut stream = stream;
        let _ = tokio::time::timeout(
            deadline,
            tokio::io::AsyncWriteExt::write_all(
                &mut stream,
                crate::util::tls::PLAIN_HTTP_ON_TLS_PORT,
            ),
        )
        .await;
        return None;
    }
    match tokio::time::timeout(deadline, tls.accept(stream)).await {
        Ok(Ok(stream)) => Some(Box::new(stream)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %peer, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
