//! The authorization request's rules (RFC 6749 §4.1.1, RFC 7636, OIDC Core
//! §3.1.2), without HTTP: [`validate`] checks the client and the redirect
//! URI first; until both are known good, errors are [`AuthorizeError::Page`],
//! shown on the bridge's own page and never redirected (RFC 6749 §4.1.2.1).
//! After that, errors are [`AuthorizeError::Redirect`], sent back through
//! [`super::response`] with `error`, `error_description`, `state` and `iss`.
//! A valid request becomes an [`AuthorizationRequest`], which the browser
//! side (`crate::browser`) carries through the login form.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::claims::{self, ClaimsError, RequestedClaims};
use super::split_scope;
use crate::domain::config::Client;
use crate::domain::keys::SigningKeys;
use crate::domain::types::{ClientId, RedirectUri, UnixTime};
use crate::util::refusal::shown;

/// The authorization request's parameters as sent (RFC 6749 §4.1.1, RFC
/// 7636 §4.3, OIDC Core §3.1.2.1, OIDC Core §5.5); unknown parameters are
/// ignored, as Auth0 expects. `None` is absent; `Some("")` is sent empty
/// (which counts as absent, RFC 6749 §3.1, except where noted).
#[derive(Default, Clone, Deserialize)]
pub struct AuthorizationParams {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `response_type` (empty is "missing").
    pub response_type: Option<String>,
    /// `response_mode`.
    pub response_mode: Option<String>,
    /// `scope`, split on spaces and commas.
    pub scope: Option<String>,
    /// `state`, echoed byte for byte, even empty.
    pub state: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `code_challenge`.
    pub code_challenge: Option<String>,
    /// `code_challenge_method`.
    pub code_challenge_method: Option<String>,
    /// `prompt`.
    pub prompt: Option<String>,
    /// `max_age`.
    pub max_age: Option<String>,
    /// `claims` (JSON).
    pub claims: Option<String>,
    /// `request` (refused).
    pub request: Option<String>,
    /// `request_uri` (refused).
    pub request_uri: Option<String>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `id_token_hint`.
    pub id_token_hint: Option<String>,
    /// `ui_locales`.
    pub ui_locales: Option<String>,
    /// `state` was sent but is not UTF-8 once decoded, so it could not be
    /// echoed byte for byte (RFC 6749 §A.5 allows only printable ASCII).
    #[serde(skip)]
    pub state_not_utf8: bool,
}

impl AuthorizationParams {
    /// From the query or form, as axum parses it (the last of a repeated
    /// parameter wins).
    #[allow(clippy::implicit_hasher)] // axum hands us the default hasher
    pub fn from_map(map: &HashMap<String, String>) -> Self {
        let get = |k: &str| map.get(k).cloned();
        Self {
            client_id: get("client_id"),
            redirect_uri: get("redirect_uri"),
            response_type: get("response_type"),
            response_mode: get("response_mode"),
            scope: get("scope"),
            state: get("state"),
            nonce: get("nonce"),
            code_challenge: get("code_challenge"),
            code_challenge_method: get("code_challenge_method"),
            prompt: get("prompt"),
            max_age: get("max_age"),
            claims: get("claims"),
            request: get("request"),
            request_uri: get("request_uri"),
            login_hint: get("login_hint"),
            id_token_hint: get("id_token_hint"),
            ui_locales: get("ui_locales"),
            state_not_utf8: false,
        }
    }

    /// From a raw query string or form body: as [`Self::from_map`], and
    /// noting a `state` whose bytes are not UTF-8 (which the map holds with
    /// U+FFFD in place of them).
    pub fn from_raw(raw: &[u8]) -> Self {
        let map: HashMap<String, String> = form_urlencoded::parse(raw).into_owned().collect();
        let mut params = Self::from_map(&map);
        params.state_not_utf8 = raw
            .split(|b| *b == b'&')
            .filter_map(|pair| {
                let mut parts = pair.splitn(2, |b| *b == b'=');
                Some((parts.next()?, parts.next().unwrap_or_default()))
            })
            .filter(|(name, _)| decoded(name) == b"state")
            .any(|(_, value)| std::str::from_utf8(&decoded(value)).is_err());
        params
    }
}

/// `application/x-www-form-urlencoded` decoding of one name or value.
fn decoded(raw: &[u8]) -> Vec<u8> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&plus_as_space).collect()
}

/// A parameter's value unless absent or empty.
fn given(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.is_empty()).cloned()
}

