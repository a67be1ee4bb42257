//! A problem in the `[upstream]` settings, named by its key, and the URL
//! check every adapter shares. A leaf, so each adapter's settings can use it
//! without importing the others'.

use url::Url;

/// A problem in the upstream settings, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct UpstreamConfigError {
    /// The full key, such as `upstream.http.login.url`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// Checks that `url` (the value of `key`) is an http(s) URL with a host,
/// so a typo such as `htp:/legacy` fails at start, not at the first login.
pub(crate) fn check_http_url(url: &Url, key: &str) -> Result<(), UpstreamConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(UpstreamConfigError::new(
            key,
            format!(
                "must be an http:// or https:// URL with a host (got scheme `{}`)",
                url.scheme()
            ),
        ));
    }
    Ok(())
}

impl UpstreamConfigError {
    pub(crate) fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            problem: problem.into(),
        }
    }
}
