//! Endpoints for operators and the page's assets: `/` (what this is),
//! `/healthz` (the process answers), `/readyz` (the store answers), the
//! compiled-in stylesheet and the branding stylesheet.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::config::Settings;
use crate::state::AppState;
use crate::store::Store;

/// The operator and asset routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(root_get))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz_get))
        .route("/static/style.css", get(style_css_get))
        .route("/branding.css", get(branding_css_get))
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
        include_str!("../static/style.css"),
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

async fn readyz_get(State(store): State<Arc<dyn Store>>) -> impl IntoResponse {
    match store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
        }
    }
}