/// An authorization request that passed validation, waiting for the login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: ClientId,
    /// The exact redirect URI.
    pub redirect_uri: RedirectUri,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `state`, echoed byte for byte.
    pub state: Option<String>,
    /// `nonce`, only if sent.
    pub nonce: Option<String>,
    /// S256 challenge.
    pub code_challenge: Option<String>,
    /// Login hint, to prefill the username.
    pub login_hint: Option<String>,
    /// Answer with an auto-submitting form instead of a redirect.
    #[serde(default)]
    pub form_post: bool,
    /// `prompt=none`: answer from the session or fail, never show a page.
    #[serde(default)]
    pub prompt_none: bool,
    /// `max_age`, seconds.
    #[serde(default)]
    pub max_age: Option<i64>,
    /// The subject the client asked for: the `sub` of a valid
    /// `id_token_hint`, or a `claims` request's `sub` value.
    #[serde(default)]
    pub hint_sub: Option<String>,
    /// Claims asked for one by one (`claims` parameter).
    #[serde(default)]
    pub claims: RequestedClaims,
    /// Until when the form may be submitted.
    pub expires_at: UnixTime,
}

/// Where an authorization request failed.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Before the redirect URI is trusted: shown on our page.
    Page {
        /// For the person.
        message: &'static str,
        /// For the operator: the client id and redirect URI sent, against
        /// those registered (never a secret).
        cause: String,
    },
    /// After: redirected to the client.
    Redirect {
        /// The client's redirect URI.
        redirect_uri: RedirectUri,
        /// RFC 6749 §4.1.2.1 error code.
        error: &'static str,
        /// Description.
        description: &'static str,
        /// `state` to echo.
        state: Option<String>,
        /// Answer with form_post.
        form_post: bool,
    },
}

