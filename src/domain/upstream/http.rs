//! The `http` adapter: a legacy password API reached by configuration alone.
//!
//! The login request's method, URL, body encoding, field names, static fields
//! and headers are configured; so is where the token, its expiry, the refresh
//! token and the profile are found in the answer, and which statuses mean
//! "wrong password", "locked" or "unavailable". See `[upstream.http]` in
//! `docs/upstream.md`.
//!
//! It runs past 500 lines because building a request and reading its answer
//! follow the same configuration keys and are read side by side; the shared
//! limits (no redirects, size cap, timeouts) are in `fetch`, the JSON
//! pointers in `pointer`.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, Request, StatusCode};
use serde_json::Value;
use tracing::instrument;

use super::config::{
    BodyFormat, HttpAdapterConfig, HttpRequestConfig, ProfileEndpointConfig, StatusConfig,
    TokenLocation, UpstreamConfigError,
};
use super::fetch::{Fetched, Fetcher};
use super::{
    LegacyGrant, LegacyIdp, Profile, RenewedGrant, UpstreamError, pointer, profile_after_renewal,
};
use crate::domain::types::Subject;
use crate::util::clock::now_unix;
use crate::util::legacy_token::{Lt1Keys, looks_like_lt1};
use crate::util::secret::SecretSource;
use crate::util::secret::{LegacyAccessToken, LegacyRefreshToken, Password, SecretValue};

/// A request template with its secrets resolved once, at start.
#[derive(Debug, Clone)]
struct PreparedRequest {
    method: Method,
    config: HttpRequestConfig,
    extra_fields: Vec<(String, SecretValue)>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// What a login or renew answer yields: the token, its expiry (unix
/// seconds), a refresh token, and the JSON body when there is one.
type TokenAnswer = (
    LegacyAccessToken,
    i64,
    Option<LegacyRefreshToken>,
    Option<Value>,
);

/// The `http` adapter.
#[derive(Debug)]
pub struct HttpIdp {
    config: HttpAdapterConfig,
    fetch: Fetcher,
    lt1: Option<Lt1Keys>,
    login: PreparedRequest,
    renew: Option<PreparedRequest>,
    mint: Option<PreparedRequest>,
    lookup: Option<PreparedRequest>,
    profile_headers: Vec<(HeaderName, HeaderValue)>,
}

impl HttpIdp {
    /// Checks the settings, resolves their secrets and builds the client.
    pub fn new(
        config: HttpAdapterConfig,
        lt1: Option<Lt1Keys>,
    ) -> Result<Self, UpstreamConfigError> {
        let base = "upstream.http";
        let common = resolve_headers(&config.headers, &format!("{base}.headers"))?;
        let login = prepare(&config.login, &common, &format!("{base}.login"))?;
        let renew = config
            .renew
            .as_ref()
            .map(|r| prepare(r, &common, &format!("{base}.renew")))
            .transpose()?;
        let mint = config
            .mint
            .as_ref()
            .map(|r| prepare(r, &common, &format!("{base}.mint")))
            .transpose()?;
        let lookup = config
            .lookup
            .as_ref()
            .map(|r| prepare(r, &common, &format!("{base}.lookup")))
            .transpose()?;
        let profile_headers = match &config.profile {
            Some(p) => {
                super::config::check_http_url(&p.url, &format!("{base}.profile.url"))?;
                let mut headers = common.clone();
                headers.extend(resolve_headers(
                    &p.headers,
                    &format!("{base}.profile.headers"),
                )?);
                HeaderName::try_from(p.token_header.as_str()).map_err(|_| {
                    UpstreamConfigError::new(
                        format!("{base}.profile.token_header"),
                        "not a valid header name",
                    )
                })?;
                Method::try_from(p.method.as_str()).map_err(|_| {
                    UpstreamConfigError::new(format!("{base}.profile.method"), "not an HTTP method")
                })?;
                headers
            }
            None => common,
        };
        check_pointers(&config)?;
        if config.response.expiry_from_lt1 && lt1.is_none() {
            return Err(UpstreamConfigError::new(
                format!("{base}.response.expiry_from_lt1"),
                "needs at least one key in [legacy_token.keys]",
            ));
        }
        let fetch = Fetcher::new(
            Duration::from_millis(config.timeout_ms),
            Duration::from_millis(config.connect_timeout_ms),
            config.max_response_bytes,
        )
        .map_err(|e| UpstreamConfigError::new(base, e))?;
        Ok(Self {
            config,
            fetch,
            lt1,
            login,
            renew,
            mint,
            lookup,
            profile_headers,
        })
    }

