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
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
        {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "the parameter {k} appears more than once"
                )));
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
