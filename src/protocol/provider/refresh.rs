//! Refresh tokens (RFC 6749 §6): issuing them with a code, and the
//! `refresh_token` grant, which renews the *legacy* token through the
//! adapter and hands the new one over verbatim.
//!
//! Rules, with the peers' bugs in mind:
//! - one family per login (grant); a user may hold many, each independent;
//! - a renewal claims the token first (active → rotating), so concurrent
//!   uses renew upstream once; the others wait and get the same answer;
//! - rotation on: each use spends the token and issues a successor; a spent
//!   token used again within the grace period gets that same successor,
//!   after it the whole family and its legacy grant are revoked;
//! - the legacy IdP refusing the renewal ends the grant (`invalid_grant`);
//!   the legacy IdP down or slow answers 503 `temporarily_unavailable` and
//!   gives the claim back, so nothing is lost to an outage;
//! - once the legacy IdP has renewed, its new tokens are stored before
//!   anything else may fail: it may have rotated its refresh token, and a
//!   retry with the old one would make it revoke the whole grant. A profile
//!   it cannot give now keeps the last known one (the adapter's
//!   `profile: None`);
//! - scope may narrow, never widen (`invalid_scope`).

use std::time::Duration;

use super::claims::RequestedClaims;
use super::error::OAuthError;
use super::id_token::{self, IdTokenInput};
use super::messages::TokenResponse;
use super::split_scope;
use super::token_issuer::TokenIssuer;
use crate::domain::config::Client;
use crate::domain::sealed_grant;
use crate::domain::store::{
    GrantRow, GrantStore, RefreshRow, RefreshState, RefreshStore, Rotation,
};
use crate::domain::types::UnixTime;
use crate::domain::upstream::{Profile, UpstreamError};
use crate::util::crypto::{Purpose, random_token, sha256};
/// How long a request waits for a concurrent renewal of the same token.
const WAIT_FOR_ROTATION: Duration = Duration::from_secs(15);

/// Whether a code redemption should come with a refresh token: the client
/// may have `offline_access` and asked for it, and the legacy grant can be
/// renewed at all (the legacy IdP `can_renew`, and it gave a refresh token).
pub fn wanted(can_renew: bool, grant: &GrantRow) -> bool {
    split_scope(&grant.scope)
        .iter()
        .any(|s| s == "offline_access")
        && can_renew
        && grant.legacy_refresh_sealed.is_some()
}

/// Issues the first refresh token of a grant's family.
pub async fn issue<S: RefreshStore + ?Sized>(
    store: &S,
    client: &Client,
    grant: &GrantRow,
    now: UnixTime,
) -> Result<String, OAuthError> {
    let token = random_token();
    store
        .insert_refresh(&RefreshRow {
            token_hash: sha256(token.as_bytes()).to_vec(),
            grant_id: grant.id.clone(),
            client_id: client.id.to_string(),
            scope: grant.scope.clone(),
            state: RefreshState::Active,
            created_at: now.as_secs(),
            family_expires_at: now.plus(client.refresh.absolute_lifetime_seconds).as_secs(),
            last_used_at: now.as_secs(),
            rotated_at: None,
            successor_sealed: None,
        })
        .await?;
    Ok(token)
}

/// RFC 6749 §6: the requested scope must be a subset of the granted one;
/// absent means all of it.
fn narrow(granted: &str, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let granted = split_scope(granted);
    let Some(requested) = requested else {
        return Ok(granted);
    };
    let requested = split_scope(requested);
    if requested.iter().all(|s| granted.contains(s)) {
        Ok(requested)
    } else {
        Err(OAuthError::invalid_scope(
            "the requested scope exceeds what was granted",
        ))
    }
}

