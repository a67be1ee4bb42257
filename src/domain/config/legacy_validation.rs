//! `[legacy_validation]`: how `POST /legacy/introspect` decides whether a
//! legacy token is live and whose it is — through the LT1 codec and
//! `[legacy_token]`'s keys, or by asking the legacy IdP (an RFC 7662
//! introspection endpoint or a userinfo endpoint) — and how long answers
//! are kept. Which clients may ask is each client's
//! `validate_legacy_tokens`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::util::net::is_loopback;
use crate::util::secret::{SecretSource, SecretValue};

/// `[legacy_validation]` as written.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LegacyValidationConfig {
    /// `lt1`, `introspection` (RFC 7662) or `userinfo`.
    pub source: SourceKind,
    /// The legacy IdP's introspection or userinfo URL (not for `lt1`).
    pub url: Option<String>,
    /// The bridge's client id at the introspection endpoint (HTTP Basic).
    pub client_id: Option<String>,
    /// Its secret.
    pub client_secret: Option<SecretSource>,
    /// Headers sent with every request to the legacy IdP (an API key).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
    /// The member of the legacy IdP's answer naming the user (default `sub`).
    #[serde(default = "default_subject_field")]
    pub subject_field: String,
    /// The claims passed on in the answer, when the token carries them
    /// (default `email`, `email_verified`, `name`).
    #[serde(default = "default_claims")]
    pub claims: Vec<String>,
    /// How long a live answer of the legacy IdP is kept (default 30, at
    /// most 300; never past the token's `exp`).
    #[serde(default = "default_cache_seconds")]
    pub cache_seconds: u64,
    /// How long a "not live" answer is kept (default 5; 0: never).
    #[serde(default = "default_negative_cache_seconds")]
    pub negative_cache_seconds: u64,
    /// Answers kept at most (default 10000).
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
    /// Timeout of a call to the legacy IdP, milliseconds (default 3000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The longest token looked at, characters (default 8192); a longer
    /// one is not live, and never sent anywhere.
    #[serde(default = "default_max_token_length")]
    pub max_token_length: usize,
}

/// Where a token's liveness comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The LT1 codec with `[legacy_token]`'s keys.
    Lt1,
    /// The legacy IdP's RFC 7662 introspection endpoint.
    Introspection,
    /// The legacy IdP's userinfo endpoint, called with the token.
    Userinfo,
}

fn default_subject_field() -> String {
    "sub".into()
}
fn default_claims() -> Vec<String> {
    vec!["email".into(), "email_verified".into(), "name".into()]
}
fn default_cache_seconds() -> u64 {
    30
}
fn default_negative_cache_seconds() -> u64 {
    5
}
fn default_cache_entries() -> usize {
    10_000
}
fn default_timeout_ms() -> u64 {
    3000
}
fn default_max_token_length() -> usize {
    8192
}

/// Names an answer may not take from a token's claims: the answer's own.
pub const ANSWER_MEMBERS: &[&str] = &[
    "active",
    "sub",
    "exp",
    "iat",
    "scope",
    "client_id",
    "token_type",
    "iss",
    "aud",
    "nbf",
    "jti",
];

/// `[legacy_validation]` validated.
#[derive(Debug, Clone)]
pub struct LegacyValidation {
    /// Where liveness comes from.
    pub source: Remote,
    /// The member naming the user.
    pub subject_field: String,
    /// Claims passed on.
    pub claims: Vec<String>,
    /// Live answers kept this long at most.
    pub cache_ttl: Duration,
    /// "Not live" answers kept this long (zero: not kept).
    pub negative_ttl: Duration,
    /// Answers kept at most.
    pub cache_entries: usize,
    /// Timeout of a call to the legacy IdP.
    pub timeout: Duration,
    /// The longest token looked at.
    pub max_token_length: usize,
}

