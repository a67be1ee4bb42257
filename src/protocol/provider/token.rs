//! The token endpoint (RFC 6749 §3.2, §4.1.3): the client authenticated
//! ([`super::client_auth`]), the request read into a [`TokenRequest`], and
//! the grant answered: `authorization_code` here (PKCE, single use, a
//! replay revokes), `refresh_token` in [`super::refresh`], token exchange
//! in [`super::exchange`]. The answer is a
//! [`TokenResponse`] with the legacy token verbatim as the `access_token`,
//! and the ID token signed at login when `openid` was granted.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use subtle::ConstantTimeEq;
use tracing::instrument;

use super::client_auth::{ClientAuth, authenticate_client};
use super::error::OAuthError;
use super::exchange::{self, ExchangeRequest, Exchanger};
use super::form::FormParams;
use super::messages::{ExchangeResponse, TokenResponse};
use super::token_issuer::TokenIssuer;
use crate::app::state::AppState;
use crate::domain::config::Client;
use crate::domain::sealed_grant;
use crate::domain::store::{CodeClaim, CodeRow, GrantStore, OnceStore, Redeemed, RefreshStore};
use crate::domain::types::UnixTime;
use crate::util::crypto::{Purpose, b64url, sha256};

/// A token request after client authentication, by grant type (its
/// `Debug` names the grant type only: the fields are credentials).
pub enum TokenRequest<'a> {
    /// RFC 6749 §4.1.3.
    AuthorizationCode {
        /// The code.
        code: &'a str,
        /// The redirect URI of the authorization request.
        redirect_uri: &'a str,
        /// The PKCE verifier (RFC 7636 §4.5).
        code_verifier: Option<&'a str>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        /// The refresh token.
        refresh_token: &'a str,
        /// A narrower scope, if asked for.
        scope: Option<&'a str>,
    },
    /// RFC 8693 §2.1.
    TokenExchange(ExchangeRequest<'a>),
}

impl std::fmt::Debug for TokenRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AuthorizationCode { .. } => "TokenRequest::AuthorizationCode",
            Self::RefreshToken { .. } => "TokenRequest::RefreshToken",
            Self::TokenExchange(_) => "TokenRequest::TokenExchange",
        })
    }
}

