//! The authorization request's rules (RFC 6749 §4.1.1, RFC 7636, OIDC Core
//! §3.1.2), without HTTP: [`validate`] checks the client and the redirect
//! URI first; until both are known good, errors are [`AuthorizeError::Page`],
//! shown on the bridge's own page and never redirected (RFC 6749 §4.1.2.1).
//! After that, errors are [`AuthorizeError::Redirect`], sent back through
//! [`super::response`] with `error`, `error_description`, `state` and `iss`.
//! A valid request becomes an [`AuthorizationRequest`], which the browser
//! side (`crate::login`) carries through the login form.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::claims::{self, ClaimsError, RequestedClaims};
use super::split_scope;
use crate::config::Client;
use crate::keys::SigningKeys;

/// An authorization request that passed validation, waiting for the login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The client.
    pub client_id: String,
    /// The exact redirect URI.
    pub redirect_uri: String,
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
    pub expires_at: i64,
}

/// Where an authorization request failed.
#[derive(Debug)]
pub enum AuthorizeError {
    /// Before the redirect URI is trusted: shown on our page.
    Page(&'static str),
    /// After: redirected to the client.
    Redirect {
        /// The client's redirect URI.
        redirect_uri: String,
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
#[allow(clippy::implicit_hasher)] // axum hands us the default hasher
pub fn validate(
    params: &HashMap<String, String>,
    clients: &std::collections::BTreeMap<String, Client>,
    now: i64,
    ttl: i64,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let get = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    let client = get("client_id")
        .and_then(|id| clients.get(&id))
        .ok_or(AuthorizeError::Page(
            "The application that sent you here is not registered with this sign-in service.",
        ))?;
    let redirect_uri = get("redirect_uri")
        .filter(|r| client.redirect_uris.iter().any(|allowed| allowed == r))
        .ok_or(AuthorizeError::Page(
            "The application that sent you here gave a return address that is not registered.",
        ))?;
    let state = params.get("state").cloned();
    let form_post = get("response_mode").as_deref() == Some("form_post");
    let fail = |error, description| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        description,
        state: state.clone(),
        form_post,
    };
    match params.get("response_type").map(String::as_str) {
        Some("code") => {}
        None | Some("") => return Err(fail("invalid_request", "response_type is required")),
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
    }
    if let Some(mode) = get("response_mode") {
        if mode != "query" && mode != "form_post" {
            return Err(fail(
                "invalid_request",
                "response_mode must be query or form_post",
            ));
        }
    }
    if get("request").is_some() {
        return Err(fail(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if get("request_uri").is_some() {
        return Err(fail(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    let code_challenge = get("code_challenge");
    if let Err(description) = pkce_request(
        client,
        code_challenge.as_deref(),
        get("code_challenge_method").as_deref(),
    ) {
        return Err(fail("invalid_request", description));
    }
    let prompts: Vec<&str> = params.get("prompt").map_or(Vec::new(), |p| {
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
        match get("max_age") {
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                fail("invalid_request", "max_age must be a non-negative integer")
            })?),
            None => None,
        };
    let claims = claims_request(get("claims").as_deref(), client)
        .map_err(|(error, description)| fail(error, description))?;
    // RFC 6749 §3.3: the server may grant fewer scopes than asked.
    let scopes: Vec<String> = split_scope(params.get("scope").map_or("", String::as_str))
        .into_iter()
        .filter(|s| client.scopes.contains(s))
        .collect();
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri,
        scopes,
        state,
        nonce: get("nonce"),
        code_challenge,
        login_hint: get("login_hint"),
        form_post,
        prompt_none,
        max_age,
        hint_sub: claims.subject,
        claims: claims.requested,
        expires_at: now + ttl,
    })
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
    hint: Option<&String>,
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
