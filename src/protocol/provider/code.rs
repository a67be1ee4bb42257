//! Issuing an authorization code for a completed login: the grant (its
//! legacy tokens sealed by [`crate::domain::sealed_grant`]) and its single-use code are
//! stored in one transaction, with the ID token signed now so the token
//! endpoint stays fast. Redemption is [`super::token`].

use super::authorize::AuthorizationRequest;
use super::id_token::{self, IdTokenInput};
use std::collections::BTreeMap;

use crate::domain::config::{Client, Settings, TokenSettings};
use crate::domain::keys::SigningKeys;
use crate::domain::sealed_grant::SealedTokens;
use crate::domain::store::{CodeRow, GrantRow, GrantStore, LoginOnce, StoreError, ThrottleRelease};
use crate::domain::types::UnixTime;
use crate::domain::upstream::{LegacyGrant, LegacyIdp};
use crate::util::crypto::{Purpose, StorageKey, random_token, sha256};

/// What issuing a code uses: where grants go, the storage key that seals
/// the legacy tokens and the ID token, the signing keys, the issuer, the
/// lifetimes, the clients (each one's ID token algorithm) and how long
/// token exchange may renew a sign-in's token after it.
#[derive(Debug)]
pub struct CodeIssuer<'a, S: ?Sized> {
    /// Where the grant and its code are stored.
    pub store: &'a S,
    /// Seals the legacy tokens and the ID token.
    pub storage: &'a StorageKey,
    /// Signs the ID token.
    pub keys: &'a SigningKeys,
    /// The issuer, without a trailing slash.
    pub issuer: &'a str,
    /// Code and ID token lifetimes.
    pub tokens: &'a TokenSettings,
    /// Clients by id.
    pub clients: &'a BTreeMap<String, Client>,
    /// `[token_exchange] max_session_seconds` when token exchange is
    /// configured and the legacy IdP can renew (`None` otherwise).
    pub exchange_session_seconds: Option<i64>,
}

/// A code just issued, and the grant it redeems into.
#[derive(Debug)]
pub struct Issued {
    /// The authorization code, for the redirect.
    pub code: String,
    /// The grant's id, for the login session.
    pub grant_id: String,
}

/// What a code is issued for.
#[derive(Debug)]
pub enum IssuedFor<'a> {
    /// A sign-in: the login form it answers (spent once), and a password
    /// login's throttle reservations, given back in the same write.
    SignIn(Option<LoginOnce>, Option<ThrottleRelease<'a>>),
    /// `prompt=none`: a grant sharing the legacy token of the session's
    /// grant `source`, stored only while `source` is live (atomically with
    /// any revocation).
    Session {
        /// The session's grant.
        source: &'a str,
    },
}

impl<'a, S: ?Sized> CodeIssuer<'a, S> {
    /// Over the configured issuer, lifetimes, clients and token exchange,
    /// and the parts named (`upstream`: whether it can renew).
    pub fn new(
        settings: &'a Settings,
        store: &'a S,
        storage: &'a StorageKey,
        keys: &'a SigningKeys,
        upstream: &dyn LegacyIdp,
    ) -> Self {
        Self {
            store,
            storage,
            keys,
            issuer: &settings.issuer,
            tokens: &settings.tokens,
            clients: &settings.clients,
            exchange_session_seconds: settings
                .token_exchange
                .as_ref()
                .filter(|_| upstream.can_renew())
                .map(|exchange| exchange.max_session_seconds),
        }
    }
}

/// When a code is issued for a sign-in: when the user authenticated (the
/// ID token's `auth_time`), and now. Named, so the two are never swapped.
#[derive(Debug, Clone, Copy)]
pub struct CodeTimes {
    /// When the user authenticated: now for a password sign-in, the
    /// session's sign-in for `prompt=none`, the legacy IdP's for a redirect.
    pub auth_time: UnixTime,
    /// Now: the grant's creation and the code's and ID token's start.
    pub now: UnixTime,
}

impl CodeTimes {
    /// A sign-in that happened now.
    pub fn signed_in_now(now: UnixTime) -> Self {
        Self {
            auth_time: now,
            now,
        }
    }
}

/// Stores the grant (the legacy token sealed, looked up by its hash) and a
/// single-use code for it, in one row; returns the code, or `None` when
/// the login form it answers already yielded one, or when the session's
/// grant it would share a token with is no longer live.
pub async fn issue_code<S: GrantStore + ?Sized>(
    issuer: &CodeIssuer<'_, S>,
    request: &AuthorizationRequest,
    grant: &LegacyGrant,
    issued_for: IssuedFor<'_>,
    CodeTimes { auth_time, now }: CodeTimes,
) -> Result<Option<Issued>, StoreError> {
    let code = random_token();
    let grant_id = random_token();
    let sealed = SealedTokens::of_login(issuer.storage, grant);
    // Token exchange renews a sign-in's legacy token for
    // `max_session_seconds` after it: the grant must outlive its first
    // token that long, or cleanup takes it at the first pass after the
    // token expires and the user's next exchange finds no session.
    let keep_until = match issuer.exchange_session_seconds {
        Some(seconds) if sealed.refresh_sealed.is_some() => auth_time.plus(seconds).as_secs(),
        _ => 0,
    };
    let row = GrantRow {
        id: grant_id.clone(),
        client_id: request.client_id.to_string(),
        subject: grant.profile.subject.as_str().to_owned(),
        scope: request.scopes.join(" "),
        profile_json: serde_json::to_string(&grant.profile).unwrap_or_default(),
        token_hash: sealed.token_hash,
        token_sealed: sealed.token_sealed,
        legacy_refresh_sealed: sealed.refresh_sealed,
        token_expires_at: grant.expires_at,
        auth_time: auth_time.as_secs(),
        revoked: false,
        created_at: now.as_secs(),
        claims: request.claims.to_stored(),
        keep_until,
    };
    let id_token = if request.scopes.iter().any(|s| s == "openid") {
        let input = IdTokenInput {
            alg: issuer
                .clients
                .get(request.client_id.as_str())
                .map(|c| c.id_token_alg)
                .unwrap_or_default(),
            issuer: issuer.issuer,
            client_id: request.client_id.as_str(),
            profile: &grant.profile,
            scopes: &request.scopes,
            requested: &request.claims.id_token,
            auth_time,
            nonce: request.nonce.as_deref(),
            access_token: grant.access_token.secret(),
            now,
            ttl: issuer.tokens.id_token_ttl_seconds,
        };
        let signed = id_token::mint(issuer.keys, &input)
            .map_err(|e| StoreError(format!("signing the ID token: {e}")))?;
        Some(issuer.storage.seal(Purpose::IdToken, signed.as_bytes()))
    } else {
        None
    };
    let code_row = CodeRow {
        code_hash: sha256(code.as_bytes()).to_vec(),
        id_token_sealed: id_token,
        redirect_uri: request.redirect_uri.to_string(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        expires_at: now.plus(issuer.tokens.code_ttl_seconds).as_secs(),
        login: None,
    };
    let stored = match issued_for {
        IssuedFor::SignIn(login, settle) => {
            let code_row = CodeRow { login, ..code_row };
            issuer
                .store
                .insert_grant_with_code(&row, &code_row, settle)
                .await?
        }
        IssuedFor::Session { source } => {
            issuer
                .store
                .insert_grant_from_session(source, &row, &code_row)
                .await?
        }
    };
    if !stored {
        return Ok(None);
    }
    Ok(Some(Issued { code, grant_id }))
}