    /// Reads a login or renew answer: its status sorted into a failure
    /// class, then the token, expiry, refresh token, and the JSON body when
    /// there is one.
    pub(crate) fn read_answer(&self, answer: &Fetched) -> Result<TokenAnswer, UpstreamError> {
        classify_status(answer.status, &self.config.status)?;
        self.read_token_answer(answer)
    }

    /// Where the profile is read from a JSON answer.
    pub(crate) fn claims_config(&self) -> &super::config::ClaimsConfig {
        &self.config.claims
    }

    fn read_token_answer(&self, answer: &Fetched) -> Result<TokenAnswer, UpstreamError> {
        let json: Option<Value> = serde_json::from_slice(&answer.body).ok();
        let response = &self.config.response;
        let token = match &response.token {
            TokenLocation::JsonPointer(p) => {
                let json = json
                    .as_ref()
                    .ok_or_else(|| UpstreamError::Protocol("the answer is not JSON".into()))?;
                pointer::string_at(json, p).ok_or_else(|| {
                    UpstreamError::Protocol(format!("no token at the JSON pointer {p}"))
                })?
            }
            TokenLocation::Header(name) => answer
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| UpstreamError::Protocol(format!("no token in the header {name}")))?,
            TokenLocation::Body => std::str::from_utf8(&answer.body)
                .map_err(|_| UpstreamError::Protocol("the token body is not UTF-8".into()))?
                .trim()
                .to_owned(),
        };
        check_token(&token)?;
        let expires_at = self.expiry(&token, json.as_ref(), answer);
        let refresh = match (&response.refresh_token_pointer, &json) {
            (Some(p), Some(json)) => pointer::string_at(json, p)
                .filter(|s| !s.is_empty())
                .map(LegacyRefreshToken::new),
            _ => None,
        };
        Ok((LegacyAccessToken::new(token), expires_at, refresh, json))
    }

    /// Expiry, in order of preference: seconds-to-live, absolute time (body,
    /// then header), the token itself when it is LT1, the configured default.
    fn expiry(&self, token: &str, json: Option<&Value>, answer: &Fetched) -> i64 {
        let now = now_unix();
        let response = &self.config.response;
        let from_json = json.and_then(|json| {
            response
                .expires_in_pointer
                .as_deref()
                .and_then(|p| pointer::seconds_at(json, p))
                .map(|s| now.saturating_add(s))
                .or_else(|| {
                    response
                        .expires_at_pointer
                        .as_deref()
                        .and_then(|p| pointer::string_at(json, p))
                        .and_then(|t| pointer::parse_instant(&t))
                })
        });
        let from_header = || {
            response
                .expires_at_header
                .as_deref()
                .and_then(|h| answer.headers.get(h))
                .and_then(|v| v.to_str().ok())
                .and_then(pointer::parse_instant)
        };
        let from_lt1 = || {
            let keys = self.lt1.as_ref().filter(|_| response.expiry_from_lt1)?;
            if !looks_like_lt1(token) {
                return None;
            }
            keys.validate(token, now).ok().map(|claims| claims.exp)
        };
        from_json
            .or_else(from_header)
            .or_else(from_lt1)
            .unwrap_or_else(|| now.saturating_add(self.config.default_expires_in))
    }

