//! Token exchange (RFC 8693) at the token endpoint: an authenticated client
//! allowed to exchange presents a user's Auth0 access token and receives
//! that user's legacy token, verbatim, as an access token.
//!
//! Rules, in order: the client has a `token_exchange` policy
//! (`unauthorized_client`); the request names an access token or JWT as the
//! subject and asks for nothing but an access token (`invalid_request`); the
//! Auth0 token verifies ([`crate::auth0`]), carries one of the client's
//! audiences and all its scopes, and names a legacy subject
//! (`invalid_request`); then the legacy token comes from the user's live
//! grant (renewed upstream, once however many exchanges ask at the same
//! moment on any instance, when its token has expired), else is minted —
//! by the adapter (`mint_upstream`, the `command` adapter's `mint`) or as
//! LT1 — when configured, else the answer is `invalid_grant`: the user has
//! no legacy session. A revoked grant is never a source.

use std::time::Duration;

use super::error::OAuthError;
use super::messages::ExchangeResponse;
use crate::clock::now_unix;
use crate::config::Client;
use crate::grant::{self, SealedTokens};
use crate::legacy_token::Lt1Claims;
use crate::secret::LegacyAccessToken;
use crate::state::AppState;
use crate::store::{GrantRenewal, GrantRow};
use crate::upstream::UpstreamError;

/// The token type URIs of RFC 8693 §3.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A JWT as the subject token (RFC 8693 §3).
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The grant type.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// How long an exchange waits for a concurrent renewal of the same grant.
const WAIT_FOR_RENEWAL: Duration = Duration::from_secs(15);
/// How long a renewal claim holds (longer than any upstream timeout).
const RENEWAL_LEASE_SECONDS: i64 = 30;

/// A token exchange request's parameters.
#[derive(Debug)]
pub struct ExchangeRequest<'a> {
    /// The Auth0 access token.
    pub subject_token: &'a str,
    /// Its type URI.
    pub subject_token_type: &'a str,
    /// The type asked for, if any.
    pub requested_token_type: Option<&'a str>,
    /// `actor_token` was sent (delegation is not supported).
    pub actor_token: bool,
}

/// Where an exchanged legacy token came from (an audit label).
#[derive(Debug, Clone, Copy)]
enum Source {
    Grant,
    Renewed,
    Minted,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Renewed => "renewed",
            Self::Minted => "minted",
        }
    }
}

/// The token exchange grant.
pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: &ExchangeRequest<'_>,
) -> Result<ExchangeResponse, OAuthError> {
    let refuse = |reason: &'static str, error: OAuthError| {
        crate::audit!(state.metrics, "token_exchange_failure", reason = reason, client_id = %client.id);
        error
    };
    let (Some(policy), Some(verifier)) = (&client.exchange, &state.auth0) else {
        return Err(refuse(
            "client_not_allowed",
            OAuthError::unauthorized_client("this client may not exchange tokens"),
        ));
    };
    if request.actor_token {
        return Err(refuse(
            "request",
            OAuthError::invalid_request("actor_token (delegation) is not supported"),
        ));
    }
    if request.subject_token_type != ACCESS_TOKEN_TYPE
        && request.subject_token_type != JWT_TOKEN_TYPE
    {
        return Err(refuse(
            "request",
            OAuthError::invalid_request("subject_token_type must be an access token or a JWT"),
        ));
    }
    if request
        .requested_token_type
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(refuse(
            "request",
            OAuthError::invalid_request("only an access token can be issued"),
        ));
    }
    let token = verifier.verify(request.subject_token).await.map_err(|e| {
        let class = e.class();
        let mut error = if matches!(e, crate::auth0::Auth0Error::JwksUnavailable(_)) {
            OAuthError::temporarily_unavailable("Auth0's signing keys cannot be fetched; try again")
        } else {
            OAuthError::invalid_request("the subject_token is not an acceptable Auth0 access token")
        };
        error.cause = Some(e.to_string());
        refuse(class, error)
    })?;
    if !token.audiences.iter().any(|a| policy.audiences.contains(a)) {
        return Err(refuse(
            "audience",
            OAuthError::invalid_request(
                "the subject_token's audience is not one this client may exchange",
            ),
        ));
    }
    if !policy.scopes.iter().all(|s| token.scopes.contains(s)) {
        return Err(refuse(
            "scope",
            OAuthError::invalid_request(
                "the subject_token lacks a scope this client's exchanges require",
            ),
        ));
    }
    let subject = verifier.legacy_subject(&token).ok_or_else(|| {
        refuse(
            "subject",
            OAuthError::invalid_request("the Auth0 user is not from a configured connection"),
        )
    })?;
    let (legacy, expires_at, source) = legacy_token(state, &subject).await.map_err(|e| {
        refuse(
            if e.error == super::error::ErrorCode::InvalidGrant {
                "no_legacy_session"
            } else {
                "unavailable"
            },
            e,
        )
    })?;
    crate::audit!(state.metrics, "token_exchanged", reason = source.as_str(), client_id = %client.id, subject = %subject);
    Ok(ExchangeResponse::new(legacy, expires_at, now_unix()))
}

