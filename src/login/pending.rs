//! The pending login: the validated authorization request and the page's
//! language, sealed under the storage key into the login form, so nothing
//! is written before the password check and the browser cannot alter it.

use serde::{Deserialize, Serialize};

use super::locale::Locale;
use crate::clock::now_unix;
use crate::crypto::{Purpose, StorageKey};
use crate::provider::authorize::AuthorizationRequest;

/// An authorization request that passed validation, waiting for the login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The validated request.
    #[serde(flatten)]
    pub request: AuthorizationRequest,
    /// The login page's language (`ui_locales`, else `Accept-Language`).
    #[serde(default)]
    pub locale: Locale,
}

impl PendingLogin {
    /// Seals it into a URL-safe form field.
    pub fn seal(&self, storage: &StorageKey) -> Result<String, serde_json::Error> {
        serde_json::to_vec(self).map(|json| storage.seal_text(Purpose::PendingLogin, &json))
    }

    /// Opens a form field made by [`Self::seal`]; `None` when it was
    /// tampered with or has expired.
    pub fn open(storage: &StorageKey, sealed: &str) -> Option<Self> {
        storage
            .open_text(Purpose::PendingLogin, sealed)
            .and_then(|json| serde_json::from_slice::<Self>(&json).ok())
            .filter(|p| p.request.expires_at >= now_unix())
    }
}
