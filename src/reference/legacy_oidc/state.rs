//! The login page's state: codes in flight, the ID token key, and the
//! switches tests turn (faults, `iss`, a reused session, re-keying).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::signing::{IdTokenFault, Signer};
use crate::util::clock::now_unix;

#[derive(Debug)]
pub(super) struct PendingCode {
    pub(super) username: String,
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) challenge: String,
    pub(super) nonce: Option<String>,
    pub(super) scope: String,
    /// `offline_access` was asked for with `prompt=consent` (OIDC Core §11).
    pub(super) offline: bool,
    pub(super) auth_time: i64,
    pub(super) expires_at: i64,
}

/// The login page's state: codes in flight, the signing key, faults.
pub struct LoginPage {
    pub(super) codes: Mutex<HashMap<String, PendingCode>>,
    pub(super) signer: Signer,
    fault: Mutex<IdTokenFault>,
    response_iss: AtomicBool,
    session_age: Mutex<Option<i64>>,
    pub(super) logouts: AtomicU64,
    pub(super) code_redemptions: AtomicU64,
}

impl std::fmt::Debug for LoginPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginPage")
            .field("fault", &self.fault())
            .finish_non_exhaustive()
    }
}

impl LoginPage {
    /// A fresh RSA 2048 key and no codes.
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            codes: Mutex::new(HashMap::new()),
            signer: Signer::new()?,
            fault: Mutex::new(IdTokenFault::None),
            response_iss: AtomicBool::new(true),
            session_age: Mutex::new(None),
            logouts: AtomicU64::new(0),
            code_redemptions: AtomicU64::new(0),
        })
    }

    /// Makes the next ID tokens wrong in this way.
    pub fn set_id_token_fault(&self, fault: IdTokenFault) {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = fault;
    }

    /// With `false`, discovery no longer advertises
    /// `authorization_response_iss_parameter_supported` and the answers
    /// carry no `iss`, as a legacy IdP that predates RFC 9207.
    pub fn set_response_iss(&self, on: bool) {
        self.response_iss.store(on, Ordering::Relaxed);
    }

    /// With `Some(age)`, sign-ins reuse a session that authenticated `age`
    /// seconds ago (negative: a clock ahead): the ID token's `auth_time`
    /// and userinfo's (which states it only then) say so. `None`: each
    /// sign-in authenticates at the password check.
    pub fn set_session_age(&self, age: Option<i64>) {
        *self
            .session_age
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = age;
    }

    /// The reused session's `auth_time`, when [`Self::set_session_age`] set one.
    pub fn session_auth_time(&self) -> Option<i64> {
        self.session_age
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|age| now_unix() - age)
    }

    /// Replaces the ID token key by a new one under the same `kid`.
    pub fn rotate_key_keeping_kid(&self) -> Result<(), String> {
        self.signer.rotate_keeping_kid()
    }

    /// How many times `/oauth/jwks` was read.
    pub fn jwks_reads(&self) -> u64 {
        self.signer.jwks_reads()
    }

    /// How many times `/oauth/logout` was visited.
    pub fn logouts(&self) -> u64 {
        self.logouts.load(Ordering::Relaxed)
    }

    /// How many authorization codes were presented at the token endpoint.
    pub fn code_redemptions(&self) -> u64 {
        self.code_redemptions.load(Ordering::Relaxed)
    }

    pub(super) fn fault(&self) -> IdTokenFault {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn sends_iss(&self) -> bool {
        self.response_iss.load(Ordering::Relaxed)
    }
}
