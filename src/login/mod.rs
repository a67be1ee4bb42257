//! The login pages: the form (askama templates extending `base.html`), its
//! CSRF token in the session, and the error page. The form carries the
//! pending authorization request sealed under the storage key, so nothing is
//! written before the password check.

pub mod locale;
pub mod throttle;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::config::Branding;

/// The login form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// The page's texts in the negotiated language.
    pub texts: &'a locale::Texts,
    /// Branding: heading.
    pub organization: &'a str,
    /// Branding: username label.
    pub username_label: &'a str,
    /// Branding: help.
    pub help_text: Option<&'a str>,
    /// The sealed pending request.
    pub request: &'a str,
    /// The CSRF token.
    pub csrf: &'a str,
    /// Prefilled username.
    pub username: &'a str,
    /// A message after a failed attempt.
    pub message: Option<&'a str>,
}

/// The error page: a heading, a message for people, a reference for operators.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// Branding: heading.
    pub organization: &'a str,
    /// The heading.
    pub heading: &'a str,
    /// The message.
    pub message: &'a str,
    /// A reference to find the log line.
    pub request_id: &'a str,
}

/// OAuth 2.0 Form Post Response Mode: an auto-submitting form to the
/// client's redirect URI.
#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    /// The redirect URI.
    pub action: &'a str,
    /// The response parameters.
    pub fields: &'a [(&'a str, &'a str)],
    /// The CSP nonce allowing the one script.
    pub nonce: &'a str,
}

/// Renders a template, or a plain 500 if rendering fails (never a panic).
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// An error page with a fresh reference, the cause logged beside it.
pub fn error_page(
    branding: &Branding,
    status: StatusCode,
    heading: &str,
    message: &str,
    cause: &str,
) -> Response {
    let request_id = &crate::crypto::random_token()[..12];
    tracing::warn!(request_id, status = status.as_u16(), cause, "error page");
    render(
        status,
        &ErrorPage {
            organization: &branding.organization,
            heading,
            message,
            request_id,
        },
    )
}
