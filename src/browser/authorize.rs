//! `GET|POST /authorize`, the browser's entry, on an [`Authorize`] (its
//! handlers are in `handlers`). The request is checked by
//! [`crate::protocol::provider::authorize`]; a valid one renders the login form with
//! the request sealed into it ([`super::pending`]) and a double-submit CSRF
//! cookie ([`super::csrf`]): nothing is written before the password check.
//! `prompt=none` is answered from the login session without a page. The
//! form's submission is [`super::submit`].

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use tower_sessions::Session;

use super::locale::Locale;
use super::pages::{FormContent, error_page, login_form};
use super::pending::PendingLogin;
use super::upstream::Start;
use super::{csrf, session};
use crate::domain::config::{Branding, Settings};
use crate::domain::keys::SigningKeys;
use crate::domain::metrics::Metrics;
use crate::domain::sealed_grant;
use crate::domain::store::GrantStore;
use crate::domain::types::UnixTime;
use crate::domain::upstream::redirect::{Hints, RedirectIdp};
use crate::domain::upstream::{LegacyGrant, LegacyIdp};
use crate::protocol::provider::authorize::{
    AuthorizationParams, AuthorizationRequest, AuthorizeError, check_hint, validate,
};
use crate::protocol::provider::code::{CodeIssuer, CodeTimes, IssuedFor, issue_code};
use crate::protocol::provider::response::respond;
use crate::util::crypto::{StorageKey, random_token};

/// What `/authorize` uses: the code issuer for `prompt=none` (the issuer,
/// clients, lifetimes, storage key and signing keys with it), the pages'
/// branding, whether cookies are Secure, the audit counters, and the
/// redirect legacy IdP's hand-off when it signs users in on its own page.
#[derive(Debug)]
pub struct Authorize<'a, S: ?Sized> {
    /// Issues `prompt=none`'s code; its issuer, clients, lifetimes,
    /// storage key and signing keys serve the whole request.
    pub codes: CodeIssuer<'a, S>,
    /// The pages' branding.
    pub branding: &'a Branding,
    /// Whether cookies are `Secure` (and `__Host-`).
    pub secure_cookie: bool,
    /// Audit counters.
    pub metrics: &'a Metrics,
    /// The hand-off to a redirect legacy IdP (`oidc`, `oauth2`), instead
    /// of the password form.
    pub redirect: Option<Start<'a>>,
}

impl<'a, S: ?Sized> Authorize<'a, S> {
    /// Over the configured issuer, clients, lifetimes, branding and cookies,
    /// and the parts named (`upstream`: whether it can renew; `redirect`:
    /// the adapter when it signs users in on its own page).
    pub fn new(
        settings: &'a Settings,
        store: &'a S,
        storage: &'a StorageKey,
        keys: &'a SigningKeys,
        upstream: &dyn LegacyIdp,
        metrics: &'a Metrics,
        redirect: Option<&'a RedirectIdp>,
    ) -> Self {
        Self {
            codes: CodeIssuer::new(settings, store, storage, keys, upstream),
            branding: &settings.branding,
            secure_cookie: settings.secure_cookie,
            metrics,
            redirect: redirect.map(|r| Start::new(settings, r, storage, metrics)),
        }
    }
}

/// `/authorize` for its parameters, by `GET` or `POST`.
pub async fn authorize<S: GrantStore + ?Sized>(
    input: &Authorize<'_, S>,
    session: &Session,
    headers: &HeaderMap,
    params: AuthorizationParams,
) -> Response {
    let codes = &input.codes;
    let validated = validate(
        &params,
        codes.clients,
        UnixTime::now(),
        codes.tokens.login_ttl_seconds,
    )
    .and_then(|p| check_hint(codes.keys, codes.issuer, p, params.id_token_hint.as_deref()));
    match validated {
        Ok(request) if request.prompt_none => {
            let (params, error) = match silent(codes, input.metrics, session, &request).await {
                Ok(code) => (vec![("code", code)], None),
                Err(error) => (Vec::new(), Some(error)),
            };
            let mut answer: Vec<(&str, &str)> =
                params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Some(error) = error {
                answer.push(("error", error));
                answer.push(("error_description", "the user must sign in"));
            }
            respond(
                &request.redirect_uri,
                answer,
                request.state.as_deref(),
                codes.issuer,
                request.form_post,
            )
        }
        Ok(request) => {
            let locale = Locale::negotiate(
                params.ui_locales.as_deref(),
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            );
            let pending = PendingLogin {
                id: random_token(),
                request,
                locale,
            };
            if let Some(start) = &input.redirect {
                let login_hint = pending.request.login_hint.clone();
                let hints = Hints {
                    prompt: upstream_prompt(params.prompt.as_deref()),
                    max_age: pending.request.max_age,
                    login_hint: login_hint.as_deref(),
                    ui_locales: params.ui_locales.as_deref(),
                };
                return super::upstream::start(start, headers, pending, &hints).await;
            }
            show_form(input, headers, &pending)
        }
        Err(AuthorizeError::Page { message, cause }) => error_page(
            input.branding,
            StatusCode::BAD_REQUEST,
            "This sign-in request cannot be used",
            message,
            &format!("invalid authorization request: {cause}"),
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
            codes.issuer,
            form_post,
        ),
    }
}

