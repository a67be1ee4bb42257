//! `GET|POST /authorize`, the browser's entry. The request is checked by
//! [`crate::protocol::provider::authorize`]; a valid one renders the login form with
//! the request sealed into it ([`super::pending`]) and a double-submit CSRF
//! cookie ([`super::csrf`]): nothing is written before the password check.
//! `prompt=none` is answered from the login session without a page. The
//! form's submission is [`super::submit`].

use axum::extract::{RawForm, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use tower_sessions::Session;

use super::locale::Locale;
use super::pages::{FormContent, error_page, login_form};
use super::pending::PendingLogin;
use super::{csrf, session};
use crate::app::state::AppState;
use crate::domain::config::Settings;
use crate::domain::metrics::Metrics;
use crate::domain::sealed_grant;
use crate::domain::store::Store;
use crate::domain::upstream::LegacyGrant;
use crate::domain::upstream::redirect::Hints;
use crate::protocol::provider::authorize::{
    AuthorizationParams, AuthorizationRequest, AuthorizeError, check_hint, validate,
};
use crate::protocol::provider::code::{CodeIssuer, IssuedFor, issue_code};
use crate::protocol::provider::response::respond;
use crate::util::clock::now_unix;
use crate::util::crypto::{StorageKey, random_token};

/// `GET /authorize`.
pub async fn authorize_get(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = AuthorizationParams::from_raw(query.unwrap_or_default().as_bytes());
    authorize(&state, &session, &headers, params).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1 allows form posts).
pub async fn authorize_post(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    authorize(
        &state,
        &session,
        &headers,
        AuthorizationParams::from_raw(&body),
    )
    .await
}

async fn authorize(
    state: &AppState,
    session: &Session,
    headers: &HeaderMap,
    params: AuthorizationParams,
) -> Response {
    let settings = &state.settings;
    let validated = validate(
        &params,
        &settings.clients,
        now_unix(),
        settings.tokens.login_ttl_seconds,
    )
    .and_then(|p| {
        check_hint(
            &state.keys,
            &settings.issuer,
            p,
            params.id_token_hint.as_deref(),
        )
    });
    match validated {
        Ok(request) if request.prompt_none => {
            let (params, error) =
                match silent(&state.code_issuer(), &state.metrics, session, &request).await {
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
                &settings.issuer,
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
            if let Some(redirect) = &state.redirect {
                let login_hint = pending.request.login_hint.clone();
                let hints = Hints {
                    prompt: upstream_prompt(params.prompt.as_deref()),
                    max_age: pending.request.max_age,
                    login_hint: login_hint.as_deref(),
                    ui_locales: params.ui_locales.as_deref(),
                };
                return super::upstream::start(state, headers, redirect, pending, &hints).await;
            }
            show_form(&state.settings, &state.storage, headers, &pending)
        }
        Err(AuthorizeError::Page { message, cause }) => error_page(
            &settings.branding,
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
            &settings.issuer,
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
fn show_form(
    settings: &Settings,
    storage: &StorageKey,
    headers: &HeaderMap,
    pending: &PendingLogin,
) -> Response {
    // Double-submit CSRF: a random cookie the form must echo, and the one
    // the sealed request is bound to. No row is written before the password
    // check.
    let existing = csrf::from_request(headers, settings.secure_cookie);
    let token = existing.clone().unwrap_or_else(random_token);
    let sealed = match pending.seal(storage, &token) {
        Ok(sealed) => sealed,
        Err(e) => {
            return error_page(
                &settings.branding,
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
    let mut response = login_form(&settings.branding, &content, StatusCode::OK);
    if existing.is_none() {
        csrf::set(&mut response, &token, settings.secure_cookie);
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
/// [`crate::domain::store::Store::revoke_grant`]). A store that cannot answer is
/// `temporarily_unavailable`, not a reason to ask for a login.
async fn silent(
    codes: &CodeIssuer<'_, dyn Store>,
    metrics: &Metrics,
    session: &Session,
    request: &AuthorizationRequest,
) -> Result<String, &'static str> {
    let now = now_unix();
    let user = session::user(session)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "cannot read the login session");
            "temporarily_unavailable"
        })?
        .ok_or("login_required")?;
    if request
        .max_age
        .is_some_and(|max| now - user.auth_time > max)
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
        .filter(|g| !g.revoked && g.token_expires_at > now && g.subject == user.sub)
        .filter(|g| g.client_id == request.client_id)
        .ok_or("login_required")?;
    let token = sealed_grant::access_token(codes.storage, &grant).ok_or("login_required")?;
    let profile = serde_json::from_str(&grant.profile_json).map_err(|_| "login_required")?;
    let legacy = LegacyGrant {
        access_token: token,
        expires_at: grant.token_expires_at,
        refresh_token: None,
        profile,
    };
    let source = IssuedFor::Session { source: &grant.id };
    let issued = issue_code(codes, request, &legacy, source, (user.auth_time, now))
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
