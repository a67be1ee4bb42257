//! Assembly: `App::build(settings)` opens the store, loads the storage and
//! signing keys, builds the upstream adapter, binds the listeners (port 0
//! works), loads the TLS certificate when `[tls]` is set, and joins each
//! endpoint module's routes under the middleware; `run_until` serves them
//! with the background work (cleanup, key and certificate reload) beside.
//! Nothing here knows a protocol rule.

//!
//! This folder is the edge layer (see `docs/ARCHITECTURE.md`): the
//! listeners, the middleware, the shared state and what runs beside the
//! endpoints. Nothing below it imports it.

pub mod admin;
pub mod background;
pub mod demo;
pub mod health_assets;
pub mod middleware;
pub mod open_storage;
pub mod server;
pub mod state;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::app::background::{cleanup_loop, reload_keys_loop};
use crate::app::open_storage::{StartError, fail, open_store, storage_key};
use crate::app::server::Protocols;
use crate::app::state::AppState;
use crate::domain::auth0::Auth0Verifier;
use crate::domain::config::Settings;
use crate::domain::keys::SigningKeys;
use crate::domain::legacy_source::LegacySource;
use crate::domain::legacy_validation::LegacyValidator;
use crate::domain::metrics::Metrics;
use crate::domain::storage_rotation;
use crate::domain::store::Store;
use crate::domain::upstream::redirect::RedirectIdp;
use crate::domain::upstream::{self, LegacyIdp};
use crate::protocol::gateway::Gateway;
use crate::util::crypto::StorageKey;

/// A built bridge, bound to its port, not yet serving.
pub struct App {
    listener: TcpListener,
    /// The certificate `listener` presents, when `[tls]` is set.
    tls: Option<Arc<crate::util::tls::ReloadingCert>>,
    gateway: Option<(TcpListener, Arc<Gateway>)>,
    metrics_listener: Option<TcpListener>,
    admin_listener: Option<TcpListener>,
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
        let tls = match &settings.tls {
            Some((files, _)) => Some(
                crate::util::tls::ReloadingCert::new(files.clone()).map_err(|e| fail("tls", e))?,
            ),
            None => None,
        };
        let (storage, store, keys) = open_sealed_state(&settings).await?;
        let metrics = Arc::new(Metrics::new());
        let (adapter, redirect) = match &settings.upstream {
            upstream::UpstreamConfig::Redirect(config) => {
                let idp = Arc::new(
                    RedirectIdp::new((**config).clone()).map_err(|e| fail("upstream", e))?,
                );
                (idp.clone() as Arc<dyn LegacyIdp>, Some(idp))
            }
            other => (
                upstream::build(other, settings.lt1.clone()).map_err(|e| fail("upstream", e))?,
                None,
            ),
        };
        let upstream: Arc<dyn LegacyIdp> =
            Arc::new(crate::domain::metrics::Timed::new(adapter, metrics.clone()));
        let metrics_listener = bind(settings.metrics_listen.as_deref(), "metrics").await?;
        let admin_listener = bind(
            settings.admin.as_ref().map(|a| a.listen.as_str()),
            "the admin API",
        )
        .await?;
        let auth0 = match &settings.token_exchange {
            Some(config) => Some(Arc::new(
                Auth0Verifier::new(config).map_err(|e| fail("token_exchange", e))?,
            )),
            None => None,
        };
        let legacy = settings.token_exchange.as_ref().map(|config| {
            Arc::new(LegacySource::new(
                store.clone(),
                storage.clone(),
                upstream.clone(),
                metrics.clone(),
                config.clone(),
                settings.lt1.clone(),
            ))
        });
        let gateway = match (&settings.gateway, &auth0, &legacy) {
            (Some(config), Some(verifier), Some(source)) => {
                let listener = TcpListener::bind(&config.listen).await.map_err(|e| {
                    fail(
                        &format!("cannot listen on {} for the gateway", config.listen),
                        e,
                    )
                })?;
                let gateway = Gateway::new(
                    config.clone(),
                    verifier.clone(),
                    source.clone(),
                    metrics.clone(),
                )
                .map_err(|e| fail("gateway", e))?;
                Some((listener, Arc::new(gateway)))
            }
            _ => None,
        };
        let legacy_validator = match &settings.legacy_validation {
            Some(config) => Some(Arc::new(
                LegacyValidator::new(config.clone(), settings.lt1.clone(), store.clone())
                    .map_err(|e| fail("legacy_validation", e))?,
            )),
            None => None,
        };
        let state = AppState {
            auth0,
            legacy,
            legacy_validator,
            settings: Arc::new(settings),
            keys,
            store,
            upstream,
            redirect,
            storage: Arc::new(storage),
            metrics,
        };
        let router = router(state.clone());
        Ok(Self {
            listener,
            tls,
            gateway,
            metrics_listener,
            admin_listener,
            router,
            state,
        })
    }

    /// The certificate served, when `[tls]` is set.
    pub fn tls(&self) -> Option<&Arc<crate::util::tls::ReloadingCert>> {
        self.tls.as_ref()
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

    /// Where the admin API listens, when `[admin]` is set.
    pub fn admin_addr(&self) -> Option<std::net::SocketAddr> {
        self.admin_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Where the gateway listens, when `[gateway]` is set.
    pub fn gateway_addr(&self) -> Option<std::net::SocketAddr> {
        self.gateway.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The gateway, when `[gateway]` is set.
    pub fn gateway(&self) -> Option<&Arc<Gateway>> {
        self.gateway.as_ref().map(|(_, g)| g)
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
        // A renewed certificate is picked up while serving.
        let (acceptor, cert_watcher) = match (self.tls, &self.state.settings.tls) {
            (Some(cert), Some((_, every))) => {
                let acceptor = crate::util::tls::acceptor(cert.clone(), Protocols::Http1.alpn())
                    .map_err(std::io::Error::other)?;
                self.state.metrics.ops.watch_certificate(cert.clone());
                (Some(acceptor), Some(tokio::spawn(cert.watch(*every))))
            }
            _ => (None, None),
        };
        // Expired state is cleaned up in the background meanwhile.
        let cleaner = tokio::spawn(cleanup_loop(
            self.state.store.clone(),
            self.state.settings.store.clone(),
        ));
        let reloader = tokio::spawn(reload_keys_loop(self.state.clone()));
        let exporter = self.metrics_listener.map(|listener| {
            let router = Router::new()
                .route("/metrics", get(crate::domain::metrics::metrics_get))
                .with_state(self.state.metrics.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            })
        });
        // The admin API, on its own listener (never the public one).
        let admin = self.admin_listener.map(|listener| {
            let router = crate::app::admin::router(self.state.clone())
                .into_make_service_with_connect_info::<std::net::SocketAddr>();
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "the admin listener stopped");
                }
            })
        });
        // One stop signal for both listeners.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let limits = self.state.settings.limits;
        let gateway = self.gateway.map(|(listener, gateway)| {
            let watcher = tokio::spawn(gateway.watch_revocations());
            let served = tokio::spawn(crate::app::server::serve(
                listener,
                gateway.router(),
                limits,
                Protocols::Http1And2,
                None,
                self.state.metrics.ops.connections("gateway"),
                until_stopped(),
            ));
            (watcher, served)
        });
        let provider = crate::app::server::serve(
            self.listener,
            self.router,
            limits,
            Protocols::Http1,
            acceptor,
            self.state.metrics.ops.connections("public"),
            until_stopped(),
        );
        let signal = async move {
            shutdown.await;
            let _ = stop.send(true);
        };
        let (served, ()) = tokio::join!(provider, signal);
        if let Some((watcher, gateway_served)) = gateway {
            watcher.abort();
            if let Ok(Err(e)) = gateway_served.await {
                tracing::error!(error = %e, "the gateway listener failed");
            }
        }
        cleaner.abort();
        reloader.abort();
        if let Some(watcher) = cert_watcher {
            watcher.abort();
        }
        if let Some(exporter) = exporter {
            exporter.abort();
        }
        if let Some(admin) = admin {
            admin.abort();
        }
        served
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(crate::app::server::shutdown_signal()).await
    }
}