    async fn fetch_profile(
        &self,
        endpoint: &ProfileEndpointConfig,
        token: &LegacyAccessToken,
    ) -> Result<Profile, UpstreamError> {
        let method = Method::try_from(endpoint.method.as_str()).unwrap_or(Method::GET);
        let value = if endpoint.token_scheme.is_empty() {
            token.secret().to_owned()
        } else {
            format!("{} {}", endpoint.token_scheme, token.secret())
        };
        let mut value = HeaderValue::try_from(value)
            .map_err(|_| UpstreamError::Protocol("the token cannot be sent in a header".into()))?;
        value.set_sensitive(true);
        let mut request = self
            .fetch
            .client()
            .request(method, endpoint.url.clone())
            .header(endpoint.token_header.as_str(), value);
        for (name, value) in &self.profile_headers {
            request = request.header(name, value.clone());
        }
        let request = request.build().map_err(super::fetch::classify)?;
        let answer = self.fetch.send(request).await?;
        match classify_status(answer.status, &self.config.status) {
            // A profile call made with a token just issued should not be
            // refused; if it is, the answer is unusable, not the password wrong.
            Ok(()) => {}
            Err(UpstreamError::InvalidCredentials) => {
                return Err(UpstreamError::Protocol(format!(
                    "the profile endpoint refused the token ({})",
                    answer.status
                )));
            }
            Err(e) => return Err(e),
        }
        let json: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| UpstreamError::Protocol("the profile answer is not JSON".into()))?;
        pointer::profile_from(&json, &self.config.claims)
    }

    async fn profile_for(
        &self,
        token: &LegacyAccessToken,
        json: Option<&Value>,
    ) -> Result<Profile, UpstreamError> {
        match (&self.config.profile, json) {
            (Some(endpoint), _) => self.fetch_profile(endpoint, token).await,
            (None, Some(json)) => pointer::profile_from(json, &self.config.claims),
            (None, None) => Err(UpstreamError::Protocol(
                "the answer is not JSON and no profile endpoint is configured".into(),
            )),
        }
    }
}

#[async_trait]
impl LegacyIdp for HttpIdp {
    #[instrument(skip_all, fields(adapter = "http"))]
    async fn authenticate(
        &self,
        username: &str,
        password: &Password,
    ) -> Result<LegacyGrant, UpstreamError> {
        let fields = [
            (self.login.config.username_field.as_str(), username),
            (self.login.config.password_field.as_str(), password.secret()),
        ];
        let request = self.build(&self.login, &fields)?;
        let answer = self.fetch.send(request).await?;
        let (access_token, expires_at, refresh_token, json) = self.read_answer(&answer)?;
        let profile = self.profile_for(&access_token, json.as_ref()).await?;
        Ok(LegacyGrant {
            access_token,
            expires_at,
            refresh_token,
            profile,
        })
    }

    #[instrument(skip_all, fields(adapter = "http"))]
    async fn renew(
        &self,
        refresh_token: &LegacyRefreshToken,
        known: Option<&Profile>,
    ) -> Result<RenewedGrant, UpstreamError> {
        let renew = self
            .renew
            .as_ref()
            .ok_or(UpstreamError::Unsupported("renew"))?;
        let fields = [(
            renew.config.refresh_token_field.as_str(),
            refresh_token.secret(),
        )];
        let request = self.build(renew, &fields)?;
        let answer = self.fetch.send(request).await?;
        let (access_token, expires_at, new_refresh, json) = self.read_answer(&answer)?;
        // The legacy IdP may have rotated the refresh token: a profile it
        // cannot give now must not fail the renewal.
        let profile = match (&self.config.profile, json.as_ref()) {
            (Some(endpoint), _) => {
                let read = self.fetch_profile(endpoint, &access_token).await;
                profile_after_renewal(read, known)
            }
            // A renew answer need not carry the user: none is no failure.
            (None, Some(json)) => pointer::profile_from(json, &self.config.claims)
                .ok()
                .and_then(|p| profile_after_renewal(Ok(p), known)),
            (None, None) => None,
        };
        Ok(RenewedGrant {
            access_token,
            expires_at,
            refresh_token: new_refresh,
            profile,
        })
    }

