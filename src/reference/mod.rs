//! The reference legacy stack: a legacy IdP simulator and a legacy API that
//! accepts only valid LT1 tokens. They exist for `idp-bridge demo` and the
//! tests, and stand in for the real legacy systems a company already runs;
//! no production path of the bridge uses them.

pub mod command;
pub mod legacy_api;
pub mod legacy_idp;
pub mod legacy_oidc;
pub mod users;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running in this process, stopped when dropped or by [`Self::stop`].
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Serves `router` on `listener` until stopped.
    pub fn start(listener: TcpListener, router: Router) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "reference server failed");
            }
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Binds `addr` (port 0 for any) and serves `router`.
    pub async fn bind(addr: &str, router: Router) -> std::io::Result<Self> {
        Self::start(TcpListener::bind(addr).await?, router)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes requests in flight, and waits.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Waits until the server ends (for the CLI).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
