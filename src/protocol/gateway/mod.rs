//! The gateway: a reverse proxy, on its own listener, in front of legacy
//! APIs that accept only the legacy token. A client sends the Auth0 access
//! token it already has; the gateway verifies it as token exchange does
//! ([`crate::domain::auth0`]), checks the route's audience and scopes, finds the
//! user's legacy token from the same sources ([`crate::domain::legacy_source`],
//! cached in [`cache`]), and forwards the request with the legacy token in
//! place of the Auth0 token ([`forward`]): the Auth0 token never reaches
//! the legacy API. This is the "phantom token" pattern, for a legacy token.
//!
//! Per request, in order: `CONNECT` to no route (405: a tunnel); a route
//! by longest path prefix (404); a method the route does not forward (405
//! with `Allow`; never `CONNECT`, `TRACE` or `TRACK`); a path a legacy
//! server might read differently ([`path`]), a token in the query string,
//! two `Authorization` headers, or a WebSocket upgrade without its key
//! ([`upgrade`]) (400 `invalid_request`); no Bearer token (401 with a bare
//! challenge, RFC 6750 §3.1); a token that does not verify or is not for
//! the route's audience (401 `invalid_token`); a missing scope (403
//! `insufficient_scope`); no legacy session (401 `invalid_token`, saying
//! so); Auth0's keys, the store or the legacy IdP down (503); a request
//! body the client breaks (400) or lets lag (408) ([`body`]); the legacy
//! API unreachable (502) or slow (504), or a `101` that is not the
//! WebSocket handshake asked for (502, connection closed), with no
//! upstream detail in the body. Each refusal is logged once and audited by
//! reason class. The request id follows the provider's rule
//! ([`crate::util::request_id`]), with the gateway's `trusted_proxies`.

pub mod answer;
pub mod body;
pub mod cache;
pub mod forward;
pub mod path;
pub mod pool;
pub mod upgrade;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Version, header};

use self::answer::Refused;
use self::body::ClientFault;
use self::cache::{Entry, TokenCache, Verified};
use self::forward::{BackendClient, ForwardError};
use crate::domain::auth0::caller::{self, CallerRefusal};
use crate::domain::auth0::{Auth0Error, Auth0Verifier};
use crate::domain::config::Route;
use crate::domain::legacy_source::{LegacySource, SourceError};
use crate::domain::metrics::Metrics;
use crate::util::crypto::sha256;

