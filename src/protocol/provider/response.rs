//! The authorization response (RFC 6749 §4.1.2): the parameters, then
//! `state` when the client sent one, then `iss` (RFC 9207), sent as a 303
//! redirect with the parameters in the query, or (OAuth 2.0 Form Post
//! Response Mode) as an auto-submitting form under a per-response CSP
//! nonce. Every authorization answer, success or error, leaves through here.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::domain::types::RedirectUri;
use crate::util::crypto::random_token;
use crate::util::html::render;

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

/// Appends parameters to a redirect URI, keeping its own query.
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            url.into()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

/// Sends the authorization response — `params`, then `state` when the client
/// sent one, then `iss` (RFC 9207) — as a 303 redirect with the parameters
/// in the query, or (response_mode=form_post) an auto-submitting form.
pub fn respond<'a>(
    redirect_uri: &RedirectUri,
    mut params: Vec<(&'a str, &'a str)>,
    state: Option<&'a str>,
    issuer: &'a str,
    form_post: bool,
) -> Response {
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    let params = params.as_slice();
    let redirect_uri = redirect_uri.as_str();
    if !form_post {
        return see_other(&redirect_with(redirect_uri, params));
    }
    let nonce = random_token();
    let mut response = render(
        StatusCode::OK,
        &FormPostPage {
            action: redirect_uri,
            fields: params,
            nonce: &nonce,
        },
    );
    let origin = url::Url::parse(redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A 303 See Other to `location`.
pub fn see_other(location: &str) -> Response {
    let mut response = Redirect::to(location).into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
}
