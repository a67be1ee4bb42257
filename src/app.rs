//! Startup: `App::build(settings)` opens the store, loads the storage and
//! signing keys, builds the upstream adapter, binds the listener (port 0
//! works), and serves the router with graceful shutdown.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::Settings;
use crate::crypto::StorageKey;
use crate::keys::Keys;
use crate::metrics::Metrics;
use crate::provider::{authorize, discovery, logout, revocation, sign_in, token, userinfo};
use crate::secret::Key32;
use crate::store::sqlite::SqliteStore;
use crate::store::{SessionBackend, Store};
use crate::upstream::{self, LegacyIdp};

/// Shared, cheaply cloned state; handlers take the parts they need.
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// Signing keys.
    pub keys: Arc<Keys>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The legacy IdP adapter.
    pub upstream: Arc<dyn LegacyIdp>,
    /// Seals secrets at rest.
    pub storage: StorageKey,
    /// Counters and latencies for `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A problem with a named cause.
    #[error("{0}")]
    Message(String),
}

fn fail(context: &str, e: impl std::fmt::Display) -> StartError {
    StartError::Message(format!("{context}: {e}"))
}

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
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|e| fail(&format!("cannot create {}", settings.data_dir.display()), e))?;
        let storage = storage_key(&settings)?;
        let store = open_store(&settings).await?;
        let keys = Arc::new(
            Keys::load_or_generate(store.as_ref(), &storage, &settings.id_token_algs())
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
        let state = AppState {
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
        let served = serve(
            self.listener,
            self.router,
            self.state.settings.header_read_timeout,
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
        self.run_until(shutdown_signal()).await
    }
}

/// The accept loop: hyper's HTTP/1.1 (as axum::serve, no HTTP/2: the
/// bridge sits behind a TLS proxy or is reached directly by browsers and
/// Auth0 over HTTP/1.1) with a header read timeout
/// (axum::serve sets no timer, so a client could hold a connection open by
/// sending its headers a byte at a time), a bounded read buffer, the peer
/// address for login throttling, and a graceful shutdown that lets requests
/// in flight finish (for at most 30 s).
async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;

    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // Requests beyond this much head are answered 431 by hyper.
        .max_buf_size(64 * 1024);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
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
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request.map(axum::body::Body::new)
            },
        );
        let connection = builder.serve_connection(
            TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
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

/// Re-reads the signing keys every `[keys] reload_interval_seconds`, so a
/// rotation made through any instance is served by all of them.
async fn reload_keys_loop(state: AppState) {
    let every = std::time::Duration::from_secs(state.settings.keys.reload_interval_seconds.max(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = state
            .keys
            .reload(state.store.as_ref(), &state.storage)
            .await
        {
            tracing::warn!(error = %e, "cannot reload signing keys; keeping the current ones");
        }
    }
}

/// Removes expired codes, grants, refresh tokens and sessions, in bounded
/// batches so requests never wait long for the writer.
async fn cleanup_loop(store: Arc<dyn Store>, settings: crate::config::StoreSettings) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(
        settings.cleanup_interval_seconds.max(1),
    ));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        cleanup_now(store.as_ref(), settings.cleanup_batch).await;
    }
}

/// One cleanup pass: batches until a batch comes back short (at most 100).
pub async fn cleanup_now(store: &dyn Store, batch: i64) -> crate::store::Cleaned {
    let mut total = crate::store::Cleaned::default();
    for _ in 0..100 {
        match store.cleanup(crate::upstream::now_unix(), batch).await {
            Ok(c) => {
                total.grants += c.grants;
                total.refresh_tokens += c.refresh_tokens;
                total.sessions += c.sessions;
                let full = i64::try_from(c.grants.max(c.refresh_tokens).max(c.sessions))
                    .unwrap_or(i64::MAX)
                    >= batch;
                if !full {
                    break;
                }
                tokio::task::yield_now().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cleanup failed; will retry");
                break;
            }
        }
    }
    if total != crate::store::Cleaned::default() {
        tracing::info!(
            grants = total.grants,
            refresh_tokens = total.refresh_tokens,
            sessions = total.sessions,
            "expired state removed"
        );
    }
    total
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

/// SQLite in the data directory, or PostgreSQL when `[store] url` says so.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    let url = match &settings.store.url {
        Some(source) => Some(source.resolve().map_err(|e| fail("store.url", e))?),
        None => None,
    };
    match url {
        Some(url)
            if url.secret().starts_with("postgres://")
                || url.secret().starts_with("postgresql://") =>
        {
            let store = crate::store::postgres::PgStore::open(
                url.secret(),
                settings.store.schema.as_deref(),
                settings.store.max_connections,
            )
            .await
            .map_err(|e| fail("cannot open the PostgreSQL store", e))?;
            Ok(Arc::new(store))
        }
        Some(_) => Err(StartError::Message(
            "store.url: only postgres:// URLs are supported (leave it out for SQLite)".into(),
        )),
        None => {
            let path = settings.data_dir.join("bridge.db");
            let store = SqliteStore::open(&path, settings.store.sqlite_full_sync)
                .await
                .map_err(|e| fail("cannot open the store", e))?;
            Ok(Arc::new(store))
        }
    }
}