/// The `refresh_token` grant.
pub async fn grant<S: GrantStore + RefreshStore + ?Sized>(
    inputs: &TokenIssuer<'_, S>,
    client: &Client,
    presented: &str,
    requested_scope: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let hash = sha256(presented.as_bytes());
    let now = UnixTime::now();
    let policy = &client.refresh;
    let started = std::time::Instant::now();
    loop {
        let row = inputs
            .store
            .refresh(&hash)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
        if row.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        let scopes = narrow(&row.scope, requested_scope)?;
        let (family_ends, idle_ends) = (
            UnixTime::from_secs(row.family_expires_at),
            UnixTime::from_secs(row.last_used_at).plus(policy.idle_lifetime_seconds),
        );
        if family_ends < now || idle_ends < now {
            return Err(OAuthError::invalid_grant("the refresh token has expired"));
        }
        match row.state {
            RefreshState::Revoked => {
                return Err(OAuthError::invalid_grant("the refresh token was revoked"));
            }
            RefreshState::Active => {
                // Rotation off: a use within the grace period of the last
                // renewal returns that renewal instead of renewing again.
                if !policy.rotation
                    && row.rotated_at.is_some_and(|t| {
                        now.seconds_since(UnixTime::from_secs(t)) < policy.reuse_grace_seconds
                    })
                {
                    return answer(inputs, client, &row.grant_id, presented, &scopes).await;
                }
                if inputs.store.claim_refresh(&hash, now.as_secs()).await? {
                    return renew(inputs, client, &row, presented, &scopes, now).await;
                }
            }
            RefreshState::Rotating => {
                if inputs.store.claim_refresh(&hash, now.as_secs()).await? {
                    // The previous claim was abandoned (see STALE_CLAIM_SECONDS).
                    return renew(inputs, client, &row, presented, &scopes, now).await;
                }
            }
            RefreshState::Spent => {
                let within_grace = row.rotated_at.is_some_and(|t| {
                    now.seconds_since(UnixTime::from_secs(t)) < policy.reuse_grace_seconds
                });
                let successor = row
                    .successor_sealed
                    .as_ref()
                    .filter(|_| within_grace)
                    .and_then(|s| inputs.storage.open(Purpose::RefreshSuccessor, s))
                    .and_then(|s| String::from_utf8(s).ok());
                if let Some(successor) = successor {
                    return answer(inputs, client, &row.grant_id, &successor, &scopes).await;
                }
                // RFC 9700 §4.14.2: reuse of a rotated refresh token means it
                // leaked; end the family and its legacy grant.
                inputs.store.revoke_grant(&row.grant_id).await?;
                crate::audit_warn!(inputs.metrics, "refresh_token_reuse", "spent refresh token reused; family revoked", client_id = %client.id);
                return Err(OAuthError::invalid_grant(
                    "the refresh token was already used",
                ));
            }
        }
        // Another request holds the claim: wait for its outcome.
        if started.elapsed() > WAIT_FOR_ROTATION {
            return Err(OAuthError::temporarily_unavailable(
                "a renewal with this refresh token is still in progress",
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Renews upstream with a claimed token and records the outcome.
async fn renew<S: GrantStore + RefreshStore + ?Sized>(
    inputs: &TokenIssuer<'_, S>,
    client: &Client,
    row: &RefreshRow,
    presented: &str,
    scopes: &[String],
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let release = || async {
        let _ = inputs.store.release_refresh(&row.token_hash).await;
    };
    let grant = match inputs.store.grant(&row.grant_id).await {
        Ok(Some(g)) if !g.revoked => g,
        Ok(_) => return Err(OAuthError::invalid_grant("the grant was revoked")),
        Err(e) => {
            release().await;
            return Err(e.into());
        }
    };
    let Some(legacy_refresh) = sealed_grant::refresh_token(inputs.storage, &grant) else {
        release().await;
        return Err(OAuthError::invalid_grant(
            "the legacy IdP issued no refresh token for this grant; sign in again",
        ));
    };
    let known: Option<Profile> = serde_json::from_str(&grant.profile_json).ok();
    let renewed = match inputs.upstream.renew(&legacy_refresh, known.as_ref()).await {
        Ok(r) => r,
        Err(e) => {
            crate::audit!(inputs.metrics, "token_refresh_failure", reason = e.class(), client_id = %client.id);
            return Err(match e {
                UpstreamError::InvalidCredentials | UpstreamError::Locked => {
                    inputs.store.revoke_grant(&grant.id).await?;
                    OAuthError::invalid_grant(
                        "the legacy IdP refused to renew the grant; sign in again",
                    )
                }
                UpstreamError::Unsupported(_) => {
                    release().await;
                    OAuthError::invalid_grant("the legacy IdP cannot renew tokens; sign in again")
                }
                UpstreamError::Unavailable(_) => {
                    release().await;
                    OAuthError::temporarily_unavailable(
                        "the legacy IdP is unavailable; the refresh token stays valid, try again",
                    )
                }
                UpstreamError::Protocol(_) => {
                    tracing::error!(error = %e, "legacy IdP answered a renewal unexpectedly");
                    release().await;
                    OAuthError::temporarily_unavailable(
                        "the legacy IdP answered unexpectedly; the refresh token stays valid",
                    )
                }
            });
        }
    };
    let successor = client.refresh.rotation.then(random_token);
    let renewal = sealed_grant::renewal(inputs.storage, &renewed);
    let rotation = Rotation {
        old_hash: row.token_hash.clone(),
        successor: successor.as_ref().map(|s| RefreshRow {
            token_hash: sha256(s.as_bytes()).to_vec(),
            grant_id: row.grant_id.clone(),
            client_id: row.client_id.clone(),
            scope: row.scope.clone(),
            state: RefreshState::Active,
            created_at: now.as_secs(),
            family_expires_at: row.family_expires_at,
            last_used_at: now.as_secs(),
            rotated_at: None,
            successor_sealed: None,
        }),
        successor_sealed: successor
            .as_ref()
            .map(|s| inputs.storage.seal(Purpose::RefreshSuccessor, s.as_bytes())),
        token_hash: renewal.token_hash,
        token_sealed: renewal.token_sealed,
        token_expires_at: renewal.token_expires_at,
        legacy_refresh_sealed: renewal.legacy_refresh_sealed,
        profile_json: renewal.profile_json,
        now: now.as_secs(),
    };
    if let Err(e) = inputs.store.complete_rotation(&rotation).await {
        release().await;
        return Err(e.into());
    }
    crate::audit!(inputs.metrics, "token_refreshed", client_id = %client.id, subject = %grant.subject);
    let refresh_token = successor.as_deref().unwrap_or(presented);
    answer(inputs, client, &row.grant_id, refresh_token, scopes).await
}

/// The token answer from the grant's current legacy token.
async fn answer<S: GrantStore + ?Sized>(
    inputs: &TokenIssuer<'_, S>,
    client: &Client,
    grant_id: &str,
    refresh_token: &str,
    scopes: &[String],
) -> Result<TokenResponse, OAuthError> {
    let now = UnixTime::now();
    let grant = inputs
        .store
        .grant(grant_id)
        .await?
        .filter(|g| !g.revoked)
        .ok_or_else(|| OAuthError::invalid_grant("the grant was revoked"))?;
    let token = sealed_grant::access_token(inputs.storage, &grant)
        .ok_or_else(|| OAuthError::server_error(&"a sealed legacy token does not open"))?;
    let id_token = if scopes.iter().any(|s| s == "openid") {
        let profile: Profile =
            serde_json::from_str(&grant.profile_json).map_err(|e| OAuthError::server_error(&e))?;
        // OIDC Core §12.2: a refreshed ID token keeps `sub` and `auth_time`
        // and carries no nonce.
        let input = IdTokenInput {
            alg: client.id_token_alg,
            issuer: inputs.issuer,
            client_id: client.id.as_str(),
            profile: &profile,
            scopes,
            requested: &RequestedClaims::from_stored(&grant.claims).id_token,
            auth_time: UnixTime::from_secs(grant.auth_time),
            nonce: None,
            access_token: token.secret(),
            now,
            ttl: inputs.id_token_ttl,
        };
        Some(id_token::mint(inputs.keys, &input).map_err(|e| OAuthError::server_error(&e))?)
    } else {
        None
    };
    let mut body = TokenResponse::bearer(
        token,
        UnixTime::from_secs(grant.token_expires_at),
        now,
        scopes.join(" "),
    );
    body.refresh_token = Some(refresh_token.to_owned());
    body.id_token = id_token;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_may_narrow_but_not_widen() {
        assert_eq!(
            narrow("openid profile offline_access", None).ok(),
            Some(vec![
                "openid".into(),
                "profile".into(),
                "offline_access".into()
            ])
        );
        assert_eq!(
            narrow("openid profile", Some("openid")).ok(),
            Some(vec!["openid".into()])
        );
        assert_eq!(
            narrow("openid", Some("openid email"))
                .map_err(|e| e.error.as_str())
                .err(),
            Some("invalid_scope")
        );
    }
}
