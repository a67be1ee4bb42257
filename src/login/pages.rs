//! The pages people see: the login form and the error page (askama
//! templates extending `base.html`), in the negotiated language, with the
//! operator's branding. An error page carries a reference that is also in
//! the log line beside its cause, never the cause itself.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::locale::{self, Locale};
use crate::config::Branding;
use crate::html::render;
use crate::refusal::Refusal;

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

/// The logout confirmation: a same-origin form that posts the request back.
#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    /// Branding: heading.
    pub organization: &'a str,
    /// The logout request's parameters, posted back as they came.
    pub fields: &'a [(&'a str, &'a str)],
}

/// An error page with a fresh reference; the cause is logged beside it by
/// the middleware, never shown.
pub fn error_page(
    branding: &Branding,
    status: StatusCode,
    heading: &str,
    message: &str,
    cause: &str,
) -> Response {
    let id = crate::refusal::request_id();
    let request_id = if id.is_empty() {
        crate::crypto::random_token()[..12].to_owned()
    } else {
        id
    };
    let request_id = request_id.as_str();
    let mut response = render(
        status,
        &ErrorPage {
            organization: &branding.organization,
            heading,
            message,
            request_id,
        },
    );
    Refusal {
        code: "error_page",
        description: heading.to_owned(),
        cause: Some(cause.to_owned()),
        reference: Some(request_id.to_owned()),
    }
    .attach(&mut response);
    response
}

/// What the login form shows besides the branding.
pub struct FormContent<'a> {
    /// The page's language.
    pub locale: Locale,
    /// The sealed pending request.
    pub request: &'a str,
    /// The CSRF token.
    pub csrf: &'a str,
    /// Prefilled username.
    pub username: &'a str,
    /// A message after a failed attempt.
    pub message: Option<&'a str>,
}

/// The login form, branded, in the page's language.
pub fn login_form(branding: &Branding, content: &FormContent<'_>, status: StatusCode) -> Response {
    let texts = content.locale.texts();
    // An operator's own label stays as configured; the default is translated.
    let username_label = if branding.username_label == "Username" {
        texts.username
    } else {
        &branding.username_label
    };
    render(
        status,
        &LoginPage {
            texts,
            organization: &branding.organization,
            username_label,
            help_text: branding.help_text.as_deref(),
            request: content.request,
            csrf: content.csrf,
            username: content.username,
            message: content.message,
        },
    )
}