/// The gateway: its routes, verifier, token source, cache and client.
pub struct Gateway {
    config: crate::domain::config::GatewaySettings,
    /// Each route's histograms, in the routes' order.
    route_metrics: Vec<crate::domain::metrics::GatewayRouteMetrics>,
    /// Each route's legacy API, in the routes' order.
    origins: Vec<Arc<forward::Origin>>,
    verifier: Arc<Auth0Verifier>,
    source: Arc<LegacySource>,
    cache: Arc<TokenCache>,
    client: BackendClient,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("listen", &self.config.listen)
            .field("routes", &self.config.routes.len())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway over the bridge's verifier and legacy token source.
    pub fn new(
        config: crate::domain::config::GatewaySettings,
        verifier: Arc<Auth0Verifier>,
        source: Arc<LegacySource>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let client = forward::client(&config)?;
        let cache = Arc::new(TokenCache::new(
            config.cache_max_entries,
            config.cache_skew_seconds,
            metrics.gateway_cache(),
        ));
        let route_metrics = config
            .routes
            .iter()
            .map(|r| metrics.gateway_route(route_label(r)))
            .collect();
        let origins = config
            .routes
            .iter()
            .map(|r| forward::Origin::new(&r.backend).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            config,
            route_metrics,
            origins,
            verifier,
            source,
            cache,
            client,
            metrics,
        })
    }

    /// The revocation watcher, to run beside the listener.
    pub fn watch_revocations(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        cache::watch_revocations(
            self.cache.clone(),
            self.source.clone(),
            self.config.revocation_poll,
        )
    }

    /// Every request goes to one handler, inside a request span with an id
    /// (kept from a trusted proxy's `x-request-id` in a bounded form, else
    /// made here; forwarded upstream, sent back).
    pub fn router(self: Arc<Self>) -> Router {
        let trusted = self.config.trusted_proxies.clone();
        let routed = Router::new()
            .fallback(handle)
            .with_state(self)
            .layer(axum::middleware::from_fn(crate::util::refusal::log_refusal));
        crate::util::request_id::identified(routed, &trusted, gateway_span)
    }

    /// The route for `path`: the longest prefix matching whole segments,
    /// ignoring ASCII case (so `/orders/ADMIN` is `/orders/admin`'s on a
    /// legacy server that ignores case, and never a shorter prefix's).
    fn route_for(&self, path: &str) -> Option<usize> {
        route_index(&self.config.routes, path)
    }

    /// The entry for `token` on `route`: from the cache, or verified and
    /// looked up (once for concurrent misses); the route's audience and
    /// scopes checked either way.
    async fn authorize(
        &self,
        route: &Route,
        key: [u8; 32],
        token: &str,
    ) -> Result<Arc<Entry>, Refused> {
        if let Some(entry) = self.cache.get(&key).await {
            check_route(route, &entry.audiences, &entry.scopes)?;
            return Ok(entry);
        }
        let caller = caller::verify_caller(&self.verifier, token, &route.audiences, &route.scopes)
            .await
            .map_err(|refusal| refused(route, refusal))?;
        let verified = Verified {
            subject: caller.subject,
            audiences: caller.audiences,
            scopes: caller.scopes,
            exp: caller.exp,
        };
        self.cache
            .load(key, verified, &self.source)
            .await
            .map_err(|e| match e.as_ref() {
                SourceError::NoSession => Refused::NoSession,
                SourceError::Unavailable { what, cause } => {
                    Refused::Unavailable(format!("{what}: {cause}"))
                }
                SourceError::UnfitSubject(unfit) => Refused::InvalidToken {
                    description: "the user's legacy id cannot be carried in a legacy token",
                    cause: e.to_string(),
                    class: unfit.as_str(),
                },
                SourceError::Internal(cause) => Refused::Unavailable(format!("internal: {cause}")),
            })
    }

    /// Checks, authorizes and forwards one request.
    async fn proxy(
        &self,
        index: usize,
        peer: SocketAddr,
        request: Request,
    ) -> Result<Response, Refused> {
        let route = &self.config.routes[index];
        if !route.methods.contains(request.method()) {
            return Err(Refused::Method(route.allow.clone()));
        }
        path::check(request.uri().path(), &self.config.routes, index)
            .map_err(Refused::InvalidRequest)?;
        if request
            .uri()
            .query()
            .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token"))
        {
            return Err(Refused::InvalidRequest(
                "a token in the query string is refused; send it in the Authorization header",
            ));
        }
        let handshake = upgrade::asked(&request).map_err(Refused::InvalidRequest)?;
        let token = bearer(&request)?;
        let key = sha256(token.as_bytes());
        let entry = self.authorize(route, key, token).await?;
        let legacy = legacy_header(route, &entry)?;
        let (mut parts, body) = request.into_parts();
        // RFC 9112 §3.2.2: an absolute-form target's authority is the host.
        let host = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .or_else(|| parts.headers.get(header::HOST).cloned());
        let ip = forward::peer_ip(peer);
        let trusted = self.config.trusted_proxies.iter().any(|n| n.contains(&ip));
        forward::clean_request_headers(&mut parts.headers, trusted, parts.version);
        forward::set_forwarded(&mut parts.headers, ip, trusted, host);
        parts.headers.insert(route.header.clone(), legacy);
        parts.uri = forward::target(route, parts.uri.path(), parts.uri.query())
            .map_err(|e| Refused::BadGateway(format!("cannot build the upstream URL: {e}")))?;
        parts.version = Version::HTTP_11;
        let started = Instant::now();
        let tunnel = upgrade::Tunnel {
            idle: self.config.idle_timeout,
            cache: self.cache.clone(),
            entry: entry.clone(),
        };
        let limits = body::BodyLimits {
            idle: self.config.idle_timeout,
            grace: self.config.body_read_timeout,
            min_rate: self.config.body_min_bytes_per_second,
        };
        let result = forward::send(
            &self.client,
            &self.origins[index],
            Request::from_parts(parts, body),
            handshake,
            self.config.response_timeout,
            limits,
            tunnel,
        )
        .await;
        if result
            .as_ref()
            .is_ok_and(|r| r.status() == http::StatusCode::UNAUTHORIZED)
        {
            // The legacy API no longer takes this legacy token (the legacy
            // side ended the session): look it up afresh next time.
            self.cache.forget(&key).await;
        }
        let outcome = match &result {
            Ok(r) => crate::domain::metrics::status_class(r.status().as_u16()),
            Err(e) => e.outcome(),
        };
        self.route_metrics[index].backend(outcome, started.elapsed());
        result.map_err(|e| match e {
            ForwardError::Connect(cause) | ForwardError::Broken(cause) => {
                Refused::BadGateway(cause)
            }
            ForwardError::Timeout(cause) => Refused::GatewayTimeout(cause),
            ForwardError::NoTunnel(cause) => Refused::NoTunnel(cause),
            ForwardError::Client(ClientFault::Malformed(cause)) => Refused::MalformedBody(cause),
            ForwardError::Client(ClientFault::TooSlow(cause)) => Refused::SlowBody(cause),
        })
    }
}

