//! Token exchange (RFC 8693) at the token endpoint: an authenticated client
//! allowed to exchange presents a user's Auth0 access token and receives
//! that user's legacy token, verbatim, as an access token.
//!
//! Rules, in order: the client has a `token_exchange` policy
//! (`unauthorized_client`); the request names an access token or JWT as the
//! subject — `…:token-type:jwt` on purpose: an Auth0 access token is a JWT,
//! and it is verified as an access token whatever the name — and asks for
//! nothing but an access token (`invalid_request`), only the policy's
//! `targets` (`invalid_target`) and only the policy's `scopes`
//! (`invalid_scope`: the legacy token is handed out as it is, so a `scope`
//! cannot narrow it, and one beyond the policy is refused, not ignored); the
//! Auth0 token verifies ([`crate::domain::auth0`]), carries one of the client's
//! audiences and all its scopes in `scope` (never `permissions`), and names
//! a legacy subject (`invalid_request`); then the legacy token comes from
//! [`crate::domain::legacy_source`] (the user's live grant, renewed when due, else
//! a minted token when configured), else the answer is `invalid_grant`: the
//! user has no legacy session.
//!
//! Each refusal is an info audit line (`token_exchange_failure`); each
//! success is counted and logged at debug (`token_exchanged`), since at
//! thousands of exchanges a second a line each would be the whole log.

use super::error::OAuthError;
use super::messages::ExchangeResponse;
use crate::domain::auth0::Auth0Verifier;
use crate::domain::auth0::caller::{CallerRefusal, verify_caller_cached};
use crate::domain::config::{Client, ExchangePolicy};
use crate::domain::legacy_source::{LegacySource, SourceError};
use crate::domain::metrics::Metrics;
use crate::domain::types::UnixTime;

/// What token exchange uses: the Auth0 verifier and the legacy token
/// source (both `None` when token exchange is not configured) and the
/// audit counters.
#[derive(Debug)]
pub struct Exchanger<'a> {
    /// Verifies Auth0 access tokens.
    pub verifier: Option<&'a Auth0Verifier>,
    /// Finds the user's legacy token.
    pub source: Option<&'a LegacySource>,
    /// Audit counters.
    pub metrics: &'a Metrics,
}

/// The token type URIs of RFC 8693 §3.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A JWT as the subject token (RFC 8693 §3).
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// The grant type.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// A token exchange request's parameters (its `Debug` shows no token).
pub struct ExchangeRequest<'a> {
    /// The Auth0 access token.
    pub subject_token: &'a str,
    /// Its type URI.
    pub subject_token_type: &'a str,
    /// The type asked for, if any.
    pub requested_token_type: Option<&'a str>,
    /// `actor_token` was sent (delegation is not supported).
    pub actor_token: bool,
    /// `audience` and `resource`, where the token will be used.
    pub targets: Vec<&'a str>,
    /// `scope`, the scopes asked for (RFC 8693 §2.1), if given.
    pub scope: Option<&'a str>,
}

impl std::fmt::Debug for ExchangeRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("subject_token_type", &self.subject_token_type)
            .field("requested_token_type", &self.requested_token_type)
            .finish_non_exhaustive()
    }
}

/// The token exchange grant.
pub async fn exchange(
    exchanger: &Exchanger<'_>,
    client: &Client,
    request: &ExchangeRequest<'_>,
) -> Result<ExchangeResponse, OAuthError> {
    let refuse = |reason: &'static str, error: OAuthError| {
        crate::audit!(exchanger.metrics, "token_exchange_failure", reason = reason, client_id = %client.id);
        error
    };
    let (Some(verifier), Some(source)) = (exchanger.verifier, exchanger.source) else {
        return Err(OAuthError::unsupported_grant_type());
    };
    let Some(policy) = &client.exchange else {
        return Err(refuse(
            "client_not_allowed",
            OAuthError::unauthorized_client("this client may not exchange tokens"),
        ));
    };
    check_request(policy, request).map_err(|(reason, error)| refuse(reason, error))?;
    let subject = verify_caller_cached(
        verifier,
        request.subject_token,
        &policy.audiences,
        &policy.scopes,
    )
    .await
    .map_err(|refusal| refuse(refusal.class(), caller_error(refusal)))?
    .subject;
    let sourced = source
        .token_for(&subject)
        .await
        .map_err(|e| refuse(source_class(&e), source_error(e)))?;
    // Counted always, a line only at debug: see the module doc.
    crate::audit_debug!(exchanger.metrics, "token_exchanged", reason = sourced.origin.as_str(), client_id = %client.id, subject = %subject);
    Ok(ExchangeResponse::new(
        sourced.token,
        UnixTime::from_secs(sourced.expires_at),
        UnixTime::now(),
    ))
}

