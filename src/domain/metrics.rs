//! Prometheus metrics, served on their own listener (`[metrics] listen`,
//! off by default) so they are never reachable where browsers and Auth0
//! are: requests by route and status class with their latency, calls to the
//! legacy IdP by operation and outcome with their latency, and a counter per
//! audit event (logins by outcome, tokens issued and refreshed, code
//! replays, refresh token reuse, revocations, logouts).
//!
//! Labels come from fixed sets (route templates, event names, failure
//! classes), never from input, so the series stay bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::domain::upstream::{LegacyGrant, LegacyIdp, Profile, RenewedGrant, UpstreamError};
use crate::util::secret::{LegacyAccessToken, LegacyRefreshToken, Password};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayLabels {
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayUpstreamLabels {
    route: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    path: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabels {
    origin: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: &'static str,
    reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The bridge's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: HistogramFamily<HttpLabels>,
    upstream: HistogramFamily<UpstreamLabels>,
    events: Family<EventLabels, Counter>,
    gateway: HistogramFamily<GatewayLabels>,
    gateway_upstream: HistogramFamily<GatewayUpstreamLabels>,
    gateway_cache: Family<CacheLabels, Counter>,
    journey: Journey,
    /// Process, build, connections, store errors, certificate, refusals.
    pub ops: crate::domain::ops_metrics::OpsMetrics,
}

/// Where a company is on its way from the legacy IdP to Auth0
/// (docs/migration.md): sign-ins that still reach the legacy IdP by path,
/// users migrated, and legacy tokens handed out by origin.
#[derive(Debug, Default)]
struct Journey {
    legacy_sign_ins: Family<SignInLabels, Counter>,
    users_migrated: Counter,
    legacy_tokens: Family<OriginLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("idp_bridge");
        let http = HistogramFamily::<HttpLabels>::new_with_constructor(latency_histogram);
        let upstream = HistogramFamily::<UpstreamLabels>::new_with_constructor(latency_histogram);
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "http_request_duration_seconds",
            "HTTP requests by route template and status class",
            http.clone(),
        );
        registry.register(
            "upstream_request_duration_seconds",
            "Calls to the legacy IdP by operation and outcome",
            upstream.clone(),
        );
        registry.register(
            "events",
            "Audit events by name and reason class",
            events.clone(),
        );
        let gateway = HistogramFamily::<GatewayLabels>::new_with_constructor(latency_histogram);
        let gateway_upstream =
            HistogramFamily::<GatewayUpstreamLabels>::new_with_constructor(latency_histogram);
        let gateway_cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "gateway_request_duration_seconds",
            "Gateway requests by route prefix and status class",
            gateway.clone(),
        );
        registry.register(
            "gateway_upstream_duration_seconds",
            "Gateway calls to legacy APIs (to response headers) by route prefix and outcome",
            gateway_upstream.clone(),
        );
        registry.register(
            "gateway_cache",
            "Gateway token cache: hits, misses, and lookups of a legacy token (one per miss, however many requests wait on it)",
            gateway_cache.clone(),
        );
        let journey = Journey::default();
        registry.register(
            "legacy_sign_ins",
            "Sign-ins that reached the legacy IdP, by path (login_page, migration_script, renewal) and outcome",
            journey.legacy_sign_ins.clone(),
        );
        registry.register(
            "users_migrated",
            "Migration logins answered with a profile (Auth0 imports the user)",
            journey.users_migrated.clone(),
        );
        registry.register(
            "legacy_tokens",
            "Legacy tokens handed to token exchange and the gateway, by origin (grant and renewed: passed through; minted)",
            journey.legacy_tokens.clone(),
        );
        let ops = crate::domain::ops_metrics::OpsMetrics::register(&mut registry);
        Self {
            registry,
            http,
            upstream,
            events,
            gateway,
            gateway_upstream,
            gateway_cache,
            journey,
            ops,
        }
    }

    /// Counts an audit event (`reason` is "" when the event has none).
    pub fn event(&self, event: &'static str, reason: &'static str) {
        self.events
            .get_or_create(&EventLabels { event, reason })
            .inc();
    }

    /// Counts a sign-in that reached the legacy IdP: `path` is
    /// `login_page`, `migration_script` or `renewal`; `outcome` is `ok` or
    /// the failure's class.
    pub fn legacy_sign_in(&self, path: &'static str, outcome: &'static str) {
        self.journey
            .legacy_sign_ins
            .get_or_create(&SignInLabels { path, outcome })
            .inc();
    }

    /// Counts a user answered to Auth0's migration script.
    pub fn user_migrated(&self) {
        self.journey.users_migrated.inc();
    }

    /// Counts a legacy token handed out by `origin` (`grant`, `renewed`,
    /// `minted`).
    pub fn legacy_token(&self, origin: &'static str) {
        self.journey
            .legacy_tokens
            .get_or_create(&OriginLabels { origin })
            .inc();
    }

    /// The handles one gateway route records into, made once (a label
    /// lookup per request would cost an allocation and a lock).
    pub fn gateway_route(&self, route: &str) -> GatewayRouteMetrics {
        let request = |status| {
            self.gateway
                .get_or_create(&GatewayLabels {
                    route: route.to_owned(),
                    status,
                })
                .clone()
        };
        let upstream = |outcome| {
            self.gateway_upstream
                .get_or_create(&GatewayUpstreamLabels {
                    route: route.to_owned(),
                    outcome,
                })
                .clone()
        };
        GatewayRouteMetrics {
            requests: STATUS_CLASSES.map(request),
            upstream: UPSTREAM_OUTCOMES.map(upstream),
        }
    }

    /// The gateway cache's counters (hits, misses, lookups).
    pub fn gateway_cache(&self) -> GatewayCacheMetrics {
        let counter = |outcome| {
            self.gateway_cache
                .get_or_create(&CacheLabels { outcome })
                .clone()
        };
        GatewayCacheMetrics {
            hit: counter("hit"),
            miss: counter("miss"),
            lookup: counter("lookup"),
        }
    }

    fn upstream(&self, operation: &'static str, outcome: &'static str, took: Duration) {
        self.upstream
            .get_or_create(&UpstreamLabels { operation, outcome })
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        let encoded = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, self.ops.process_registry()))
            .and_then(|()| encode_eof(&mut out));
        if let Err(e) = encoded {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// Middleware: times each request under its route template.
pub async fn track_http(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = status_class(response.status().as_u16());
    metrics
        .http
        .get_or_create(&HttpLabels { route, status })
        .observe(started.elapsed().as_secs_f64());
    response
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const UPSTREAM_OUTCOMES: [&str; 8] = [
    "1xx", "2xx", "3xx", "4xx", "5xx", "connect", "timeout", "error",
];

/// One gateway route's histograms.
#[derive(Debug, Clone)]
pub struct GatewayRouteMetrics {
    requests: [Histogram; 5],
    upstream: [Histogram; 8],
}

impl GatewayRouteMetrics {
    /// Times a request under its status class.
    pub fn request(&self, status: u16, took: Duration) {
        let class = status_class(status);
        if let Some(i) = STATUS_CLASSES.iter().position(|c| *c == class) {
            self.requests[i].observe(took.as_secs_f64());
        }
    }

    /// Times a call to the legacy API (`outcome`: a status class,
    /// `connect`, `timeout`, `error`).
    pub fn backend(&self, outcome: &str, took: Duration) {
        if let Some(i) = UPSTREAM_OUTCOMES.iter().position(|c| *c == outcome) {
            self.upstream[i].observe(took.as_secs_f64());
        }
    }
}

/// The gateway cache's counters.
#[derive(Debug, Clone)]
pub struct GatewayCacheMetrics {
    /// Served from the cache.
    pub hit: Counter,
    /// Not in the cache.
    pub miss: Counter,
    /// Lookups of a legacy token (one per miss, however many wait on it).
    pub lookup: Counter,
}

/// A status code's class, as a label.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// `GET /metrics` on the metrics listener.
pub async fn metrics_get(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// A legacy IdP adapter whose calls are timed by operation and outcome.
pub struct Timed {
    inner: Arc<dyn LegacyIdp>,
    metrics: Arc<Metrics>,
}

impl Timed {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn LegacyIdp>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn record<T>(
        &self,
        operation: &'static str,
        started: Instant,
        result: &Result<T, UpstreamError>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.class(),
        };
        self.metrics.upstream(operation, outcome, started.elapsed());
    }
}

impl std::fmt::Debug for Timed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timed").finish_non_exhaustive()
    }
}

