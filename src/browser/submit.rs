//! `POST /login`, the login form's submission: the CSRF token and the
//! sealed pending request are checked, the password goes to the legacy IdP
//! (throttled per username and address, per address and per username,
//! [`super::throttle`]), the grant is
//! stored with its single-use code ([`crate::protocol::provider::code`]), the login
//! session starts with a new id, and the browser is sent back (303) with
//! `code`, `state`, `iss`. The body runs on a [`PasswordSignIn`]; its
//! handler is in `handlers`.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tower_sessions::Session;

use super::attempt::{self, Attempt, Failure, Gate, SignInPath};
use super::locale::{Locale, Texts};
use super::pages::{FormContent, error_page, login_form};
use super::pending::PendingLogin;
use super::session::SessionUser;
use super::{csrf, session, throttle};
use crate::domain::config::{Branding, Settings};
use crate::domain::keys::SigningKeys;
use crate::domain::metrics::Metrics;
use crate::domain::store::{GrantStore, LoginOnce, ThrottleStore};
use crate::domain::types::UnixTime;
use crate::domain::upstream::{LegacyGrant, LegacyIdp, UpstreamError};
use crate::protocol::provider::code::{CodeIssuer, CodeTimes, IssuedFor, issue_code};
use crate::protocol::provider::response::respond;
use crate::util::crypto::StorageKey;
use crate::util::secret::Password;

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    request: String,
    csrf: String,
    username: String,
    password: Password,
}

/// What the person is told for each upstream failure class. Invalid
/// credentials never say whether the user exists.
fn failure_message(e: &UpstreamError, texts: &Texts) -> (StatusCode, &'static str) {
    match e {
        UpstreamError::InvalidCredentials => (StatusCode::UNAUTHORIZED, texts.wrong_credentials),
        UpstreamError::Locked => (StatusCode::FORBIDDEN, texts.locked),
        UpstreamError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, texts.unavailable),
        UpstreamError::Protocol(_) | UpstreamError::Unsupported(_) => {
            tracing::error!(error = %e, "legacy IdP answered unexpectedly");
            (StatusCode::BAD_GATEWAY, texts.unexpected)
        }
    }
}

/// The form as posted and its pending request ([`check_submission`]). An
/// error page, not the extractor's plain-text 422, when it lacks a field
/// or is not a form at all (a browser always sends every field; anything
/// else is not a person at the form). With a redirect legacy IdP, whatever
/// was posted, the page saying this form is not used.
#[allow(clippy::result_large_err)] // the error is the page, answered at once
fn submission<S: ?Sized>(
    input: &PasswordSignIn<'_, S>,
    headers: &HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<(LoginForm, PendingLogin), Response> {
    let branding = input.branding;
    if input.redirecting {
        return Err(not_used(branding));
    }
    let Form(form) = form.map_err(|rejection| {
        error_page(
            branding,
            StatusCode::BAD_REQUEST,
            "This sign-in page expired",
            "Go back to the application and start signing in again.",
            &format!("the login form is incomplete: {}", rejection.body_text()),
        )
    })?;
    let pending = check_submission(input, headers, &form)?;
    Ok((form, pending))
}

/// The page for a password posted while the legacy IdP signs users in on
/// its own page: no password is ever taken here, even from a form made
/// before a config change.
fn not_used(branding: &Branding) -> Response {
    error_page(
        branding,
        StatusCode::NOT_FOUND,
        "This sign-in page is not used",
        "Go back to the application and start signing in again.",
        "a password was posted, but the adapter signs users in on the legacy IdP's page",
    )
}

/// The CSRF check and the sealed pending request: an error page if either fails.
#[allow(clippy::result_large_err)] // the error is the page, answered at once
fn check_submission<S: ?Sized>(
    input: &PasswordSignIn<'_, S>,
    headers: &HeaderMap,
    form: &LoginForm,
) -> Result<PendingLogin, Response> {
    let branding = input.branding;
    if csrf::cross_site(headers, input.codes.issuer) {
        return Err(error_page(
            branding,
            StatusCode::FORBIDDEN,
            "Your sign-in session expired",
            "Go back to the application and start signing in again.",
            "login form posted from another site",
        ));
    }
    let cookie = csrf::from_request(headers, input.secure_cookie);
    if !csrf::matches(cookie.as_deref(), &form.csrf) {
        return Err(error_page(
            branding,
            StatusCode::FORBIDDEN,
            "Your sign-in session expired",
            "Go back to the application and start signing in again.",
            "CSRF token missing or wrong",
        ));
    }
    let cookie = cookie.unwrap_or_default();
    PendingLogin::open(input.codes.storage, &cookie, &form.request).ok_or_else(|| {
        error_page(
            branding,
            StatusCode::BAD_REQUEST,
            "This sign-in page expired",
            "Go back to the application and start signing in again.",
            "pending login missing, tampered or expired",
        )
    })
}

/// Asks the legacy IdP under the throttle ([`attempt::authenticate`]) and
/// turns a failure into the page's status and message.
async fn authenticate_throttled<S: ThrottleStore + ?Sized>(
    gate: &Gate<'_, S>,
    locale: Locale,
    attempt: &Attempt<'_>,
    password: &Password,
) -> Result<LegacyGrant, (StatusCode, String)> {
    attempt::authenticate(gate, attempt, password, SignInPath::LoginPage)
        .await
        .map_err(|failure| match failure {
            Failure::Throttled(left) => (StatusCode::TOO_MANY_REQUESTS, locale.lockout(left)),
            Failure::Upstream(e) => {
                let (status, message) = failure_message(&e, locale.texts());
                (status, message.to_owned())
            }
            Failure::Store => (
                StatusCode::SERVICE_UNAVAILABLE,
                locale.texts().unavailable.to_owned(),
            ),
        })
}

/// What `POST /login` uses: the password check under the throttle (the
/// counters' store, `[throttle]`, the legacy IdP, the audit counters), the
/// code issuer (the issuer, storage key and signing keys with it), the
/// pages' branding, whether cookies are Secure, and whether the legacy IdP
/// signs users in on its own page instead.
#[derive(Debug)]
pub struct PasswordSignIn<'a, S: ?Sized> {
    /// Checks the password under the throttle.
    pub gate: Gate<'a, S>,
    /// Issues the code; its storage key opens the pending request.
    pub codes: CodeIssuer<'a, S>,
    /// The pages' branding.
    pub branding: &'a Branding,
    /// Whether cookies are `Secure` (and `__Host-`).
    pub secure_cookie: bool,
    /// The legacy IdP signs users in on its own page: no password is taken.
    pub redirecting: bool,
}