/// The source, with what reaching it takes.
#[derive(Debug, Clone)]
pub enum Remote {
    /// The LT1 codec.
    Lt1,
    /// RFC 7662 introspection.
    Introspection {
        /// The endpoint.
        url: url::Url,
        /// HTTP Basic credentials, if any.
        client: Option<(String, SecretValue)>,
        /// Further headers.
        headers: Vec<(String, SecretValue)>,
    },
    /// Userinfo, called with the token as a Bearer token.
    Userinfo {
        /// The endpoint.
        url: url::Url,
        /// Further headers.
        headers: Vec<(String, SecretValue)>,
    },
}

impl LegacyValidationConfig {
    /// Validates the section; `has_lt1_keys` says whether `[legacy_token]`
    /// has keys.
    pub fn validate(
        &self,
        has_lt1_keys: bool,
        problems: &mut Vec<String>,
    ) -> Option<LegacyValidation> {
        let before = problems.len();
        let key = "legacy_validation";
        if !(1..=300).contains(&self.cache_seconds) {
            problems.push(format!("{key}.cache_seconds: must be between 1 and 300"));
        }
        if self.negative_cache_seconds > self.cache_seconds {
            problems.push(format!(
                "{key}.negative_cache_seconds: must not be longer than cache_seconds"
            ));
        }
        if !(1..=1_000_000).contains(&self.cache_entries) {
            problems.push(format!(
                "{key}.cache_entries: must be between 1 and 1000000"
            ));
        }
        if !(100..=30_000).contains(&self.timeout_ms) {
            problems.push(format!("{key}.timeout_ms: must be between 100 and 30000"));
        }
        if !(64..=65_536).contains(&self.max_token_length) {
            problems.push(format!(
                "{key}.max_token_length: must be between 64 and 65536"
            ));
        }
        if self.subject_field.is_empty() {
            problems.push(format!("{key}.subject_field: must not be empty"));
        }
        for claim in &self.claims {
            if ANSWER_MEMBERS.contains(&claim.as_str()) || claim.is_empty() {
                problems.push(format!(
                    "{key}.claims: `{claim}` is a member of the answer itself, not a claim to pass on"
                ));
            }
        }
        let headers = self.resolved_headers(problems);
        let source = match self.source {
            SourceKind::Lt1 => {
                if !has_lt1_keys {
                    problems.push(format!("{key}.source: `lt1` needs [legacy_token] keys"));
                }
                if self.url.is_some() || self.client_id.is_some() {
                    problems.push(format!(
                        "{key}: `url` and `client_id` are for `introspection` and `userinfo`, not `lt1`"
                    ));
                }
                Remote::Lt1
            }
            SourceKind::Introspection | SourceKind::Userinfo => {
                let url = self.checked_url(problems);
                let client = match (&self.client_id, &self.client_secret) {
                    (Some(id), Some(secret)) => match secret.resolve() {
                        Ok(s) => Some((id.clone(), s)),
                        Err(e) => {
                            problems.push(format!("{key}.client_secret: {e}"));
                            None
                        }
                    },
                    (None, None) => None,
                    _ => {
                        problems.push(format!("{key}: client_id and client_secret go together"));
                        None
                    }
                };
                match (self.source, url) {
                    (SourceKind::Introspection, Some(url)) => Remote::Introspection {
                        url,
                        client,
                        headers,
                    },
                    (_, Some(url)) => {
                        if client.is_some() {
                            problems.push(format!(
                                "{key}: client_id is for `introspection`; userinfo is called with the token itself"
                            ));
                        }
                        Remote::Userinfo { url, headers }
                    }
                    (_, None) => return None,
                }
            }
        };
        if problems.len() > before {
            return None;
        }
        Some(LegacyValidation {
            source,
            subject_field: self.subject_field.clone(),
            claims: self.claims.clone(),
            cache_ttl: Duration::from_secs(self.cache_seconds),
            negative_ttl: Duration::from_secs(self.negative_cache_seconds),
            cache_entries: self.cache_entries,
            timeout: Duration::from_millis(self.timeout_ms),
            max_token_length: self.max_token_length,
        })
    }

