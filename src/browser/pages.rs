//! The pages people see: the login form and the error page (askama
//! templates extending `base.html`), in the negotiated language, with the
//! operator's branding ([`Chrome`]: name, logo, favicon, stylesheet, footer
//! links, in the page's language). An error page carries a reference that is also in
//! the log line beside its cause, never the cause itself.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::locale::{self, Locale};
use crate::domain::config::Branding;
use crate::util::html::render;
use crate::util::refusal::Refusal;

/// What every page shows of the company, in the page's language: the
/// configured texts for it (`[branding.texts.LANG]`) over the defaults.
pub struct Chrome<'a> {
    /// The `lang` attribute.
    pub lang: &'a str,
    /// The organisation's name: the title, the login heading, the logo's text.
    pub organization: &'a str,
    /// The logo's URL, if one is configured.
    pub logo: Option<String>,
    /// The favicon's URL, if one is configured.
    pub favicon: Option<String>,
    /// The company's stylesheet's URL, if one is configured.
    pub stylesheet: Option<String>,
    /// Footer links: label and URL.
    pub links: Vec<(&'a str, &'a str)>,
}

impl<'a> Chrome<'a> {
    /// The chrome of a page in `lang`, a language the pages speak.
    pub fn new(branding: &'a Branding, lang: &'a str) -> Self {
        let texts = branding.texts_for(lang);
        let assets = &branding.assets;
        // `?v=` of the file's hash: cached for a day, fresh after a change.
        let href = |path: &str, asset: &Option<crate::domain::config::Asset>| {
            asset.as_ref().map(|a| format!("{path}?v={}", a.version))
        };
        let labels = texts.and_then(|t| t.link_labels.as_ref());
        Self {
            lang,
            organization: texts
                .and_then(|t| t.organization.as_deref())
                .unwrap_or(&branding.organization),
            logo: href(crate::domain::config::LOGO_PATH, &assets.logo),
            favicon: href(crate::domain::config::FAVICON_PATH, &assets.favicon),
            stylesheet: href(crate::domain::config::STYLESHEET_PATH, &assets.stylesheet),
            links: branding
                .links
                .iter()
                .enumerate()
                .map(|(i, link)| {
                    let label = labels.and_then(|l| l.get(i)).unwrap_or(&link.label);
                    (label.as_str(), link.url.as_str())
                })
                .collect(),
        }
    }
}

/// The login form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// The page's texts in the negotiated language.
    pub texts: &'a locale::Texts,
    /// Branding in the page's language.
    pub chrome: Chrome<'a>,
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
    /// Whether the message says the fields' values were wrong (or missing):
    /// they are then marked `aria-invalid`.
    pub invalid: bool,
}

/// The error page: a heading, a message for people, a reference for operators.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// Branding.
    pub chrome: Chrome<'a>,
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
    /// Branding.
    pub chrome: Chrome<'a>,
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
    let id = crate::util::refusal::request_id();
    let request_id = if id.is_empty() {
        crate::util::crypto::random_token()[..12].to_owned()
    } else {
        id
    };
    let request_id = request_id.as_str();
    let mut response = render(
        status,
        &ErrorPage {
            chrome: Chrome::new(branding, "en"),
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
    let own = branding.texts_for(texts.lang);
    // The label configured for this language; else an operator's own label
    // as configured; else the default, translated.
    let username_label = match own.and_then(|t| t.username_label.as_deref()) {
        Some(label) => label,
        None if branding.username_label == "Username" => texts.username,
        None => &branding.username_label,
    };
    let help_text = own
        .and_then(|t| t.help_text.as_deref())
        .or(branding.help_text.as_deref());
    render(
        status,
        &LoginPage {
            texts,
            chrome: Chrome::new(branding, texts.lang),
            username_label,
            help_text,
            request: content.request,
            csrf: content.csrf,
            username: content.username,
            message: content.message,
            // A wrong password or an empty field, not a locked account or
            // an unavailable service (WCAG 2.2 §3.3.1).
            invalid: content.message.is_some()
                && matches!(status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED),
        },
    )
}