impl<'a, S: ?Sized> PasswordSignIn<'a, S> {
    /// Over the configured issuer, clients, lifetimes, `[throttle]`,
    /// branding and cookies, and the parts named.
    pub fn new(
        settings: &'a Settings,
        store: &'a S,
        storage: &'a StorageKey,
        keys: &'a SigningKeys,
        upstream: &'a dyn LegacyIdp,
        metrics: &'a Metrics,
        redirecting: bool,
    ) -> Self {
        Self {
            gate: Gate::new(&settings.throttle, store, upstream, metrics),
            codes: CodeIssuer::new(settings, store, storage, keys, upstream),
            branding: &settings.branding,
            secure_cookie: settings.secure_cookie,
            redirecting,
        }
    }
}

/// `POST /login`, the form as posted by the browser at `peer`.
pub async fn login<S: GrantStore + ThrottleStore + ?Sized>(
    input: &PasswordSignIn<'_, S>,
    session: &Session,
    peer: std::net::SocketAddr,
    headers: &HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let (gate, codes, metrics) = (&input.gate, &input.codes, input.gate.metrics);
    let (form, pending) = match submission(input, headers, form) {
        Ok(checked) => checked,
        Err(page) => return page,
    };
    let request = &pending.request;
    tracing::Span::current().record("client_id", request.client_id.as_str());
    let username = form.username.trim();
    let texts = pending.locale.texts();
    let form_with = |message: &str, status| {
        let content = FormContent {
            locale: pending.locale,
            request: &form.request,
            csrf: &form.csrf,
            username,
            message: Some(message),
        };
        login_form(input.branding, &content, status)
    };
    if username.is_empty()
        || username.len() > 256
        || form.password.secret().is_empty()
        || form.password.secret().len() > 1024
    {
        return form_with(texts.missing_fields, StatusCode::BAD_REQUEST);
    }
    let attempt = Attempt::new(gate.settings, codes.storage, username, headers, peer);
    let grant = match authenticate_throttled(gate, pending.locale, &attempt, &form.password).await {
        Ok(g) => g,
        Err((status, message)) => return form_with(&message, status),
    };
    let counters = &attempt.counters;
    if request
        .hint_sub
        .as_ref()
        .is_some_and(|sub| *sub != grant.profile.subject)
    {
        // OIDC Core §3.1.2.1 (id_token_hint) and §5.5.1 (a sub value): never
        // answer for a different user than the one asked for.
        if let Err(e) = throttle::settle(gate.store, counters, true).await {
            tracing::error!(error = %e, "cannot settle a login attempt");
        }
        crate::audit!(metrics, "login_failure", reason = "other_subject", client_id = %request.client_id, user = %attempt.user, address = %attempt.address);
        return respond(
            &request.redirect_uri,
            vec![
                ("error", "login_required"),
                (
                    "error_description",
                    "the user who signed in is not the one requested",
                ),
            ],
            request.state.as_deref(),
            codes.issuer,
            request.form_post,
        );
    }
    let now = UnixTime::now();
    let login = LoginOnce {
        id: pending.id.clone(),
        expires_at: request.expires_at.as_secs(),
    };
    let (sign_in, times) = (
        IssuedFor::SignIn(Some(login), Some(counters.release(true))),
        CodeTimes::signed_in_now(now),
    );
    let issued = match issue_code(codes, request, &grant, sign_in, times).await {
        Ok(Some(issued)) => issued,
        Ok(None) => {
            crate::audit_warn!(metrics, "login_form_replay", "a login form was submitted again after it signed in", client_id = %request.client_id);
            return error_page(
                input.branding,
                StatusCode::BAD_REQUEST,
                "This sign-in page was already used",
                "Go back to the application and start signing in again.",
                "login form replayed after a successful sign-in",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store the grant");
            return form_with(texts.unavailable, StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let user = SessionUser {
        sub: grant.profile.subject.clone(),
        auth_time: now,
        grant_id: issued.grant_id,
    };
    if let Err(e) = session::start(session, user).await {
        // The code is valid; only prompt=none and logout lack a session.
        tracing::warn!(error = %e, "cannot start the login session");
    }
    crate::audit!(metrics, "login_success", reason = "password", subject = %grant.profile.subject);
    respond(
        &request.redirect_uri,
        vec![("code", issued.code.as_str())],
        request.state.as_deref(),
        codes.issuer,
        request.form_post,
    )
}