/// The storage key: configured, or generated once in the data directory.
pub fn storage_key(settings: &Settings) -> Result<StorageKey, StartError> {
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|e| fail(&format!("cannot create {}", settings.data_dir.display()), e))?;
    let key = match &settings.storage_key {
        Some(k) => k.clone(),
        None => load_or_create_storage_key(&settings.data_dir.join("storage.key"))?,
    };
    Ok(StorageKey::new(&key))
}

fn load_or_create_storage_key(path: &Path) -> Result<Key32, StartError> {
    if path.exists() {
        let text = crate::config::read_secret_file(path).map_err(|e| fail("storage key", e))?;
        return Key32::parse(&text)
            .map_err(|e| fail(&format!("storage key {}", path.display()), e));
    }
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| fail(&format!("cannot create {}", path.display()), e))?;
    std::io::Write::write_all(&mut file, format!("{}\n", hex::encode(raw)).as_bytes())
        .map_err(|e| fail("storage key", e))?;
    file.sync_all().map_err(|e| fail("storage key", e))?;
    tracing::warn!(path = %path.display(), "generated a storage key; back it up: without it sealed tokens and keys cannot be read");
    Ok(Key32::new(raw))
}

/// The bridge's routes and middleware.
pub fn router(state: AppState) -> Router {
    let settings = &state.settings;
    let sessions = SessionManagerLayer::new(SessionBackend(state.store.clone()))
        .with_name("idp_bridge_session")
        .with_secure(settings.secure_cookie)
        .with_http_only(true)
        // Lax: the return from Auth0 and the top-level navigation into
        // /authorize must carry the cookie.
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(CookieDuration::seconds(
            settings.session_idle_seconds,
        )));
    let pages = Router::new()
        .route(
            "/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/login", post(sign_in::login_post))
        .route("/logout", get(logout::logout_get).post(logout::logout_post))
        .layer(sessions);
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::discovery_get))
        .route("/jwks", get(discovery::jwks_get))
        .route("/token", post(token::token_post))
        .route("/revoke", post(revocation::revoke_post))
        .route("/introspect", post(revocation::introspect_post))
        .route("/userinfo", get(userinfo::userinfo_get).post(userinfo::userinfo_post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/static/style.css", get(style_css))
        .route("/branding.css", get(branding_css))
        .merge(pages)
        // After routing, so requests are counted under their route template.
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track_http,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(limit_request_head))
        // A handler may set a stricter policy of its own (form_post does).
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        // Each request gets an id (kept from `x-request-id` if a proxy set
        // one), recorded in its span and sent back; the span names the path
        // only, never the query (it carries state, nonce, login hints).
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<axum::body::Body>| {
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Largest request body any endpoint reads (forms and token requests are
/// a few KiB at most).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest request target: an authorization request with a long `state`,
/// a `claims` request and a PKCE challenge stays far below it.
pub const MAX_URI_BYTES: usize = 16 * 1024;
/// Largest total of header names and values (the session and CSRF cookies
/// are well under 1 KiB; proxies commonly allow 8 to 32 KiB).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Refuses oversized request targets (414) and headers (431) before any
/// handler or session lookup runs.
async fn limit_request_head(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return (StatusCode::URI_TOO_LONG, "request target too long").into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large",
        )
            .into_response();
    }
    next.run(request).await
}

/// The stylesheet is compiled in, so the binary runs from anywhere.
async fn style_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/style.css"),
    )
}

/// The configured accent colour as a stylesheet: the CSP allows no inline
/// styles, and the colour is validated as `#rrggbb` at start.
async fn branding_css(State(settings): State<Arc<Settings>>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        format!(
            ":root {{ --accent: {}; }}\n",
            settings.branding.accent_color
        ),
    )
}

async fn readyz(State(store): State<Arc<dyn Store>>) -> impl IntoResponse {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
    }
}