/// The first of `routes` (longest prefix first, as configured) whose prefix
/// matches `path` in whole segments, ignoring ASCII case.
fn route_index(routes: &[Route], path: &str) -> Option<usize> {
    routes.iter().position(|r| {
        path.get(..r.prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(&r.prefix))
            && path
                .get(r.prefix.len()..)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The gateway's request span (the path only: a query may carry anything).
fn gateway_span(request: &Request) -> tracing::Span {
    let request_id = crate::util::request_id::id_of(request);
    tracing::info_span!("gateway", method = %request.method(), path = %request.uri().path(), request_id)
}

/// The one handler.
async fn handle(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let Some(index) = gateway.route_for(request.uri().path()) else {
        // An authority-form target (`CONNECT host:443`) names no path: the
        // method is what is refused, not the route.
        let refused = if request.method() == http::Method::CONNECT {
            let allow = crate::domain::config::DEFAULT_METHODS.join(", ");
            Refused::Method(
                HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static("GET")),
            )
        } else {
            Refused::NoRoute
        };
        return refuse(&gateway.metrics, "", refused);
    };
    let route = &gateway.config.routes[index];
    let response = match gateway.proxy(index, peer, request).await {
        Ok(response) => response,
        Err(refused) => refuse(&gateway.metrics, route_label(route), refused),
    };
    gateway.route_metrics[index].request(response.status().as_u16(), started.elapsed());
    response
}

/// Audits and answers a refusal.
fn refuse(metrics: &Metrics, route: &str, refused: Refused) -> Response {
    crate::audit!(
        metrics,
        "gateway_refusal",
        reason = refused.class(),
        route = route
    );
    refused.into_response()
}

fn route_label(route: &Route) -> &str {
    if route.prefix.is_empty() {
        "/"
    } else {
        &route.prefix
    }
}

/// The route's audience (any one) and scopes (all), for a cached caller.
fn check_route(route: &Route, audiences: &[String], scopes: &[String]) -> Result<(), Refused> {
    caller::check_grants(audiences, scopes, &route.audiences, &route.scopes)
        .map_err(|refusal| refused(route, refusal))
}

/// The gateway's answer to a refused Auth0 caller on `route`.
fn refused(route: &Route, refusal: CallerRefusal) -> Refused {
    match refusal {
        CallerRefusal::Token(Auth0Error::JwksUnavailable(cause)) => {
            Refused::Unavailable(format!("Auth0 JWKS: {cause}"))
        }
        CallerRefusal::Token(e) => Refused::InvalidToken {
            description: "the access token is not acceptable",
            cause: e.to_string(),
            class: e.class(),
        },
        CallerRefusal::Audience(audiences) => Refused::InvalidToken {
            description: "the access token is not for this API",
            cause: format!("audiences {audiences:?} are not the route's"),
            class: "audience",
        },
        CallerRefusal::Scope => Refused::InsufficientScope(route.scopes.join(" ")),
        CallerRefusal::Subject => Refused::InvalidToken {
            description: "the user is not from a connection the bridge serves",
            cause: "no legacy subject in the token".into(),
            class: "subject",
        },
    }
}

/// The Bearer token of the request's one `Authorization` header.
fn bearer(request: &Request) -> Result<&str, Refused> {
    let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Refused::NoToken);
    };
    if values.next().is_some() {
        return Err(Refused::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let value = value.to_str().map_err(|_| Refused::InvalidToken {
        description: "the access token is not acceptable",
        cause: "the Authorization header is not ASCII".into(),
        class: "malformed",
    })?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() || token.contains(' ') {
                return Err(Refused::InvalidToken {
                    description: "the access token is not acceptable",
                    cause: "an empty or spaced Bearer token".into(),
                    class: "malformed",
                });
            }
            Ok(token)
        }
        // Another scheme (Basic, say) is no Bearer token at all.
        _ => Err(Refused::NoToken),
    }
}

/// The legacy token as the route sends it, marked sensitive (never indexed
/// by HPACK, redacted in `Debug`); made once per entry for the scheme it is
/// first asked with (routes seldom differ), else afresh.
fn legacy_header(route: &Route, entry: &Entry) -> Result<HeaderValue, Refused> {
    if let Some((scheme, value)) = entry.header.get() {
        if *scheme == route.scheme {
            return Ok(value.clone());
        }
    }
    let token = entry.legacy.secret();
    let text = if route.scheme.is_empty() {
        token.to_owned()
    } else {
        format!("{} {token}", route.scheme)
    };
    let mut value = HeaderValue::from_str(&text)
        .map_err(|_| Refused::BadGateway("the legacy token cannot be sent in a header".into()))?;
    value.set_sensitive(true);
    let _ = entry.header.set((route.scheme.clone(), value.clone()));
    Ok(value)
}
