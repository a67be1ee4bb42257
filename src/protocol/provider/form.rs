//! The form-encoded body of the token, revocation and introspection
//! endpoints (RFC 6749 §3.2): `application/x-www-form-urlencoded`, each
//! parameter at most once. Its `Debug` names the parameters, never their
//! values (they include client secrets and tokens).

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};

use super::error::OAuthError;

/// A parsed form body.
#[derive(Default, Clone)]
pub struct FormParams(BTreeMap<String, String>);

impl std::fmt::Debug for FormParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl FormParams {
    /// Parses a form body, refusing another content type and repeated
    /// parameters (RFC 6749 §3.2).
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(if nameable(&k) {
                    format!("the parameter {k} appears more than once")
                } else {
                    "a parameter appears more than once".to_owned()
                }));
            }
        }
        Ok(Self(map))
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Whether the parameter was sent at all, even empty.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A required parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

/// Whether a parameter's name may be quoted back in `error_description`:
/// the name is the client's (any length, any character), and RFC 6749
/// §5.2 allows only printable ASCII without `"` and `\\` there. Names of
/// the protocol's own shape are; anything else is not echoed.
fn nameable(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str, content_type: &str) -> Result<FormParams, OAuthError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().expect("header"));
        FormParams::parse(&headers, body.as_bytes())
    }

    const FORM: &str = "application/x-www-form-urlencoded";

    #[test]
    fn a_repeated_parameter_is_named_only_when_its_name_is_plain() {
        let named = form("code=a&code=b", FORM).expect_err("repeated");
        assert!(named.description.contains("code appears"), "{named:?}");
        for body in [
            "x%22%5C%0A=1&x%22%5C%0A=2",
            "\u{e9}t\u{e9}=1&\u{e9}t\u{e9}=2",
            &format!("{0}=1&{0}=2", "n".repeat(41)),
        ] {
            let error = form(body, FORM).expect_err("repeated");
            assert_eq!(
                error.description, "a parameter appears more than once",
                "{body}"
            );
        }
    }

    #[test]
    fn only_the_form_media_type_is_taken() {
        assert!(form("a=1", "application/x-www-form-urlencoded; charset=UTF-8").is_ok());
        assert!(form("a=1", "Application/X-WWW-Form-Urlencoded").is_ok());
        for other in [
            "application/x-www-form-urlencodedx",
            "application/json",
            "text/plain",
        ] {
            assert!(form("a=1", other).is_err(), "{other}");
        }
    }
}
