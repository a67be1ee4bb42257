//! The authorization endpoint.
//!
//! `GET|POST /authorize` checks the client and the redirect URI first; until
//! both are known good, errors are shown on the bridge's own page and never
//! redirected (RFC 6749 §4.1.2.1). After that, errors redirect with `error`,
//! `error_description`, `state` and `iss` (RFC 9207). A valid request renders
//! the login form with the request sealed into it and a double-submit CSRF
//! cookie: nothing is written before the password check. `prompt=none` is
//! answered from the session without a page. The form's submission is
//! [`super::sign_in`].

use std::collections::HashMap;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::claims::{self, ClaimsError, RequestedClaims};
use super::sign_in::{csrf_cookie, issue_code, login_form, set_csrf_cookie};
use super::split_scope;
use crate::app::AppState;
use crate::config::Client;
use crate::crypto::random_token;
use crate::login::locale::Locale;
use crate::login::{error_page, render};
use crate::upstream::{LegacyGrant, now_unix};

pub(super) const PENDING_PURPOSE: &str = "pending-login";
pub(super) const USER_KEY: &str = "user";

/// An authorization request that passed validation, waiting for the login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
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
    /// The login page's language (`ui_locales`, else `Accept-Language`).
    #[serde(default)]
    pub locale: Locale,
    /// Until when the form may be submitted.
    pub expires_at: i64,
}

/// Who is signed in, kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    /// Legacy subject.
    pub sub: String,
    /// When they authenticated.
    pub auth_time: i64,
    /// The grant of that login: its legacy token serves `prompt=none`.
    #[serde(default)]
    pub grant_id: String,
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
) -> Result<PendingLogin, AuthorizeError> {
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
    Ok(PendingLogin {
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
        locale: Locale::default(),
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
pub(super) fn respond<'a>(
    redirect_uri: &str,
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
    if !form_post {
        return see_other(&redirect_with(redirect_uri, params));
    }
    let nonce = random_token();
    let mut response = render(
        StatusCode::OK,
        &crate::login::FormPostPage {
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
pub(crate) fn see_other(location: &str) -> Response {
    let mut response = Redirect::to(location).into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
}

/// `GET /authorize`.
#[allow(clippy::implicit_hasher)]
pub async fn authorize_get(
    state: State<AppState>,
    session: Session,
    headers: HeaderMap,
    axum::extract::Query(params): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    authorize(&state, &session, &headers, &params).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1 allows form posts).
#[allow(clippy::implicit_hasher)]
pub async fn authorize_post(
    state: State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    authorize(&state, &session, &headers, &params).await
}

async fn authorize(
    State(state): &State<AppState>,
    session: &Session,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Response {
    let settings = &state.settings;
    let validated = validate(
        params,
        &settings.clients,
        now_unix(),
        settings.tokens.login_ttl_seconds,
    )
    .and_then(|p| check_hint(state, p, params.get("id_token_hint")));
    match validated {
        Ok(pending) if pending.prompt_none => match silent(state, session, &pending).await {
            Ok(code) => respond(
                &pending.redirect_uri,
                vec![("code", code.as_str())],
                pending.state.as_deref(),
                &settings.issuer,
                pending.form_post,
            ),
            Err(error) => respond(
                &pending.redirect_uri,
                vec![
                    ("error", error),
                    ("error_description", "the user must sign in"),
                ],
                pending.state.as_deref(),
                &settings.issuer,
                pending.form_post,
            ),
        },
        Ok(mut pending) => {
            pending.locale = Locale::negotiate(
                params.get("ui_locales").map(String::as_str),
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            );
            let Ok(sealed) = serde_json::to_vec(&pending)
                .map(|json| state.storage.seal_text(PENDING_PURPOSE, &json))
            else {
                return error_page(
                    &settings.branding,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "Please try again.",
                    "cannot encode the pending login",
                );
            };
            // Double-submit CSRF: a random cookie the form must echo. No
            // row is written before the password check.
            let existing = csrf_cookie(headers, state.settings.secure_cookie);
            let csrf = existing.clone().unwrap_or_else(random_token);
            let mut response = login_form(
                state,
                pending.locale,
                &sealed,
                &csrf,
                pending.login_hint.as_deref().unwrap_or(""),
                None,
                StatusCode::OK,
            );
            if existing.is_none() {
                set_csrf_cookie(&mut response, &csrf, state.settings.secure_cookie);
            }
            response
        }
        Err(AuthorizeError::Page(message)) => error_page(
            &settings.branding,
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be used",
            message,
            "invalid authorization request",
        ),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            description,
            state: st,
            form_post,
        }) => respond(
            &redirect_uri,
            vec![("error", error), ("error_description", description)],
            st.as_deref(),
            &settings.issuer,
            form_post,
        ),
    }
}

/// Checks an `id_token_hint`: it must be an ID token this bridge issued
/// (expired is fine); its `sub` must then match the session.
fn check_hint(
    state: &AppState,
    mut pending: PendingLogin,
    hint: Option<&String>,
) -> Result<PendingLogin, AuthorizeError> {
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
    let sub = state
        .keys
        .verify_own(hint, &state.settings.issuer)
        .and_then(|c| c["sub"].as_str().map(str::to_owned))
        .ok_or_else(|| fail("id_token_hint is not an ID token this server issued"))?;
    if pending.hint_sub.as_ref().is_some_and(|s| *s != sub) {
        return Err(fail("id_token_hint and claims name different users"));
    }
    pending.hint_sub = Some(sub);
    Ok(pending)
}

/// `prompt=none` (OIDC Core §3.1.2.1): a code from the existing session
/// without any page, or `login_required`. The bridge cannot check a legacy
/// password silently, so the session's own grant must still hold a live
/// legacy token; the new grant shares it (without the legacy refresh token,
/// which stays with the grant that logged in).
async fn silent(
    state: &AppState,
    session: &Session,
    pending: &PendingLogin,
) -> Result<String, &'static str> {
    let now = now_unix();
    let user = session
        .get::<SessionUser>(USER_KEY)
        .await
        .ok()
        .flatten()
        .ok_or("login_required")?;
    if pending
        .max_age
        .is_some_and(|max| now - user.auth_time > max)
    {
        return Err("login_required");
    }
    if pending
        .hint_sub
        .as_ref()
        .is_some_and(|sub| *sub != user.sub)
    {
        return Err("login_required");
    }
    let grant = state
        .store
        .grant(&user.grant_id)
        .await
        .ok()
        .flatten()
        .filter(|g| !g.revoked && g.token_expires_at > now && g.subject == user.sub)
        .ok_or("login_required")?;
    let token = state
        .storage
        .open("legacy-token", &grant.token_sealed)
        .and_then(|t| String::from_utf8(t).ok())
        .ok_or("login_required")?;
    let profile = serde_json::from_str(&grant.profile_json).map_err(|_| "login_required")?;
    let legacy = LegacyGrant {
        access_token: crate::secret::LegacyAccessToken::new(token),
        expires_at: grant.token_expires_at,
        refresh_token: None,
        profile,
    };
    let (code, _) = issue_code(state, pending, &legacy, user.auth_time, now)
        .await
        .map_err(|_| "temporarily_unavailable")?;
    crate::audit!(state.metrics, "login_success", reason = "session", client_id = %pending.client_id, subject = %user.sub);
    Ok(code)
}
