//! `POST /login`, the login form's submission: the CSRF token and the
//! sealed pending request are checked, the password goes to the legacy IdP
//! (throttled per username and address), the grant is stored with its
//! single-use code (one row), the login session starts or has its id
//! cycled, and the browser is sent back (303) with `code`, `state`, `iss`.
//! The form itself and its CSRF cookie are made here too, for `/authorize`.

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use tower_sessions::Session;
use tracing::instrument;

use super::authorize::{PENDING_PURPOSE, PendingLogin, SessionUser, USER_KEY, respond};
use super::id_token::{self, IdTokenInput};
use crate::app::AppState;
use crate::crypto::{random_token, sha256};
use crate::login::locale::{Locale, Texts};
use crate::login::{LoginPage, error_page, render, throttle};
use crate::secret::Password;
use crate::store::{CodeRow, GrantRow};
use crate::upstream::{LegacyGrant, UpstreamError, now_unix};

/// The CSRF cookie's name: `__Host-` when `Secure`, so no subdomain can
/// plant one (RFC 6265bis §4.1.3.2).
fn csrf_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-idp_bridge_csrf"
    } else {
        "idp_bridge_csrf"
    }
}

/// The CSRF cookie's value, if the browser sent a well-formed one.
pub(super) fn csrf_cookie(headers: &HeaderMap, secure: bool) -> Option<String> {
    let name = csrf_cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

pub(super) fn set_csrf_cookie(response: &mut Response, token: &str, secure: bool) {
    let secure_attr = if secure { "; Secure" } else { "" };
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax{secure_attr}",
        csrf_cookie_name(secure)
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(super) fn login_form(
    state: &AppState,
    locale: Locale,
    request: &str,
    csrf: &str,
    username: &str,
    message: Option<&str>,
    status: StatusCode,
) -> Response {
    let b = &state.settings.branding;
    let texts = locale.texts();
    // An operator's own label stays as configured; the default is translated.
    let username_label = if b.username_label == "Username" {
        texts.username
    } else {
        &b.username_label
    };
    render(
        status,
        &LoginPage {
            texts,
            organization: &b.organization,
            username_label,
            help_text: b.help_text.as_deref(),
            request,
            csrf,
            username,
            message,
        },
    )
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

/// The CSRF check and the sealed pending request: an error page if either fails.
#[allow(clippy::result_large_err)] // the error is the page, answered at once
fn check_submission(
    state: &AppState,
    headers: &HeaderMap,
    form: &LoginForm,
) -> Result<PendingLogin, Response> {
    let branding = &state.settings.branding;
    let expected = csrf_cookie(headers, state.settings.secure_cookie);
    let csrf_ok = expected.is_some_and(|e| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            e.as_bytes(),
            form.csrf.as_bytes(),
        ))
    });
    if !csrf_ok {
        return Err(error_page(
            branding,
            StatusCode::FORBIDDEN,
            "Your sign-in session expired",
            "Go back to the application and start signing in again.",
            "CSRF token missing or wrong",
        ));
    }
    state
        .storage
        .open_text(PENDING_PURPOSE, &form.request)
        .and_then(|json| serde_json::from_slice::<PendingLogin>(&json).ok())
        .filter(|p| p.expires_at >= now_unix())
        .ok_or_else(|| {
            error_page(
                branding,
                StatusCode::BAD_REQUEST,
                "This sign-in page expired",
                "Go back to the application and start signing in again.",
                "pending login missing, tampered or expired",
            )
        })
}