    fn checked_url(&self, problems: &mut Vec<String>) -> Option<url::Url> {
        let Some(text) = &self.url else {
            problems
                .push("legacy_validation.url: required for `introspection` and `userinfo`".into());
            return None;
        };
        match url::Url::parse(text) {
            // Credentials in the URL would skip `client_secret`'s handling
            // (file or env, redacted) and show wherever the URL does.
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                problems.push(
                    "legacy_validation.url: must have no credentials; use client_id and client_secret, or headers"
                        .into(),
                );
                None
            }
            Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)) => Some(u),
            Ok(_) => {
                problems.push(
                    "legacy_validation.url: must be https (plain http only on loopback, for tests)"
                        .into(),
                );
                None
            }
            Err(e) => {
                problems.push(format!("legacy_validation.url: not a URL ({e})"));
                None
            }
        }
    }

    fn resolved_headers(&self, problems: &mut Vec<String>) -> Vec<(String, SecretValue)> {
        let mut out = Vec::new();
        for (name, source) in &self.headers {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                problems.push(format!(
                    "legacy_validation.headers.{name}: not a header name"
                ));
                continue;
            }
            match source.resolve() {
                Ok(v) => out.push((name.clone(), v)),
                Err(e) => problems.push(format!("legacy_validation.headers.{name}: {e}")),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str, keys: bool) -> Vec<String> {
        let config: LegacyValidationConfig = toml::from_str(text).expect("section");
        let mut problems = Vec::new();
        let _ = config.validate(keys, &mut problems);
        problems
    }

    /// Credentials in the URL would bypass the secret handling (no `file`
    /// or `env`, and the URL is printed by `Debug` of the validator and
    /// the settings): the section has `client_secret` and `headers` for
    /// them.
    #[test]
    fn a_url_with_credentials_is_refused() {
        for url in [
            "https://bridge:s3cret-in-url@legacy.example.com/introspect",
            "https://s3cret-in-url@legacy.example.com/introspect",
        ] {
            let found = problems(&format!("source = \"userinfo\"\nurl = \"{url}\"\n"), false);
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].contains("credentials"), "{found:?}");
            assert!(!found[0].contains("s3cret-in-url"), "{found:?}");
        }
    }

    #[test]
    fn each_source_needs_what_it_reads() {
        assert!(problems("source = \"lt1\"\n", true).is_empty());
        assert!(problems("source = \"lt1\"\n", false)[0].contains("[legacy_token] keys"));
        assert!(problems("source = \"userinfo\"\n", false)[0].contains("url: required"));
        assert!(
            problems(
                "source = \"userinfo\"\nurl = \"http://legacy.example.com/me\"\n",
                false
            )[0]
            .contains("https")
        );
        assert!(
            problems(
                "source = \"introspection\"\nurl = \"https://legacy.example.com/introspect\"\nclient_id = \"bridge\"\n",
                false
            )[0]
            .contains("go together")
        );
        assert!(
            problems(
                "source = \"introspection\"\nurl = \"https://legacy.example.com/introspect\"\nclient_id = \"bridge\"\nclient_secret = \"s\"\n",
                false
            )
            .is_empty()
        );
    }

    #[test]
    fn answers_are_kept_briefly_and_claims_never_shadow_the_answer() {
        let base = "source = \"lt1\"\n";
        assert!(!problems(&format!("{base}cache_seconds = 3600\n"), true).is_empty());
        assert!(
            !problems(
                &format!("{base}cache_seconds = 10\nnegative_cache_seconds = 20\n"),
                true
            )
            .is_empty()
        );
        assert!(problems(&format!("{base}claims = [\"sub\"]\n"), true)[0].contains("member"));
        assert!(problems(&format!("{base}claims = [\"active\"]\n"), true)[0].contains("member"));
    }
}