/// Validates an authorization request (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2).
pub fn validate(
    params: &AuthorizationParams,
    clients: &std::collections::BTreeMap<String, Client>,
    now: UnixTime,
    ttl: i64,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let sent_client = given(params.client_id.as_ref());
    // Parsed here, where the request enters: the body below takes the types.
    let (client, client_id) = sent_client
        .as_deref()
        .and_then(|id| Some((clients.get(id)?, ClientId::new(id).ok()?)))
        .ok_or_else(|| AuthorizeError::Page {
            message: "The application that sent you here is not registered with this sign-in service.",
            cause: match &sent_client {
                Some(id) => format!(
                    "client_id {} is not registered (registered: {})",
                    shown(id),
                    clients.keys().map(|k| shown(k)).collect::<Vec<_>>().join(", ")
                ),
                None => "no client_id".to_owned(),
            },
        })?;
    let sent_uri = given(params.redirect_uri.as_ref());
    let redirect_uri = sent_uri
        .clone()
        .filter(|r| client.redirect_uris.iter().any(|allowed| allowed == r))
        .and_then(|r| RedirectUri::parse(r).ok())
        .ok_or_else(|| AuthorizeError::Page {
            message: "The application that sent you here gave a return address that is not registered.",
            cause: format!(
                "client {}: redirect_uri {} is not one of the registered {}",
                shown(client.id.as_str()),
                sent_uri.as_deref().map_or_else(|| "(none)".to_owned(), shown),
                client
                    .redirect_uris
                    .iter()
                    .map(|u| shown(u.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    let form_post = params.response_mode.as_deref() == Some("form_post");
    if params.state_not_utf8 {
        // Refused, without a state: a lossy copy would not be the client's.
        return Err(AuthorizeError::Redirect {
            redirect_uri,
            error: "invalid_request",
            description: "state must be UTF-8 (RFC 6749 allows printable ASCII)",
            state: None,
            form_post,
        });
    }
    let state = params.state.clone();
    let fail = |error, description| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        description,
        state: state.clone(),
        form_post,
    };
    response_shape(params).map_err(|(error, description)| fail(error, description))?;
    let code_challenge = given(params.code_challenge.as_ref());
    if let Err(description) = pkce_request(
        client,
        code_challenge.as_deref(),
        given(params.code_challenge_method.as_ref()).as_deref(),
    ) {
        return Err(fail("invalid_request", description));
    }
    let prompts: Vec<&str> = params.prompt.as_ref().map_or(Vec::new(), |p| {
        p.split(' ').filter(|s| !s.is_empty()).collect()
    });
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        // OIDC Core §3.1.2.1: none with anything else is an error.
        return Err(fail(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age =
        match given(params.max_age.as_ref()) {
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                fail("invalid_request", "max_age must be a non-negative integer")
            })?),
            None => None,
        };
    let claims = claims_request(given(params.claims.as_ref()).as_deref(), client)
        .map_err(|(error, description)| fail(error, description))?;
    // RFC 6749 §3.3: the server may grant fewer scopes than asked.
    let scopes: Vec<String> = split_scope(params.scope.as_deref().unwrap_or(""))
        .into_iter()
        .filter(|s| client.scopes.contains(s))
        .collect();
    Ok(AuthorizationRequest {
        client_id,
        redirect_uri,
        scopes,
        state,
        nonce: given(params.nonce.as_ref()),
        code_challenge,
        login_hint: given(params.login_hint.as_ref()),
        form_post,
        prompt_none,
        max_age,
        hint_sub: claims.subject,
        claims: claims.requested,
        expires_at: now.plus(ttl),
    })
}

/// What may be asked for: `response_type=code`, a `response_mode` of
/// `query` or `form_post`, and no request object (by value or reference).
fn response_shape(params: &AuthorizationParams) -> Result<(), (&'static str, &'static str)> {
    match params.response_type.as_deref() {
        Some("code") => {}
        None | Some("") => return Err(("invalid_request", "response_type is required")),
        Some(_) => {
            return Err((
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
    }
    if given(params.response_mode.as_ref()).is_some_and(|m| m != "query" && m != "form_post") {
        return Err((
            "invalid_request",
            "response_mode must be query or form_post",
        ));
    }
    if given(params.request.as_ref()).is_some() {
        return Err(("request_not_supported", "request objects are not supported"));
    }
    if given(params.request_uri.as_ref()).is_some() {
        return Err(("request_uri_not_supported", "request_uri is not supported"));
    }
    Ok(())
}

/// The `claims` parameter, parsed for `client`; the error and description
/// to redirect with when it is refused.
fn claims_request(
    text: Option<&str>,
    client: &Client,
) -> Result<claims::ClaimsRequest, (&'static str, &'static str)> {
    let Some(text) = text else {
        return Ok(claims::ClaimsRequest::default());
    };
    let request = claims::parse(text, &client.scopes)
        .map_err(|ClaimsError::Malformed(why)| ("invalid_request", why))?;
    if request.essential_acr {
        // OIDC Core §5.5.1.1: an essential acr that cannot be met is a failed
        // authentication; the bridge asserts none, so say so before asking
        // for a password.
        return Err((
            "access_denied",
            "the requested authentication context class cannot be met",
        ));
    }
    Ok(request)
}

/// RFC 7636 §4.3 on the authorization request: S256 only (a missing method
/// means plain, which is refused), a well-formed challenge, and PKCE when
/// the client requires it.
fn pkce_request(
    client: &Client,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<(), &'static str> {
    match (challenge, method) {
        (None, None) if client.require_pkce => Err("PKCE (S256) is required for this client"),
        (None, None) => Ok(()),
        (None, Some(_)) => Err("code_challenge_method without code_challenge"),
        (Some(_), None | Some("plain")) => Err("only the S256 code challenge method is supported"),
        (Some(c), Some("S256")) => {
            let well_formed = (43..=128).contains(&c.len())
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if well_formed {
                Ok(())
            } else {
                Err("code_challenge is malformed")
            }
        }
        (Some(_), Some(_)) => Err("unsupported code_challenge_method"),
    }
}

/// Checks an `id_token_hint`: it must be an ID token this bridge issued
/// (expired is fine); its `sub` must then match the session.
pub fn check_hint(
    keys: &SigningKeys,
    issuer: &str,
    mut pending: AuthorizationRequest,
    hint: Option<&str>,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let Some(hint) = hint.filter(|h| !h.is_empty()) else {
        return Ok(pending);
    };
    let fail = |description| AuthorizeError::Redirect {
        redirect_uri: pending.redirect_uri.clone(),
        error: "invalid_request",
        description,
        state: pending.state.clone(),
        form_post: pending.form_post,
    };
    let sub = keys
        .verify_own(hint, issuer)
        .and_then(|c| c["sub"].as_str().map(str::to_owned))
        .ok_or_else(|| fail("id_token_hint is not an ID token this server issued"))?;
    if pending.hint_sub.as_ref().is_some_and(|s| *s != sub) {
        return Err(fail("id_token_hint and claims name different users"));
    }
    pending.hint_sub = Some(sub);
    Ok(pending)
}