#[async_trait]
impl LegacyIdp for Timed {
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
    ) -> Result<LegacyGrant, UpstreamError> {
        let started = Instant::now();
        let result = self.inner.authenticate(username, password).await;
        self.record("authenticate", started, &result);
        result
    }

    async fn renew(
        &self,
        refresh_token: &LegacyRefreshToken,
        known: Option<&Profile>,
    ) -> Result<RenewedGrant, UpstreamError> {
        let started = Instant::now();
        let result = self.inner.renew(refresh_token, known).await;
        self.record("renew", started, &result);
        // A renewal keeps a session at the legacy IdP alive: a sign-in
        // that still depends on it.
        self.metrics.legacy_sign_in(
            "renewal",
            result.as_ref().map_or_else(UpstreamError::class, |_| "ok"),
        );
        result
    }

    async fn profile(&self, access_token: &LegacyAccessToken) -> Result<Profile, UpstreamError> {
        let started = Instant::now();
        let result = self.inner.profile(access_token).await;
        self.record("profile", started, &result);
        result
    }

    fn can_renew(&self) -> bool {
        self.inner.can_renew()
    }

    async fn mint(
        &self,
        subject: &crate::domain::types::Subject,
    ) -> Result<RenewedGrant, UpstreamError> {
        let started = Instant::now();
        let result = self.inner.mint(subject).await;
        self.record("mint", started, &result);
        result
    }

    async fn lookup(&self, email: &str) -> Result<Option<Profile>, UpstreamError> {
        let started = Instant::now();
        let result = self.inner.lookup(email).await;
        self.record("lookup", started, &result);
        result
    }
}