/// The storage key, the store and the signing keys (which open under it);
/// then what a storage-key change left in the grants is reported.
async fn open_sealed_state(
    settings: &Settings,
) -> Result<(StorageKey, Arc<dyn Store>, Arc<SigningKeys>), StartError> {
    let storage = storage_key(settings)?;
    let store = open_store(settings).await?;
    let keys = Arc::new(
        SigningKeys::load_or_generate(store.as_ref(), &storage, &settings.id_token_algs())
            .await
            .map_err(|e| fail("cannot load signing keys", e))?,
    );
    report_sealed_grants(store.as_ref(), &storage).await;
    Ok((storage, store, keys))
}

/// Says at start-up what a storage-key change left in the grants (see
/// [`storage_rotation::sample_grants`]); a store that cannot list sealed
/// values says nothing.
async fn report_sealed_grants(store: &dyn Store, storage: &StorageKey) {
    const SAMPLE: i64 = 100;
    match storage_rotation::sample_grants(store, storage, SAMPLE).await {
        Ok(found) if found.unreadable > 0 => tracing::error!(
            sampled = found.read,
            unreadable = found.unreadable,
            "sealed legacy tokens of stored grants open under no configured storage key: \
             storage_key changed, or storage_key_previous was removed before \
             `idp-bridge keys rotate-storage-key` moved them (or a backup from before the \
             rotation was restored); those grants fail as login_required or invalid_grant \
             until the key that sealed them is configured again as storage_key_previous"
        ),
        Ok(found) if found.previous > 0 => tracing::info!(
            sampled = found.read,
            under_previous = found.previous,
            "stored grants are still sealed under storage_key_previous: run \
             `idp-bridge keys rotate-storage-key` before removing it"
        ),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "sealed values not sampled"),
    }
}

/// Binds a listener of its own for `what`, when configured.
async fn bind(addr: Option<&str>, what: &str) -> Result<Option<TcpListener>, StartError> {
    match addr {
        Some(addr) => TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|e| fail(&format!("cannot listen on {addr} for {what}"), e)),
        None => Ok(None),
    }
}

/// The bridge's routes, each endpoint module's own, under the middleware.
pub fn router(state: AppState) -> Router {
    let mut routes = Router::new()
        .merge(crate::protocol::provider::routes())
        .merge(crate::browser::routes(&state))
        .merge(crate::app::health_assets::routes());
    // Auth0 must reach its webhook, so it is on the public listener; it
    // exists only when configured, and authenticates every delivery.
    if state.settings.auth0_events.is_some() {
        routes = routes.route(
            crate::app::admin::events::PATH,
            axum::routing::post(crate::app::admin::events::auth0_events_post),
        );
    }
    // Auth0's custom database scripts call from Auth0's servers: public
    // listener, only when configured, each request authenticated.
    if state.settings.migration.is_some() {
        routes = routes.merge(crate::app::admin::migration::routes(&state));
    }
    crate::app::middleware::apply(routes, &state).with_state(state)
}
