//! The pending login: the validated authorization request and the page's
//! language, sealed under the storage key into the login form, so nothing
//! is written before the password check and the browser cannot alter it.
//! The seal is bound to the browser's CSRF cookie (its value is in the
//! AEAD's associated data), so a form rendered for one browser does not open
//! in another; its random `id` is spent by the one code it may yield
//! ([`crate::domain::store::LoginOnce`]).

use serde::{Deserialize, Serialize};

use super::locale::Locale;
use crate::domain::types::UnixTime;
use crate::protocol::provider::authorize::AuthorizationRequest;
use crate::util::crypto::{Purpose, StorageKey};

/// An authorization request that passed validation, waiting for the login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The form's random id: one code per rendered form.
    pub id: String,
    /// The validated request.
    #[serde(flatten)]
    pub request: AuthorizationRequest,
    /// The login page's language (`ui_locales`, else `Accept-Language`).
    #[serde(default)]
    pub locale: Locale,
}

impl PendingLogin {
    /// Seals it into a URL-safe form field bound to the browser's CSRF
    /// cookie.
    pub fn seal(&self, storage: &StorageKey, csrf: &str) -> Result<String, serde_json::Error> {
        serde_json::to_vec(self)
            .map(|json| storage.seal_text_bound(Purpose::PendingLogin, csrf.as_bytes(), &json))
    }

    /// Opens a form field made by [`Self::seal`] for the same CSRF cookie;
    /// `None` when it was tampered with, made for another browser, or has
    /// expired.
    pub fn open(storage: &StorageKey, csrf: &str, sealed: &str) -> Option<Self> {
        storage
            .open_text_bound(Purpose::PendingLogin, csrf.as_bytes(), sealed)
            .and_then(|json| serde_json::from_slice::<Self>(&json).ok())
            .filter(|p| p.request.expires_at >= UnixTime::now())
    }
}