    #[instrument(skip_all, fields(adapter = "http"))]
    async fn profile(&self, access_token: &LegacyAccessToken) -> Result<Profile, UpstreamError> {
        let endpoint = self
            .config
            .profile
            .as_ref()
            .ok_or(UpstreamError::Unsupported("profile"))?;
        self.fetch_profile(endpoint, access_token).await
    }

    fn can_renew(&self) -> bool {
        self.renew.is_some()
    }

    #[instrument(skip_all, fields(adapter = "http"))]
    async fn mint(&self, subject: &Subject) -> Result<RenewedGrant, UpstreamError> {
        let mint = self
            .mint
            .as_ref()
            .ok_or(UpstreamError::Unsupported("minting"))?;
        let fields = [(mint.config.subject_field.as_str(), subject.as_str())];
        let request = self.build(mint, &fields)?;
        let answer = self.fetch.send(request).await?;
        let (access_token, expires_at, refresh_token, json) = self.read_answer(&answer)?;
        let profile = json
            .as_ref()
            .and_then(|json| pointer::profile_from(json, &self.config.claims).ok());
        Ok(RenewedGrant {
            access_token,
            expires_at,
            refresh_token,
            profile,
        })
    }

    #[instrument(skip_all, fields(adapter = "http"))]
    async fn lookup(&self, email: &str) -> Result<Option<Profile>, UpstreamError> {
        let lookup = self
            .lookup
            .as_ref()
            .ok_or(UpstreamError::Unsupported("user lookup"))?;
        let request = self.build(lookup, &[(lookup.config.email_field.as_str(), email)])?;
        let answer = self.fetch.send(request).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        classify_status(answer.status, &self.config.status)?;
        let json: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| UpstreamError::Protocol("the lookup answer is not JSON".into()))?;
        pointer::profile_from(&json, &self.config.claims).map(Some)
    }
}

impl HttpIdp {
    /// Builds a request from a template plus per-call fields.
    fn build(
        &self,
        prepared: &PreparedRequest,
        fields: &[(&str, &str)],
    ) -> Result<Request, UpstreamError> {
        let extra = prepared
            .extra_fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.secret()));
        let all: Vec<(&str, &str)> = extra.chain(fields.iter().copied()).collect();
        let (content_type, body) = match prepared.config.body {
            BodyFormat::Json => {
                let map: serde_json::Map<String, Value> = all
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
                    .collect();
                ("application/json", Value::Object(map).to_string())
            }
            BodyFormat::Form => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.extend_pairs(all);
                ("application/x-www-form-urlencoded", form.finish())
            }
        };
        let mut request = self
            .fetch
            .client()
            .request(prepared.method.clone(), prepared.config.url.clone())
            .header(CONTENT_TYPE, content_type)
            .header(
                reqwest::header::ACCEPT,
                "application/json, text/plain;q=0.9, */*;q=0.1",
            )
            .body(body);
        for (name, value) in &prepared.headers {
            request = request.header(name, value.clone());
        }
        request.build().map_err(super::fetch::classify)
    }
}

/// Sorts a status: success, or the error class it stands for.
pub(crate) fn classify_status(status: StatusCode, map: &StatusConfig) -> Result<(), UpstreamError> {
    let code = status.as_u16();
    if status.is_success() {
        Ok(())
    } else if status.is_redirection() {
        Err(UpstreamError::Protocol(format!(
            "a redirect ({code}) was not followed"
        )))
    } else if map.locked.contains(&code) {
        Err(UpstreamError::Locked)
    } else if map.invalid_credentials.contains(&code) {
        Err(UpstreamError::InvalidCredentials)
    } else if map.unavailable.contains(&code) || status.is_server_error() {
        Err(UpstreamError::Unavailable(format!("status {code}")))
    } else {
        Err(UpstreamError::Protocol(format!("unexpected status {code}")))
    }
}

/// A legacy token is passed on verbatim in `Authorization: Bearer`, so it must
/// be non-empty visible ASCII without spaces.
pub(crate) fn check_token(token: &str) -> Result<(), UpstreamError> {
    if token.is_empty() {
        return Err(UpstreamError::Protocol("the token is empty".into()));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(UpstreamError::Protocol(
            "the token has characters that cannot be sent as a bearer token".into(),
        ));
    }
    Ok(())
}