/// The user's legacy token: from a live grant (renewed once when expired),
/// else minted, else `invalid_grant`.
async fn legacy_token(
    state: &AppState,
    subject: &str,
) -> Result<(LegacyAccessToken, i64, Source), OAuthError> {
    let now = now_unix();
    if let Some(grant) = state.store.live_grant(subject, now).await? {
        if grant.token_expires_at > now {
            let token = grant::access_token(&state.storage, &grant)
                .ok_or_else(|| OAuthError::server_error(&"a sealed legacy token does not open"))?;
            return Ok((token, grant.token_expires_at, Source::Grant));
        }
        if state.upstream.can_renew() {
            if let Some(renewed) = renew(state, &grant).await? {
                return Ok(renewed);
            }
        }
    }
    if let Some(minted) = mint_upstream(state, subject).await? {
        return Ok(minted);
    }
    if let Some(minted) = mint(state, subject, now)? {
        return Ok(minted);
    }
    Err(OAuthError::invalid_grant(
        "the user has no legacy session at the bridge; they must sign in through it first",
    ))
}

/// Renews an expired grant's legacy token, or waits for the exchange that
/// is renewing it. `None` when it cannot be renewed (refused upstream, no
/// refresh token).
async fn renew(
    state: &AppState,
    grant: &GrantRow,
) -> Result<Option<(LegacyAccessToken, i64, Source)>, OAuthError> {
    let started = std::time::Instant::now();
    loop {
        let now = now_unix();
        if state
            .store
            .claim_grant_renewal(&grant.id, now, now + RENEWAL_LEASE_SECONDS)
            .await?
        {
            return renew_claimed(state, grant).await;
        }
        // Claimed elsewhere, renewed meanwhile, or revoked: look again.
        match state.store.grant(&grant.id).await? {
            Some(g) if !g.revoked && g.token_expires_at > now => {
                let token = grant::access_token(&state.storage, &g).ok_or_else(|| {
                    OAuthError::server_error(&"a sealed legacy token does not open")
                })?;
                return Ok(Some((token, g.token_expires_at, Source::Renewed)));
            }
            Some(g) if !g.revoked => {}
            _ => return Ok(None),
        }
        if started.elapsed() > WAIT_FOR_RENEWAL {
            return Err(OAuthError::temporarily_unavailable(
                "the user's legacy token is being renewed; try again",
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn renew_claimed(
    state: &AppState,
    grant: &GrantRow,
) -> Result<Option<(LegacyAccessToken, i64, Source)>, OAuthError> {
    let Some(refresh) = grant::refresh_token(&state.storage, grant) else {
        state.store.finish_grant_renewal(&grant.id, None).await?;
        return Ok(None);
    };
    match state.upstream.renew(&refresh).await {
        Ok(renewed) => {
            let sealed = SealedTokens::of_renewal(&state.storage, &renewed);
            let row = GrantRenewal {
                token_hash: sealed.token_hash,
                token_sealed: sealed.token_sealed,
                token_expires_at: renewed.expires_at,
                legacy_refresh_sealed: sealed.refresh_sealed,
                profile_json: renewed
                    .profile
                    .as_ref()
                    .and_then(|p| serde_json::to_string(p).ok()),
            };
            state
                .store
                .finish_grant_renewal(&grant.id, Some(&row))
                .await?;
            Ok(Some((
                renewed.access_token,
                renewed.expires_at,
                Source::Renewed,
            )))
        }
        Err(e) => {
            state.store.finish_grant_renewal(&grant.id, None).await?;
            match e {
                // The legacy IdP ended the session: like no session at all.
                UpstreamError::InvalidCredentials
                | UpstreamError::Locked
                | UpstreamError::Unsupported(_) => Ok(None),
                UpstreamError::Unavailable(_) | UpstreamError::Protocol(_) => {
                    let mut error = OAuthError::temporarily_unavailable(
                        "the legacy IdP cannot renew the user's token now; try again",
                    );
                    error.cause = Some(e.to_string());
                    Err(error)
                }
            }
        }
    }
}

/// Asks the adapter for a token for `subject` when `mint_upstream` is set;
/// `None` when it has no such user or cannot mint.
async fn mint_upstream(
    state: &AppState,
    subject: &str,
) -> Result<Option<(LegacyAccessToken, i64, Source)>, OAuthError> {
    if !state
        .settings
        .token_exchange
        .as_ref()
        .is_some_and(|t| t.mint_upstream)
    {
        return Ok(None);
    }
    match state.upstream.mint(subject).await {
        Ok(minted) => Ok(Some((
            minted.access_token,
            minted.expires_at,
            Source::Minted,
        ))),
        Err(
            UpstreamError::InvalidCredentials
            | UpstreamError::Locked
            | UpstreamError::Unsupported(_),
        ) => Ok(None),
        Err(e) => {
            let mut error = OAuthError::temporarily_unavailable(
                "the legacy IdP cannot issue the user's token now; try again",
            );
            error.cause = Some(e.to_string());
            Err(error)
        }
    }
}

/// Mints an LT1 token for `subject` when `[token_exchange.mint_lt1]` is set.
fn mint(
    state: &AppState,
    subject: &str,
    now: i64,
) -> Result<Option<(LegacyAccessToken, i64, Source)>, OAuthError> {
    let (Some(exchange), Some(keys)) = (&state.settings.token_exchange, &state.settings.lt1) else {
        return Ok(None);
    };
    let Some(config) = &exchange.mint_lt1 else {
        return Ok(None);
    };
    let exp = now + config.ttl_seconds;
    let token = keys
        .mint(&Lt1Claims {
            sub: subject.to_owned(),
            iat: now,
            exp,
            scope: config.scope.clone(),
            attributes: Vec::new(),
        })
        .map_err(|e| OAuthError::server_error(&e))?;
    Ok(Some((LegacyAccessToken::new(token), exp, Source::Minted)))
}