impl<'a> TokenRequest<'a> {
    /// Reads the grant's parameters; `unsupported_grant_type` for any other.
    pub fn parse(form: &'a FormParams) -> Result<Self, OAuthError> {
        match form.require("grant_type")? {
            "authorization_code" => Ok(Self::AuthorizationCode {
                code: form.require("code")?,
                redirect_uri: form.require("redirect_uri")?,
                code_verifier: form.get("code_verifier"),
            }),
            "refresh_token" => Ok(Self::RefreshToken {
                refresh_token: form.require("refresh_token")?,
                scope: form.get("scope"),
            }),
            exchange::GRANT_TYPE => Ok(Self::TokenExchange(ExchangeRequest {
                subject_token: form.require("subject_token")?,
                subject_token_type: form.require("subject_token_type")?,
                requested_token_type: form.get("requested_token_type"),
                actor_token: form.contains("actor_token"),
                scope: form.get("scope"),
                targets: ["audience", "resource"]
                    .into_iter()
                    .filter_map(|name| form.get(name))
                    .collect(),
            })),
            _ => Err(OAuthError::unsupported_grant_type()),
        }
    }
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn well_formed_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Why a claim on the client's own unused code did not match, in the order
/// RFC 6749 §4.1.3 lists the checks.
fn mismatch(
    row: &CodeRow,
    redirect_uri: &str,
    verifier: Option<&str>,
    now: UnixTime,
) -> OAuthError {
    if UnixTime::from_secs(row.expires_at) < now {
        return OAuthError::invalid_grant("the authorization code has expired");
    }
    if row.redirect_uri != redirect_uri {
        return OAuthError::invalid_grant("redirect_uri does not match the authorization request");
    }
    match check_pkce(row.code_challenge.as_deref(), verifier) {
        Err(e) => e,
        Ok(()) => OAuthError::invalid_grant("the authorization code is invalid"),
    }
}

/// PKCE (RFC 7636 §4.6), and the downgrade rule of RFC 9700 §4.8.2: a
/// verifier for a code issued without a challenge is refused.
pub fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let well_formed = well_formed_verifier(verifier);
            let computed = b64url(&sha256(verifier.as_bytes()));
            if well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code challenge",
                ))
            }
        }
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent for a code issued without a challenge",
        )),
        (None, None) => Ok(()),
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /token`.
#[instrument(skip_all, fields(client_id, grant_type))]
pub async fn token_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (settings, store, metrics) = (&state.settings, &*state.store, &*state.metrics);
    let auth = ClientAuth::new(settings, store, metrics);
    let upstream = &*state.upstream;
    let issuer = TokenIssuer::new(
        settings,
        store,
        &state.storage,
        &state.keys,
        upstream,
        metrics,
    );
    let exchanger = Exchanger {
        verifier: state.auth0.as_deref(),
        source: state.legacy.as_deref(),
        metrics,
    };
    match token(&auth, &issuer, &exchanger, &headers, &body).await {
        Ok(Answer::Tokens(v)) => no_store(axum::Json(v).into_response()),
        Ok(Answer::Exchanged(v)) => no_store(axum::Json(v).into_response()),
        Err(e) => e.into_response(),
    }
}

/// A successful answer of any grant.
enum Answer {
    Tokens(TokenResponse),
    Exchanged(ExchangeResponse),
}

async fn token<S: GrantStore + RefreshStore + OnceStore + ?Sized>(
    auth: &ClientAuth<'_, S>,
    issuer: &TokenIssuer<'_, S>,
    exchanger: &Exchanger<'_>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, OAuthError> {
    let form = FormParams::parse(headers, body)?;
    let now = UnixTime::now();
    let client = authenticate_client(auth, headers, &form, now).await?;
    let span = tracing::Span::current();
    span.record("client_id", client.id.as_str());
    if let Some(grant_type) = form.get("grant_type") {
        span.record("grant_type", grant_type);
    }
    match TokenRequest::parse(&form)? {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            let presented = Presented {
                code,
                redirect_uri,
                code_verifier,
            };
            authorization_code(issuer, client, &presented, now)
                .await
                .map(Answer::Tokens)
        }
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
        } => super::refresh::grant(issuer, client, refresh_token, scope)
            .await
            .map(Answer::Tokens),
        TokenRequest::TokenExchange(request) => exchange::exchange(exchanger, client, &request)
            .await
            .map(Answer::Exchanged),
    }
}

/// What a client presents with a code (its `Debug` shows none of it).
pub struct Presented<'a> {
    /// The code.
    pub code: &'a str,
    /// The redirect URI of the authorization request.
    pub redirect_uri: &'a str,
    /// The PKCE verifier.
    pub code_verifier: Option<&'a str>,
}

impl std::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented").finish_non_exhaustive()
    }
}

/// The `authorization_code` grant at `now` (RFC 6749 §4.1.3): the code
/// spent only by a claim matching it in full, a replay revoking its grant.
pub async fn authorization_code<S: GrantStore + RefreshStore + ?Sized>(
    issuer: &TokenIssuer<'_, S>,
    client: &Client,
    presented: &Presented<'_>,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let Presented {
        code,
        redirect_uri,
        code_verifier,
    } = *presented;
    // The code is spent only by a claim that matches it in full, so a
    // wrong redirect_uri or verifier, or another client, burns nothing.
    let challenge = code_verifier.map(|v| {
        if well_formed_verifier(v) {
            b64url(&sha256(v.as_bytes()))
        } else {
            // Matches no stored challenge; explained below.
            String::new()
        }
    });
    let claim = CodeClaim {
        client_id: client.id.as_str(),
        redirect_uri,
        challenge: challenge.as_deref(),
        now: now.as_secs(),
    };
    let (row, grant) = match issuer
        .store
        .redeem_code(&sha256(code.as_bytes()), &claim)
        .await?
    {
        Redeemed::Fresh(fresh) => *fresh,
        Redeemed::Mismatch(unspent) => {
            let (row, _) = *unspent;
            return Err(mismatch(&row, redirect_uri, code_verifier, now));
        }
        Redeemed::Replayed { grant_id } => {
            // RFC 6749 §4.1.2: a replayed code revokes what it issued.
            issuer.store.revoke_grant(&grant_id).await?;
            crate::audit_warn!(issuer.metrics, "code_replay", "authorization code replayed; grant revoked", client_id = %client.id);
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
        // Another client's code reads exactly as an unknown one.
        Redeemed::Unknown => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid",
            ));
        }
    };
    if grant.revoked {
        return Err(OAuthError::invalid_grant("the grant was revoked"));
    }
    let token = sealed_grant::access_token(issuer.storage, &grant)
        .ok_or_else(|| OAuthError::server_error(&"a sealed legacy token does not open"))?;
    let mut answer = TokenResponse::bearer(
        token,
        UnixTime::from_secs(grant.token_expires_at),
        now,
        grant.scope.clone(),
    );
    // The ID token was signed at login (so this endpoint stays fast) and
    // sealed beside the code; it exists only when `openid` was granted.
    if let Some(sealed) = &row.id_token_sealed {
        let id_token = issuer
            .storage
            .open(Purpose::IdToken, sealed)
            .and_then(|t| String::from_utf8(t).ok())
            .ok_or_else(|| OAuthError::server_error(&"a sealed ID token does not open"))?;
        answer.id_token = Some(id_token);
    }
    if super::refresh::wanted(issuer.upstream.can_renew(), &grant) {
        answer.refresh_token =
            Some(super::refresh::issue(issuer.store, client, &grant, now).await?);
    }
    crate::audit!(issuer.metrics, "token_issued", client_id = %client.id, subject = %grant.subject);
    Ok(answer)
}
