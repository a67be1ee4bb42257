//! Assembly: `App::build(settings)` opens the store, loads the storage and
//! signing keys, builds the upstream adapter, binds the listeners (port 0
//! works) and joins each endpoint module's routes under the middleware;
//! `run_until` serves them with the background work beside.
//! Nothing here knows a protocol rule.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::auth0::Auth0Verifier;
use crate::background::{cleanup_loop, reload_keys_loop};
use crate::config::Settings;
use crate::keys::SigningKeys;
use crate::metrics::Metrics;
use crate::startup::{StartError, fail, open_store, storage_key};
use crate::state::AppState;
use crate::upstream::{self, LegacyIdp};

/// A built bridge, bound to its port, not yet serving.
pub struct App {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    router: Router,
    state: AppState,
}

impl App {
    /// Builds the bridge and binds `settings.listen`.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let listener = TcpListener::bind(&settings.listen)
            .await
            .map_err(|e| fail(&format!("cannot listen on {}", settings.listen), e))?;
        Self::build_with_listener(settings, listener).await
    }

    /// Builds the bridge on an already bound listener (tests bind port 0
    /// first to know the issuer URL).
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> Result<Self, StartError> {
        let storage = storage_key(&settings)?;
        let store = open_store(&settings).await?;
        let keys = Arc::new(
            SigningKeys::load_or_generate(store.as_ref(), &storage, &settings.id_token_algs())
                .await
                .map_err(|e| fail("cannot load signing keys", e))?,
        );
        let metrics = Arc::new(Metrics::new());
        let upstream: Arc<dyn LegacyIdp> = Arc::new(crate::metrics::Timed::new(
            upstream::build(&settings.upstream, settings.lt1.clone())
                .map_err(|e| fail("upstream", e))?,
            metrics.clone(),
        ));
        let metrics_listener = match &settings.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|e| fail(&format!("cannot listen on {addr} for metrics"), e))?,
            ),
            None => None,
        };
        let auth0 = match &settings.token_exchange {
            Some(config) => Some(Arc::new(
                Auth0Verifier::new(config).map_err(|e| fail("token_exchange", e))?,
            )),
            None => None,
        };
        let state = AppState {
            auth0,
            settings: Arc::new(settings),
            keys,
            store,
            upstream,
            storage,
            metrics,
        };
        let router = router(state.clone());
        Ok(Self {
            listener,
            metrics_listener,
            router,
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Where `/metrics` is served, when `[metrics] listen` is set.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// The router (for `oneshot` tests).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // Expired state is cleaned up in the background meanwhile.
        let cleaner = tokio::spawn(cleanup_loop(
            self.state.store.clone(),
            self.state.settings.store.clone(),
        ));
        let reloader = tokio::spawn(reload_keys_loop(self.state.clone()));
        let exporter = self.metrics_listener.map(|listener| {
            let router = Router::new()
                .route("/metrics", get(crate::metrics::metrics_get))
                .with_state(self.state.metrics.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            })
        });
        let served = crate::server::serve(
            self.listener,
            self.router,
            self.state.settings.limits,
            shutdown,
        )
        .await;
        cleaner.abort();
        reloader.abort();
        if let Some(exporter) = exporter {
            exporter.abort();
        }
        served
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(crate::server::shutdown_signal()).await
    }
}

/// The bridge's routes, each endpoint module's own, under the middleware.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(crate::provider::routes())
        .merge(crate::login::routes(&state))
        .merge(crate::ops::routes());
    crate::middleware::apply(routes, &state).with_state(state)
}
