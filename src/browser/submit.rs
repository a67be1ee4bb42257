//! `POST /login`, the login form's submission: the CSRF token and the
//! sealed pending request are checked, the password goes to the legacy IdP
//! (throttled per username and address, per address and per username,
//! [`super::throttle`]), the grant is
//! stored with its single-use code ([`crate::protocol::provider::code`]), the login
//! session starts with a new id, and the browser is sent back (303) with
//! `code`, `state`, `iss`.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tower_sessions::Session;
use tracing::instrument;

use super::locale::{Locale, Texts};
use super::pages::{FormContent, error_page, login_form};
use super::pending::PendingLogin;
use super::session::SessionUser;
use super::throttle::Reserved;
use super::{csrf, session, throttle};
use crate::app::state::AppState;
use crate::domain::config::{Branding, Settings, ThrottleSettings};
use crate::domain::metrics::Metrics;
use crate::domain::store::{LoginOnce, ThrottleStore};
use crate::domain::upstream::{LegacyGrant, LegacyIdp, UpstreamError};
use crate::protocol::provider::code::{IssuedFor, issue_code};
use crate::protocol::provider::response::respond;
use crate::util::clock::now_unix;
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
fn submission(
    settings: &Settings,
    storage: &StorageKey,
    redirecting: bool,
    headers: &HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<(LoginForm, PendingLogin), Response> {
    let branding = &settings.branding;
    if redirecting {
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
    let pending = check_submission(settings, storage, headers, &form)?;
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
fn check_submission(
    settings: &Settings,
    storage: &StorageKey,
    headers: &HeaderMap,
    form: &LoginForm,
) -> Result<PendingLogin, Response> {
    let branding = &settings.branding;
    if csrf::cross_site(headers, &settings.issuer) {
        return Err(error_page(
            branding,
            StatusCode::FORBIDDEN,
            "Your sign-in session expired",
            "Go back to the application and start signing in again.",
            "login form posted from another site",
        ));
    }
    let cookie = csrf::from_request(headers, settings.secure_cookie);
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
    PendingLogin::open(storage, &cookie, &form.request).ok_or_else(|| {
        error_page(
            branding,
            StatusCode::BAD_REQUEST,
            "This sign-in page expired",
            "Go back to the application and start signing in again.",
            "pending login missing, tampered or expired",
        )
    })
}

/// Who is attempting, as the throttle counts it and the audit lines name
/// it.
struct Attempt<'a> {
    username: &'a str,
    counters: throttle::Counters,
    /// The username as audit lines show it ([`throttle::audit_user`]).
    user: String,
    /// The client address ([`throttle::client_address`]).
    address: std::net::IpAddr,
}

impl<'a> Attempt<'a> {
    /// `username` from the request's client address.
    fn new(
        settings: &ThrottleSettings,
        storage: &StorageKey,
        username: &'a str,
        headers: &HeaderMap,
        peer: std::net::SocketAddr,
    ) -> Self {
        let address = throttle::client_address(headers, peer, settings);
        Self {
            username,
            counters: throttle::Counters::new(username, address),
            user: throttle::audit_user(settings.audit_username, storage, username),
            address,
        }
    }
}

/// What a password check uses: the throttle counters' store and settings,
/// the legacy IdP and the audit counters.
#[derive(Debug)]
pub struct Gate<'a, S: ?Sized> {
    /// The throttle counters.
    pub store: &'a S,
    /// `[throttle]`.
    pub settings: &'a ThrottleSettings,
    /// Checks the password.
    pub upstream: &'a dyn LegacyIdp,
    /// Audit counters.
    pub metrics: &'a Metrics,
}

/// Asks the legacy IdP with an attempt reserved under the attempt's
/// counters ([`throttle`]); a refused reservation never reaches it. After a
/// success the reservation is still out: the caller settles it with the
/// grant's write. Every failure with a credential in it (wrong password,
/// locked account, throttled) is answered after the same delay for its
/// count, so timing tells nothing; each is audited with the username (as
/// configured) and the client address, never the password.
async fn authenticate_throttled<S: ThrottleStore + ?Sized>(
    gate: &Gate<'_, S>,
    locale: Locale,
    attempt: &Attempt<'_>,
    password: &Password,
) -> Result<LegacyGrant, (StatusCode, String)> {
    let Gate {
        store,
        settings,
        upstream,
        metrics,
    } = *gate;
    let (counters, user, address) = (&attempt.counters, &attempt.user, attempt.address);
    let lockout = |left| (StatusCode::TOO_MANY_REQUESTS, locale.lockout(left));
    let counts = match throttle::reserve(store, settings, counters, now_unix()).await {
        Ok(Reserved::Go(counts)) => counts,
        Ok(Reserved::Refused {
            locked_for,
            scope,
            attempt,
        }) => {
            crate::audit!(metrics, "login_failure", reason = "throttled", user = %user, address = %address, scope = scope.as_str());
            tokio::time::sleep(throttle::delay(settings, attempt)).await;
            return Err(lockout(locked_for));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot reserve a login attempt");
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                locale.texts().unavailable.to_owned(),
            ));
        }
    };
    let outcome = upstream.authenticate(attempt.username, password).await;
    let settled = match &outcome {
        Ok(_) => Ok(()),
        Err(UpstreamError::InvalidCredentials) => {
            crate::audit!(metrics, "login_failure", reason = "invalid_credentials", user = %user, address = %address);
            match throttle::failed(store, settings, counters, counts, now_unix()).await {
                Ok(began) => {
                    if let Some(scope) = began {
                        // Counted by scope: many `user` lockouts are a
                        // distributed guess, many `address` ones a spray.
                        crate::audit!(metrics, "login_lockout", reason = scope.as_str(), user = %user, address = %address);
                    }
                    tokio::time::sleep(throttle::delay(settings, counts.user_address)).await;
                    if began.is_some() {
                        return Err(lockout(settings.lockout_seconds));
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => {
            // The cause says which outage: refused, DNS, TLS, timeout, status.
            crate::audit!(metrics, "login_failure", reason = e.class(), cause = %e, user = %user, address = %address);
            if *e == UpstreamError::Locked {
                tokio::time::sleep(throttle::delay(settings, counts.user_address)).await;
            }
            throttle::settle(store, counters, false).await
        }
    };
    if let Err(e) = settled {
        tracing::error!(error = %e, "cannot settle a login attempt");
    }
    outcome.map_err(|e| {
        let (status, message) = failure_message(&e, locale.texts());
        (status, message.to_owned())
    })
}

/// `POST /login`.
#[instrument(skip_all, fields(client_id))]
pub async fn login_post(
    State(state): State<AppState>,
    session: Session,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let redirecting = state.redirect.is_some();
    let (form, pending) =
        match submission(&state.settings, &state.storage, redirecting, &headers, form) {
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
        login_form(&state.settings.branding, &content, status)
    };
    if username.is_empty()
        || username.len() > 256
        || form.password.secret().is_empty()
        || form.password.secret().len() > 1024
    {
        return form_with(texts.missing_fields, StatusCode::BAD_REQUEST);
    }
    let gate = state.login_gate();
    let attempt = Attempt::new(gate.settings, &state.storage, username, &headers, peer);
    let grant = match authenticate_throttled(&gate, pending.locale, &attempt, &form.password).await
    {
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
        if let Err(e) = throttle::settle(state.store.as_ref(), counters, true).await {
            tracing::error!(error = %e, "cannot settle a login attempt");
        }
        crate::audit!(state.metrics, "login_failure", reason = "other_subject", client_id = %request.client_id, user = %attempt.user, address = %attempt.address);
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
            &state.settings.issuer,
            request.form_post,
        );
    }
    let now = now_unix();
    let login = LoginOnce {
        id: pending.id.clone(),
        expires_at: request.expires_at,
    };
    let sign_in = IssuedFor::SignIn(Some(login), Some(counters.release(true)));
    let issued = match issue_code(&state.code_issuer(), request, &grant, sign_in, (now, now)).await
    {
        Ok(Some(issued)) => issued,
        Ok(None) => {
            crate::audit_warn!(state.metrics, "login_form_replay", "a login form was submitted again after it signed in", client_id = %request.client_id);
            return error_page(
                &state.settings.branding,
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
    if let Err(e) = session::start(&session, user).await {
        // The code is valid; only prompt=none and logout lack a session.
        tracing::warn!(error = %e, "cannot start the login session");
    }
    crate::audit!(state.metrics, "login_success", reason = "password", subject = %grant.profile.subject);
    respond(
        &request.redirect_uri,
        vec![("code", issued.code.as_str())],
        request.state.as_deref(),
        &state.settings.issuer,
        request.form_post,
    )
}