/// The `prompt` values worth passing to a redirect legacy IdP: `login`,
/// `consent` and `select_account` mean the same there (`none` is answered
/// by the bridge itself).
fn upstream_prompt(prompt: Option<&str>) -> Option<String> {
    let kept: Vec<&str> = prompt?
        .split(' ')
        .filter(|p| matches!(*p, "login" | "consent" | "select_account"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(" "))
}

/// The login form for a valid request, with the CSRF cookie when the
/// browser has none yet.
fn show_form<S: ?Sized>(
    input: &Authorize<'_, S>,
    headers: &HeaderMap,
    pending: &PendingLogin,
) -> Response {
    let (branding, secure_cookie) = (input.branding, input.secure_cookie);
    // Double-submit CSRF: a random cookie the form must echo, and the one
    // the sealed request is bound to. No row is written before the password
    // check.
    let existing = csrf::from_request(headers, secure_cookie);
    let token = existing.clone().unwrap_or_else(random_token);
    let sealed = match pending.seal(input.codes.storage, &token) {
        Ok(sealed) => sealed,
        Err(e) => {
            return error_page(
                branding,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again.",
                &format!("cannot encode the pending login: {e}"),
            );
        }
    };
    let content = FormContent {
        locale: pending.locale,
        request: &sealed,
        csrf: &token,
        username: pending.request.login_hint.as_deref().unwrap_or(""),
        message: None,
    };
    let mut response = login_form(branding, &content, StatusCode::OK);
    if existing.is_none() {
        csrf::set(&mut response, &token, secure_cookie);
    }
    response
}

/// `prompt=none` (OIDC Core §3.1.2.1): a code from the existing session
/// without any page, or `login_required`. The bridge cannot check a legacy
/// password silently, so the session's own grant must still hold a live
/// legacy token, and it must be the same client's: a legacy token never
/// passes from one client to another. The new grant shares the token
/// (without the legacy refresh token, which stays with the grant that logged
/// in); revoking either revokes the token for both (see
/// [`crate::domain::store::GrantStore::revoke_grant`]). A store that cannot answer is
/// `temporarily_unavailable`, not a reason to ask for a login.
async fn silent<S: GrantStore + ?Sized>(
    codes: &CodeIssuer<'_, S>,
    metrics: &Metrics,
    session: &Session,
    request: &AuthorizationRequest,
) -> Result<String, &'static str> {
    let now = UnixTime::now();
    let user = session::user(session)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read the login session");
            "temporarily_unavailable"
        })?
        .ok_or("login_required")?;
    if request
        .max_age
        .is_some_and(|max| now.seconds_since(user.auth_time) > max)
    {
        return Err("login_required");
    }
    if request
        .hint_sub
        .as_ref()
        .is_some_and(|sub| *sub != user.sub)
    {
        return Err("login_required");
    }
    let grant = codes
        .store
        .grant(&user.grant_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read the session's grant");
            "temporarily_unavailable"
        })?
        .filter(|g| !g.revoked && g.token_expires_at > now.as_secs() && g.subject == user.sub)
        .filter(|g| g.client_id == request.client_id)
        .ok_or("login_required")?;
    let token = sealed_grant::access_token(codes.storage, &grant).ok_or_else(|| {
        tracing::error!(grant = %grant.id, "the session's grant holds a sealed legacy token no configured storage key opens");
        "login_required"
    })?;
    let profile = serde_json::from_str(&grant.profile_json).map_err(|_| "login_required")?;
    let legacy = LegacyGrant {
        access_token: token,
        expires_at: grant.token_expires_at,
        refresh_token: None,
        profile,
    };
    let source = IssuedFor::Session { source: &grant.id };
    let issued = issue_code(
        codes,
        request,
        &legacy,
        source,
        CodeTimes {
            auth_time: user.auth_time,
            now,
        },
    )
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "cannot store the grant");
        "temporarily_unavailable"
    })?
    // The session's grant was revoked meanwhile.
    .ok_or("login_required")?;
    crate::audit!(metrics, "login_success", reason = "session", client_id = %request.client_id, subject = %user.sub);
    Ok(issued.code)
}