fn prepare(
    config: &HttpRequestConfig,
    common: &[(HeaderName, HeaderValue)],
    key: &str,
) -> Result<PreparedRequest, UpstreamConfigError> {
    let method = Method::try_from(config.method.as_str())
        .map_err(|_| UpstreamConfigError::new(format!("{key}.method"), "not an HTTP method"))?;
    super::config::check_http_url(&config.url, &format!("{key}.url"))?;
    let mut headers = common.to_vec();
    headers.extend(resolve_headers(&config.headers, &format!("{key}.headers"))?);
    let extra_fields = config
        .extra_fields
        .iter()
        .map(|(name, source)| {
            source
                .resolve()
                .map(|v| (name.clone(), v))
                .map_err(|e| UpstreamConfigError::new(format!("{key}.extra_fields.{name}"), e))
        })
        .collect::<Result<_, _>>()?;
    Ok(PreparedRequest {
        method,
        config: config.clone(),
        extra_fields,
        headers,
    })
}

/// Resolves configured headers; values are marked sensitive so they are
/// never printed by the HTTP stack.
pub(crate) fn resolve_headers(
    headers: &std::collections::BTreeMap<String, SecretSource>,
    key: &str,
) -> Result<Vec<(HeaderName, HeaderValue)>, UpstreamConfigError> {
    headers
        .iter()
        .map(|(name, source)| {
            let header = HeaderName::try_from(name.as_str()).map_err(|_| {
                UpstreamConfigError::new(format!("{key}.{name}"), "not a valid header name")
            })?;
            let value = source
                .resolve()
                .map_err(|e| UpstreamConfigError::new(format!("{key}.{name}"), e))?;
            let mut value = HeaderValue::try_from(value.secret()).map_err(|_| {
                UpstreamConfigError::new(format!("{key}.{name}"), "not a valid header value")
            })?;
            value.set_sensitive(true);
            Ok((header, value))
        })
        .collect()
}

fn check_pointers(config: &HttpAdapterConfig) -> Result<(), UpstreamConfigError> {
    let r = &config.response;
    let c = &config.claims;
    let mut all: Vec<(String, &str)> =
        vec![("upstream.http.claims.subject".into(), c.subject.as_str())];
    if let TokenLocation::JsonPointer(p) = &r.token {
        all.push(("upstream.http.response.token.json_pointer".into(), p));
    }
    for (key, p) in [
        ("response.expires_in_pointer", &r.expires_in_pointer),
        ("response.expires_at_pointer", &r.expires_at_pointer),
        ("response.refresh_token_pointer", &r.refresh_token_pointer),
        ("claims.email", &c.email),
        ("claims.name", &c.name),
    ] {
        if let Some(p) = p {
            all.push((format!("upstream.http.{key}"), p));
        }
    }
    for (name, p) in &c.extra {
        all.push((format!("upstream.http.claims.extra.{name}"), p));
    }
    match all.into_iter().find(|(_, p)| !pointer::is_valid(p)) {
        Some((key, _)) => Err(UpstreamConfigError::new(
            key,
            "a JSON pointer must be empty or start with /",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_classes() {
        let map = StatusConfig::default();
        let class = |code| {
            classify_status(StatusCode::from_u16(code).expect("status"), &map)
                .map_err(|e| e.class())
        };
        assert_eq!(class(200), Ok(()));
        assert_eq!(class(401), Err("invalid_credentials"));
        assert_eq!(class(423), Err("locked"));
        assert_eq!(class(503), Err("unavailable"));
        assert_eq!(class(429), Err("unavailable"));
        assert_eq!(class(302), Err("protocol"));
        assert_eq!(class(418), Err("protocol"));
    }

    #[test]
    fn tokens_must_be_sendable_as_bearer() {
        assert!(check_token("LT1.k.abc").is_ok());
        assert!(check_token("").is_err());
        assert!(check_token("a b").is_err());
        assert!(check_token("a\nb").is_err());
    }
}
