//! Endpoints for operators and the page's assets: `/` (what this is),
//! `/healthz` (the process answers), `/readyz` (the store answers), the
//! compiled-in stylesheet, the accent colour's stylesheet, and the
//! company's files from `[branding]` (logo, favicon, stylesheet), each at a
//! fixed path of the bridge's own origin so the pages' CSP allows them.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::app::state::AppState;
use crate::domain::config::{Asset, Settings};
use crate::domain::store::Store;

/// The operator and asset routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(root_get))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz_get))
        .route("/static/style.css", get(style_css_get))
        .route("/branding.css", get(branding_css_get))
        .route(crate::domain::config::LOGO_PATH, get(logo_get))
        .route(crate::domain::config::FAVICON_PATH, get(favicon_get))
        .route(crate::domain::config::STYLESHEET_PATH, get(stylesheet_get))
}

/// `/`: what this is and where its metadata is, for a person or a probe
/// that lands here (an empty 404 says nothing).
async fn root_get(State(settings): State<Arc<Settings>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!(
            "idp-bridge: an OpenID Connect provider for {}.\nIssuer: {}\nMetadata: {}/.well-known/openid-configuration\n",
            settings.branding.organization, settings.issuer, settings.issuer
        ),
    )
}

/// The stylesheet is compiled in, so the binary runs from anywhere.
async fn style_css_get() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/style.css"),
    )
}

/// The configured accent colour as a stylesheet: the CSP allows no inline
/// styles, and the colour is validated as `#rrggbb` at start.
async fn branding_css_get(State(settings): State<Arc<Settings>>) -> impl IntoResponse {
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

async fn logo_get(State(settings): State<Arc<Settings>>, headers: HeaderMap) -> Response {
    serve_asset(settings.branding.assets.logo.as_ref(), &headers)
}

async fn favicon_get(State(settings): State<Arc<Settings>>, headers: HeaderMap) -> Response {
    serve_asset(settings.branding.assets.favicon.as_ref(), &headers)
}

async fn stylesheet_get(State(settings): State<Arc<Settings>>, headers: HeaderMap) -> Response {
    serve_asset(settings.branding.assets.stylesheet.as_ref(), &headers)
}

/// A branding file as read at start: 404 when not configured; cached for a
/// day (the pages link it with `?v=` of its hash, so a changed file is a new
/// URL) and revalidated by its `ETag`. An SVG gets a CSP of its own that
/// runs nothing, should it be opened directly rather than through `<img>`.
fn serve_asset(asset: Option<&Asset>, headers: &HeaderMap) -> Response {
    let Some(asset) = asset else {
        return (StatusCode::NOT_FOUND, "not configured").into_response();
    };
    let etag = format!("\"{}\"", asset.version);
    let cache = [
        (header::CACHE_CONTROL, "public, max-age=86400".to_owned()),
        (header::ETAG, etag.clone()),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let mut response = (
        cache,
        [(header::CONTENT_TYPE, asset.content_type)],
        asset.bytes.clone(),
    )
        .into_response();
    if asset.is_svg() {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
        );
    }
    response
}

async fn readyz_get(State(store): State<Arc<dyn Store>>) -> impl IntoResponse {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
    }
}
