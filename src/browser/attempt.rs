//! One password sign-in at the legacy IdP under the throttle, for every
//! path that takes a password: the login page (`submit`) and Auth0's
//! migration script (`admin::migration`). Both reserve the attempt under
//! the same counters before the legacy IdP is asked ([`throttle::reserve`]),
//! wait the same delay after a failure, lock the same way and write the
//! same audit lines (with the path), so a user locked on one path is
//! locked on the other, and a guesser gains nothing by switching.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

use super::throttle::{self, Reserved};
use crate::domain::config::ThrottleSettings;
use crate::domain::metrics::Metrics;
use crate::domain::store::ThrottleStore;
use crate::domain::types::UnixTime;
use crate::domain::upstream::{LegacyGrant, LegacyIdp, UpstreamError};
use crate::util::crypto::StorageKey;
use crate::util::secret::Password;

/// Which way a password reached the bridge (a metrics and audit label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInPath {
    /// The bridge's login page (`POST /login`).
    LoginPage,
    /// Auth0's custom database `login` script (`POST /migration/login`).
    MigrationScript,
}

impl SignInPath {
    /// The label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LoginPage => "login_page",
            Self::MigrationScript => "migration_script",
        }
    }
}

/// Who is attempting, as the throttle counts it and the audit lines name
/// it.
pub struct Attempt<'a> {
    /// The username as typed (trimmed).
    pub username: &'a str,
    /// Its counters.
    pub counters: throttle::Counters,
    /// The username as audit lines show it ([`throttle::audit_user`]).
    pub user: String,
    /// The client address ([`throttle::client_address`]).
    pub address: IpAddr,
}

impl<'a> Attempt<'a> {
    /// `username` from the request's client address.
    pub fn new(
        settings: &ThrottleSettings,
        storage: &StorageKey,
        username: &'a str,
        headers: &HeaderMap,
        peer: SocketAddr,
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

impl Attempt<'_> {
    /// The same attempt made through Auth0's `login` script, whose client
    /// is Auth0's server, not the person: not counted per address
    /// ([`throttle::Counters::for_script`]).
    #[must_use]
    pub fn through_script(mut self) -> Self {
        self.counters = throttle::Counters::for_script(self.username);
        self
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

impl<'a, S: ?Sized> Gate<'a, S> {
    /// Over `[throttle]` and the parts named.
    pub fn new(
        settings: &'a ThrottleSettings,
        store: &'a S,
        upstream: &'a dyn LegacyIdp,
        metrics: &'a Metrics,
    ) -> Self {
        Self {
            store,
            settings,
            upstream,
            metrics,
        }
    }
}

/// Why a throttled sign-in did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// Locked or throttled: the legacy IdP was not asked, or this wrong
    /// password began a lockout. Seconds until the person may try again.
    Throttled(i64),
    /// The legacy IdP refused or failed.
    Upstream(UpstreamError),
    /// The attempt could not be reserved (the store is down).
    Store,
}

/// Asks the legacy IdP with an attempt reserved under the attempt's
/// counters ([`throttle`]); a refused reservation never reaches it. After a
/// success the reservation is still out: the caller settles it (the login
/// page with the grant's write, [`throttle::settle`] otherwise). Every
/// failure with a credential in it (wrong password, locked account,
/// throttled) is answered after the same delay for its count, so timing
/// tells nothing; each is audited with the username (as configured), the
/// client address and the path, never the password.
pub async fn authenticate<S: ThrottleStore + ?Sized>(
    gate: &Gate<'_, S>,
    attempt: &Attempt<'_>,
    password: &Password,
    path: SignInPath,
) -> Result<LegacyGrant, Failure> {
    let Gate {
        store,
        settings,
        upstream,
        metrics,
    } = *gate;
    let (counters, user, address) = (&attempt.counters, &attempt.user, attempt.address);
    let via = path.as_str();
    let counts = match throttle::reserve(store, settings, counters, UnixTime::now()).await {
        Ok(Reserved::Go(counts)) => counts,
        Ok(Reserved::Refused {
            locked_for,
            scope,
            attempt,
        }) => {
            crate::audit!(metrics, "login_failure", reason = "throttled", user = %user, address = %address, scope = scope.as_str(), path = via);
            tokio::time::sleep(throttle::delay(settings, attempt)).await;
            return Err(Failure::Throttled(locked_for));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot reserve a login attempt");
            return Err(Failure::Store);
        }
    };
    let outcome = upstream.authenticate(attempt.username, password).await;
    metrics.legacy_sign_in(
        via,
        outcome.as_ref().map_or_else(UpstreamError::class, |_| "ok"),
    );
    let settled = match &outcome {
        Ok(_) => Ok(()),
        Err(UpstreamError::InvalidCredentials) => {
            crate::audit!(metrics, "login_failure", reason = "invalid_credentials", user = %user, address = %address, path = via);
            match throttle::failed(store, settings, counters, counts, UnixTime::now()).await {
                Ok(began) => {
                    if let Some(scope) = began {
                        // Counted by scope: many `user` lockouts are a
                        // distributed guess, many `address` ones a spray.
                        crate::audit!(metrics, "login_lockout", reason = scope.as_str(), user = %user, address = %address, path = via);
                    }
                    tokio::time::sleep(throttle::delay(settings, counts.user_address)).await;
                    if began.is_some() {
                        return Err(Failure::Throttled(settings.lockout_seconds));
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => {
            // The cause says which outage: refused, DNS, TLS, timeout, status.
            crate::audit!(metrics, "login_failure", reason = e.class(), cause = %e, user = %user, address = %address, path = via);
            if *e == UpstreamError::Locked {
                tokio::time::sleep(throttle::delay(settings, counts.user_address)).await;
            }
            throttle::settle(store, counters, false).await
        }
    };
    if let Err(e) = settled {
        tracing::error!(error = %e, "cannot settle a login attempt");
    }
    outcome.map_err(Failure::Upstream)
}
