//! Revoking a user everywhere, and a grant by a token: the one place every
//! way of asking (`idp-bridge revoke`, the admin API, a logout configured to
//! end the user, an Auth0 Event Streams event) goes through, so each ends
//! the same things and leaves the same audit line.
//!
//! A user's revocation ends, in one store transaction, every grant of the
//! user (redeemed or still waiting for its code: a sign-in under way cannot
//! be completed after it), every refresh token of them and every login
//! session; it marks the user so that token exchange and the gateway mint
//! nothing for them until they sign in again; and it records the event every
//! gateway polls, so cached tokens and open tunnels end within
//! `revocation_poll_ms` on every instance. Token exchange reads the store on
//! each request, so it stops at once.

use crate::domain::metrics::Metrics;
use crate::domain::sealed_grant::token_hash;
use crate::domain::store::{RevocationStore, Store, StoreError, UserRevoked};
use crate::domain::types::Subject;
use crate::util::clock::now_unix;
use crate::util::crypto::sha256;

/// Who asked for a revocation (the audit line's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokedBy {
    /// `idp-bridge revoke`.
    Command,
    /// The admin API.
    AdminApi,
    /// RP-initiated logout with `logout_ends = "user"`.
    Logout,
    /// An Auth0 Event Streams event (a deleted or blocked user).
    Auth0Event,
}

impl RevokedBy {
    /// A fixed label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::AdminApi => "admin_api",
            Self::Logout => "logout",
            Self::Auth0Event => "auth0_event",
        }
    }
}

/// Revokes `subject` everywhere and audits `user_revoked` with who asked
/// (`by`, and `who`: the admin API's peer address, the command's OS user,
/// the event's id) and how much ended.
pub async fn revoke_user<S: RevocationStore + ?Sized>(
    store: &S,
    metrics: &Metrics,
    subject: &Subject,
    (by, who): (RevokedBy, &str),
) -> Result<UserRevoked, StoreError> {
    let ended = store.revoke_user(subject.as_str(), now_unix()).await?;
    crate::audit!(
        metrics,
        "user_revoked",
        reason = by.as_str(),
        requested_by = %who,
        subject = %subject,
        grants = ended.grants,
        refresh_tokens = ended.refresh_tokens,
        sessions = ended.sessions
    );
    Ok(ended)
}

/// What revoking by a token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRevoked {
    /// The grant holding the token (a bridge refresh token or a legacy
    /// access token) is revoked; its subject.
    Grant {
        /// The grant's user.
        subject: String,
    },
    /// No grant holds this token.
    Unknown,
}

/// Revokes the grant holding `token` — a refresh token the bridge issued,
/// or a legacy access token it handed out — as RFC 7009 revocation does,
/// but for an operator, whatever the client. Audits `grant_revoked`.
pub async fn revoke_token(
    store: &dyn Store,
    metrics: &Metrics,
    token: &str,
    (by, who): (RevokedBy, &str),
) -> Result<TokenRevoked, StoreError> {
    let grant = match store.refresh(&sha256(token.as_bytes())).await? {
        Some(refresh) => store.grant(&refresh.grant_id).await?,
        None => store
            .grants_by_token_hash(&token_hash(token))
            .await?
            .into_iter()
            .next(),
    };
    let Some(grant) = grant else {
        return Ok(TokenRevoked::Unknown);
    };
    store.revoke_grant(&grant.id).await?;
    crate::audit!(
        metrics,
        "grant_revoked",
        reason = by.as_str(),
        requested_by = %who,
        client_id = %grant.client_id,
        subject = %grant.subject
    );
    Ok(TokenRevoked::Grant {
        subject: grant.subject,
    })
}
