//! The login form's CSRF defence: a double-submit cookie. `/authorize`
//! sets a random cookie (unless the browser has one) and puts the same
//! value in the form; `POST /login` accepts the form only when both match,
//! compared in constant time. The cookie is `__Host-` when `Secure`, so no
//! subdomain can plant one (RFC 6265bis §4.1.3.2), the sealed request is
//! bound to it ([`super::pending`]), and a post that the browser marks as
//! coming from another site is refused whatever its cookie.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use tower_sessions::cookie::{Cookie, SameSite};

/// The CSRF cookie's name for a secure or a plain-http bridge.
fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-idp_bridge_csrf"
    } else {
        "idp_bridge_csrf"
    }
}

/// The CSRF cookie's value, if the browser sent a well-formed one.
pub fn from_request(headers: &HeaderMap, secure: bool) -> Option<String> {
    let name = cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Sets the CSRF cookie on `response`: `Path=/`, `HttpOnly`,
/// `SameSite=Lax` (the form is posted from the bridge's own page), and
/// `Secure` unless the bridge runs on plain http.
pub fn set(response: &mut Response, token: &str, secure: bool) {
    let cookie = Cookie::build((cookie_name(secure), token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build();
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Whether the browser says the form was posted from another site: Fetch
/// Metadata's `Sec-Fetch-Site`, or an `Origin` other than the issuer's.
/// (`Origin: null` is what browsers send for the bridge's own form under
/// `Referrer-Policy: no-referrer`, so it is not a refusal.)
pub fn cross_site(headers: &HeaderMap, issuer: &str) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match origin {
        None | Some("null") => false,
        Some(origin) => url::Url::parse(issuer)
            .map(|u| u.origin().ascii_serialization())
            .is_ok_and(|own| own != origin),
    }
}

/// Whether the form's token matches the cookie's, in constant time.
pub fn matches(cookie: Option<&str>, form: &str) -> bool {
    cookie.is_some_and(|c| bool::from(subtle::ConstantTimeEq::ct_eq(c.as_bytes(), form.as_bytes())))
}
