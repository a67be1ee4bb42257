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
use crate::grant;
use crate::legacy_token::Lt1Claims;
use crate::secret::LegacyAccessToken;
use crate::state::AppState;
use crate::store::GrantRow;
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
}

impl std::fmt::Debug for ExchangeRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("subject_token_type", &self.subject_token_type)
            .field("requested_token_type", &self.requested_token_type)
            .finish_non_exhaustive()
    }
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
    let Some(verifier) = &state.auth0 else {
        return Err(OAuthError::unsupported_grant_type());
    };
    let Some(policy) = &client.exchange else {
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
    if let Some(target) = request
        .targets
        .iter()
        .find(|t| !policy.targets.iter().any(|allowed| allowed == *t))
    {
        let mut error = OAuthError::invalid_target(
            "the bridge issues the user's legacy token only for the targets configured for this client",
        );
        error.cause = Some(format!("target not configured: {target}"));
        return Err(refuse("target", error));
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

/// The user's legacy token: from a live grant (renewed once when it
/// expires within the skew), else minted, else `invalid_grant`. A grant the
/// legacy IdP refuses to renew is revoked and yields nothing, not a minted
/// token.
async fn legacy_token(
    state: &AppState,
    subject: &str,
) -> Result<(LegacyAccessToken, i64, Source), OAuthError> {
    let now = now_unix();
    let no_session = || {
        OAuthError::invalid_grant(
            "the user has no legacy session at the bridge; they must sign in through it first",
        )
    };
    if let Some(grant) = state.store.live_grant(subject, now).await? {
        let live = |g: &GrantRow,
                    by: i64|
         -> Result<Option<(LegacyAccessToken, i64, Source)>, OAuthError> {
            if g.token_expires_at <= by {
                return Ok(None);
            }
            let token = grant::access_token(&state.storage, g)
                .ok_or_else(|| OAuthError::server_error(&"a sealed legacy token does not open"))?;
            Ok(Some((token, g.token_expires_at, Source::Grant)))
        };
        let (skew, max_age) = state
            .settings
            .token_exchange
            .as_ref()
            .map_or((0, 0), |t| (t.renew_skew_seconds, t.max_session_seconds));
        if let Some(fresh) = live(&grant, now + skew)? {
            return Ok(fresh);
        }
        let renewable = state.upstream.can_renew()
            && grant.legacy_refresh_sealed.is_some()
            && now - grant.auth_time <= max_age;
        if renewable {
            match renew(state, &grant).await? {
                Renewal::Renewed(renewed) => return Ok(renewed),
                Renewal::Refused => return Err(no_session()),
                Renewal::Impossible => {}
            }
        }
        // Not renewable now, but not expired yet either.
        if let Some(still) = live(&grant, now)? {
            return Ok(still);
        }
    }
    // Revocation stops exchanges: a user whose newest grant was revoked (by
    // the legacy IdP refusing a renewal, a replayed code, a revocation) is
    // not minted for either; only one who never signed in, or whose grants
    // merely expired, is.
    if state
        .store
        .newest_grant(subject)
        .await?
        .is_some_and(|g| g.revoked)
    {
        return Err(no_session());
    }
    if let Some(minted) = mint_upstream(state, subject).await? {
        return Ok(minted);
    }
    if let Some(minted) = mint(state, subject, now)? {
        return Ok(minted);
    }
    Err(no_session())
}

/// What a renewal came to.
enum Renewal {
    /// A token: renewed here, or by the exchange that held the claim.
    Renewed((LegacyAccessToken, i64, Source)),
    /// The legacy IdP ended the session: the grant is revoked.
    Refused,
    /// Nothing to renew with (no refresh token, the adapter cannot).
    Impossible,
}

/// Renews a grant's legacy token, or waits for the exchange that is
/// renewing it.
async fn renew(state: &AppState, grant: &GrantRow) -> Result<Renewal, OAuthError> {
    let started = std::time::Instant::now();
    loop {
        let now = now_unix();
        if state
            .store
            .claim_grant_renewal(
                &grant.id,
                &grant.token_hash,
                now,
                now + RENEWAL_LEASE_SECONDS,
            )
            .await?
        {
            // On its own task: a client that hangs up must not drop a
            // renewal the legacy IdP has already answered (it may have
            // rotated the refresh token).
            let (state, id) = (state.clone(), grant.id.clone());
            return tokio::spawn(async move { renew_claimed(&state, &id).await })
                .await
                .map_err(|e| OAuthError::server_error(&e))?;
        }
        // Claimed elsewhere, renewed meanwhile, or revoked: look again. A
        // token other than the one seen is the renewal's, however short.
        match state.store.grant(&grant.id).await? {
            Some(g)
                if !g.revoked && g.token_hash != grant.token_hash && g.token_expires_at > now =>
            {
                let token = grant::access_token(&state.storage, &g).ok_or_else(|| {
                    OAuthError::server_error(&"a sealed legacy token does not open")
                })?;
                return Ok(Renewal::Renewed((
                    token,
                    g.token_expires_at,
                    Source::Renewed,
                )));
            }
            Some(g) if !g.revoked => {}
            _ => return Ok(Renewal::Refused),
        }
        if started.elapsed() > WAIT_FOR_RENEWAL {
            return Err(OAuthError::temporarily_unavailable(
                "the user's legacy token is being renewed; try again",
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Renews with the claim held, from the grant as it is now.
async fn renew_claimed(state: &AppState, id: &str) -> Result<Renewal, OAuthError> {
    let grant = match state.store.grant(id).await {
        Ok(Some(g)) if !g.revoked => g,
        Ok(_) => return Ok(Renewal::Refused),
        Err(e) => {
            let _ = state.store.finish_grant_renewal(id, None).await;
            return Err(e.into());
        }
    };
    let Some(refresh) = grant::refresh_token(&state.storage, &grant) else {
        state.store.finish_grant_renewal(id, None).await?;
        return Ok(Renewal::Impossible);
    };
    match state.upstream.renew(&refresh).await {
        Ok(renewed) => {
            let row = grant::renewal(&state.storage, &renewed);
            if !state.store.finish_grant_renewal(id, Some(&row)).await? {
                // Revoked while the legacy IdP answered: nothing to hand out.
                return Ok(Renewal::Refused);
            }
            Ok(Renewal::Renewed((
                renewed.access_token,
                renewed.expires_at,
                Source::Renewed,
            )))
        }
        Err(e) => match e {
            // The legacy IdP ended the session: so does the bridge, as the
            // refresh grant does.
            UpstreamError::InvalidCredentials | UpstreamError::Locked => {
                state.store.revoke_grant(id).await?;
                state.store.finish_grant_renewal(id, None).await?;
                crate::audit!(state.metrics, "token_refresh_failure", reason = e.class());
                Ok(Renewal::Refused)
            }
            UpstreamError::Unsupported(_) => {
                state.store.finish_grant_renewal(id, None).await?;
                Ok(Renewal::Impossible)
            }
            UpstreamError::Unavailable(_) | UpstreamError::Protocol(_) => {
                state.store.finish_grant_renewal(id, None).await?;
                let mut error = OAuthError::temporarily_unavailable(
                    "the legacy IdP cannot renew the user's token now; try again",
                );
                error.cause = Some(e.to_string());
                Err(error)
            }
        },
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
            attributes: config
                .claims
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
        .map_err(|e| OAuthError::server_error(&e))?;
    Ok(Some((LegacyAccessToken::new(token), exp, Source::Minted)))
}