/// The request's own rules, before the subject token is looked at: the
/// refusal's audit class and answer.
pub(super) fn check_request(
    policy: &ExchangePolicy,
    request: &ExchangeRequest<'_>,
) -> Result<(), (&'static str, OAuthError)> {
    if request.actor_token {
        return Err((
            "request",
            OAuthError::invalid_request("actor_token (delegation) is not supported"),
        ));
    }
    // RFC 8693 §3: an Auth0 access token is a JWT, so `…:jwt` names it
    // truthfully; accepted on purpose, it is verified as an access token
    // all the same.
    if request.subject_token_type != ACCESS_TOKEN_TYPE
        && request.subject_token_type != JWT_TOKEN_TYPE
    {
        return Err((
            "request",
            OAuthError::invalid_request("subject_token_type must be an access token or a JWT"),
        ));
    }
    if request
        .requested_token_type
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err((
            "request",
            OAuthError::invalid_request("only an access token can be issued"),
        ));
    }
    if let Some(target) = request
        .targets
        .iter()
        .find(|t| !policy.targets.iter().any(|allowed| allowed == *t))
    {
        let mut error = OAuthError::invalid_target(
            "the bridge issues the user's legacy token only for the targets configured for this client",
        );
        error.cause = Some(format!("target not configured: {target}"));
        return Err(("target", error));
    }
    // RFC 8693 §2.1 lets `scope` narrow the issued token; the legacy token
    // is handed out as it is, so only the policy's scopes may be named.
    if let Some(beyond) = request
        .scope
        .into_iter()
        .flat_map(str::split_ascii_whitespace)
        .find(|s| !policy.scopes.iter().any(|allowed| allowed == s))
    {
        let mut error = OAuthError::invalid_scope(
            "the bridge hands out the user's legacy token as it is; a client may name only the scopes of its token_exchange policy",
        );
        error.cause = Some(format!("scope not in the client's policy: {beyond}"));
        return Err(("requested_scope", error));
    }
    Ok(())
}

/// The token endpoint's answer to a refused Auth0 caller.
fn caller_error(refusal: CallerRefusal) -> OAuthError {
    match refusal {
        CallerRefusal::Token(e) => {
            let mut error = if matches!(e, crate::domain::auth0::Auth0Error::JwksUnavailable(_)) {
                OAuthError::temporarily_unavailable(
                    "Auth0's signing keys cannot be fetched; try again",
                )
            } else {
                OAuthError::invalid_request(
                    "the subject_token is not an acceptable Auth0 access token",
                )
            };
            error.cause = Some(e.to_string());
            error
        }
        CallerRefusal::Audience(_) => OAuthError::invalid_request(
            "the subject_token's audience is not one this client may exchange",
        ),
        CallerRefusal::Scope => OAuthError::invalid_request(
            "the subject_token lacks a scope this client's exchanges require",
        ),
        CallerRefusal::Subject => {
            OAuthError::invalid_request("the Auth0 user is not from a configured connection")
        }
    }
}

/// The audit class of a source failure.
fn source_class(e: &SourceError) -> &'static str {
    match e {
        SourceError::NoSession => "no_legacy_session",
        SourceError::Unavailable { .. } => "unavailable",
        SourceError::UnfitSubject(unfit) => unfit.as_str(),
        SourceError::Internal(_) => "internal",
    }
}

/// The token endpoint's answer to a source failure.
fn source_error(e: SourceError) -> OAuthError {
    match e {
        SourceError::NoSession => OAuthError::invalid_grant(
            "the user has no legacy session at the bridge; they must sign in through it first",
        ),
        SourceError::Unavailable { what, cause } => {
            let mut error = OAuthError::temporarily_unavailable(format!("{what}; try again"));
            error.cause = Some(cause);
            error
        }
        SourceError::UnfitSubject(_) => OAuthError::invalid_grant(
            "the user's legacy id cannot be carried in a legacy token (see docs/token-exchange.md)",
        ),
        SourceError::Internal(cause) => OAuthError::server_error(&cause),
    }
}