/// Asks the legacy IdP unless the username or address is locked out;
/// counts a wrong password and answers it after the growing delay.
async fn authenticate_throttled(
    state: &AppState,
    locale: Locale,
    keys: &throttle::Keys,
    username: &str,
    password: &Password,
) -> Result<LegacyGrant, (StatusCode, String)> {
    let store = state.store.as_ref();
    let settings = &state.settings.throttle;
    let lockout = |left| (StatusCode::TOO_MANY_REQUESTS, locale.lockout(left));
    let standing = match throttle::standing(store, keys, now_unix()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the login throttle");
            return Err((
                StatusCode::SERVICE_UNAVAILABLE,
                locale.texts().unavailable.to_owned(),
            ));
        }
    };
    if let Some(left) = standing.locked_for {
        crate::audit!(state.metrics, "login_failure", reason = "throttled");
        return Err(lockout(left));
    }
    match state.upstream.authenticate(username, password).await {
        Ok(grant) => {
            if let Err(e) = throttle::succeeded(store, keys, standing).await {
                tracing::warn!(error = %e, "cannot clear the login throttle");
            }
            Ok(grant)
        }
        Err(e) => {
            crate::audit!(state.metrics, "login_failure", reason = e.class());
            if e == UpstreamError::InvalidCredentials {
                match throttle::failed(store, settings, keys, now_unix()).await {
                    Ok((delay, locked_now)) => {
                        tokio::time::sleep(delay).await;
                        if locked_now {
                            return Err(lockout(settings.lockout_seconds));
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot count a failed login"),
                }
            }
            let (status, message) = failure_message(&e, locale.texts());
            Err((status, message.to_owned()))
        }
    }
}

/// Stores the grant (the legacy token sealed, looked up by its hash) and a
/// single-use code for it, in one transaction; returns the code.
pub(super) async fn issue_code(
    state: &AppState,
    pending: &PendingLogin,
    grant: &LegacyGrant,
    auth_time: i64,
    now: i64,
) -> Result<(String, String), crate::store::StoreError> {
    let code = random_token();
    let grant_id = random_token();
    let token = grant.access_token.secret();
    let row = GrantRow {
        id: grant_id.clone(),
        client_id: pending.client_id.clone(),
        subject: grant.profile.subject.clone(),
        scope: pending.scopes.join(" "),
        profile_json: serde_json::to_string(&grant.profile).unwrap_or_default(),
        token_hash: sha256(token.as_bytes()).to_vec(),
        token_sealed: state.storage.seal("legacy-token", token.as_bytes()),
        legacy_refresh_sealed: grant.refresh_token.as_ref().map(|r| {
            state
                .storage
                .seal("legacy-refresh-token", r.secret().as_bytes())
        }),
        token_expires_at: grant.expires_at,
        auth_time,
        revoked: false,
        created_at: now,
        claims: pending.claims.to_stored(),
    };
    let id_token = if pending.scopes.iter().any(|s| s == "openid") {
        let input = IdTokenInput {
            alg: state
                .settings
                .clients
                .get(&pending.client_id)
                .map(|c| c.id_token_alg)
                .unwrap_or_default(),
            issuer: &state.settings.issuer,
            client_id: &pending.client_id,
            profile: &grant.profile,
            scopes: &pending.scopes,
            requested: &pending.claims.id_token,
            auth_time,
            nonce: pending.nonce.as_deref(),
            access_token: token,
            now,
            ttl: state.settings.tokens.id_token_ttl_seconds,
        };
        let signed = id_token::mint(&state.keys, &input)
            .map_err(|e| crate::store::StoreError(format!("signing the ID token: {e}")))?;
        Some(state.storage.seal("id-token", signed.as_bytes()))
    } else {
        None
    };
    let code_row = CodeRow {
        code_hash: sha256(code.as_bytes()).to_vec(),
        id_token_sealed: id_token,
        redirect_uri: pending.redirect_uri.clone(),
        nonce: pending.nonce.clone(),
        code_challenge: pending.code_challenge.clone(),
        expires_at: now + state.settings.tokens.code_ttl_seconds,
    };
    state.store.insert_grant_with_code(&row, &code_row).await?;
    Ok((code, grant_id))
}

/// The login form's fields.
#[derive(Deserialize)]
pub struct LoginForm {
    request: String,
    csrf: String,
    username: String,
    password: Password,
}

/// `POST /login`.
#[instrument(skip_all, fields(client_id))]
pub async fn login_post(
    State(state): State<AppState>,
    session: Session,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let pending = match check_submission(&state, &headers, &form) {
        Ok(p) => p,
        Err(page) => return page,
    };
    tracing::Span::current().record("client_id", pending.client_id.as_str());
    let username = form.username.trim();
    let texts = pending.locale.texts();
    let form_with = |message: &str, status| {
        login_form(
            &state,
            pending.locale,
            &form.request,
            &form.csrf,
            username,
            Some(message),
            status,
        )
    };
    if username.is_empty()
        || username.len() > 256
        || form.password.secret().is_empty()
        || form.password.secret().len() > 1024
    {
        return form_with(texts.missing_fields, StatusCode::BAD_REQUEST);
    }
    let keys = throttle::Keys::new(username, &headers, peer, &state.settings.throttle);
    let grant =
        match authenticate_throttled(&state, pending.locale, &keys, username, &form.password).await
        {
            Ok(g) => g,
            Err((status, message)) => return form_with(&message, status),
        };
    if pending
        .hint_sub
        .as_ref()
        .is_some_and(|sub| *sub != grant.profile.subject)
    {
        // OIDC Core §3.1.2.1 (id_token_hint) and §5.5.1 (a sub value): never
        // answer for a different user than the one asked for.
        crate::audit!(state.metrics, "login_failure", reason = "other_subject", client_id = %pending.client_id);
        return respond(
            &pending.redirect_uri,
            vec![
                ("error", "login_required"),
                (
                    "error_description",
                    "the user who signed in is not the one requested",
                ),
            ],
            pending.state.as_deref(),
            &state.settings.issuer,
            pending.form_post,
        );
    }
    let now = now_unix();
    let (code, grant_id) = match issue_code(&state, &pending, &grant, now, now).await {
        Ok(issued) => issued,
        Err(e) => {
            tracing::error!(error = %e, "cannot store the grant");
            return form_with(texts.unavailable, StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    // A new session id after login (session fixation).
    let _ = session.cycle_id().await;
    let _ = session
        .insert(
            USER_KEY,
            SessionUser {
                sub: grant.profile.subject.clone(),
                auth_time: now,
                grant_id,
            },
        )
        .await;
    crate::audit!(state.metrics, "login_success", reason = "password", subject = %grant.profile.subject);
    respond(
        &pending.redirect_uri,
        vec![("code", code.as_str())],
        pending.state.as_deref(),
        &state.settings.issuer,
        pending.form_post,
    )
}
