//! Small cryptographic helpers: random tokens, hashes for lookups, and the
//! storage key that seals secrets at rest (legacy tokens, signing keys,
//! transient login state) and keys hashes that must not be reversible by
//! guessing (usernames in audit lines).

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::util::secret::Key32;

/// 256 bits of randomness, base64url: codes, refresh tokens, CSRF tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256, for looking secrets up by hash without storing them.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-1, only where a protocol names it and relies on nothing but its
/// spread (the WebSocket handshake's accept value, RFC 6455 §4.2.2); never
/// for anything secret.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut out = [0u8; 20];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Unpadded base64url.
pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// What a sealed value is for; its label is the AEAD's associated data, so
/// a value sealed for one use cannot be opened as another. The labels are
/// stored with every sealed value: never change one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A validated authorization request, carried in the login form.
    PendingLogin,
    /// A legacy access token at rest.
    LegacyToken,
    /// A legacy refresh token at rest.
    LegacyRefreshToken,
    /// An ID token signed at login, kept beside its code.
    IdToken,
    /// A rotated refresh token's successor, kept for the reuse grace period.
    RefreshSuccessor,
    /// A signing key's private half.
    SigningKey,
    /// A sign-in handed to a redirect legacy IdP, kept in a cookie until
    /// its callback.
    UpstreamTransaction,
    /// A username in audit lines: keyed-hashed ([`StorageKey::keyed_hash`]),
    /// never sealed.
    AuditUsername,
}

impl Purpose {
    /// The associated-data label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::PendingLogin => "pending-login",
            Self::LegacyToken => "legacy-token",
            Self::LegacyRefreshToken => "legacy-refresh-token",
            Self::IdToken => "id-token",
            Self::RefreshSuccessor => "refresh-successor",
            Self::SigningKey => "signing-key",
            Self::UpstreamTransaction => "upstream-transaction",
            Self::AuditUsername => "audit-username",
        }
    }
}

/// The key that seals secrets at rest (AES-256-GCM, random nonce, a
/// [`Purpose`] label as associated data so a value sealed for one use cannot be
/// replayed as another), and keys hashes (HMAC-SHA256 under a key derived
/// from it, never the cipher's key itself).
///
/// During a storage-key rotation it also holds the previous key: values
/// open under either (the current first), and are always sealed under the
/// current one. Keyed hashes follow the current key only.
#[derive(Clone)]
pub struct StorageKey {
    cipher: Aes256Gcm,
    mac: ring::hmac::Key,
    previous: Option<Aes256Gcm>,
}

/// What [`StorageKey::reseal`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Resealed {
    /// Already sealed under the current key: nothing to do.
    Current,
    /// Sealed under the previous key; here it is under the current one.
    Moved(Vec<u8>),
    /// Opens under neither key (tampered, another purpose, or an older key).
    Unreadable,
}

/// What the storage key's HMAC key is derived with (HMAC-SHA256 of this
/// label under the storage key): never change it, or every keyed hash
/// changes.
const MAC_KEY_LABEL: &[u8] = b"idp-bridge keyed hashes v1";

impl std::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StorageKey([redacted])")
    }
}

impl StorageKey {
    /// From raw key material.
    pub fn new(key: &Key32) -> Self {
        let derived = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.secret()),
            MAC_KEY_LABEL,
        );
        Self {
            cipher: Aes256Gcm::new(key.secret().into()),
            mac: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()),
            previous: None,
        }
    }

    /// This key, also opening values sealed under `previous` (while a
    /// storage-key rotation runs).
    #[must_use]
    pub fn with_previous(mut self, previous: &Key32) -> Self {
        self.previous = Some(Aes256Gcm::new(previous.secret().into()));
        self
    }

    /// Whether a previous key is also read.
    pub fn has_previous(&self) -> bool {
        self.previous.is_some()
    }

    /// A stored value sealed for `purpose`, moved under the current key if
    /// the previous key sealed it. Idempotent: a value already under the
    /// current key is left as it is.
    pub fn reseal(&self, purpose: Purpose, sealed: &[u8]) -> Resealed {
        let aad = purpose.label().as_bytes();
        if open_under(&self.cipher, aad, sealed).is_some() {
            return Resealed::Current;
        }
        match self
            .previous
            .as_ref()
            .and_then(|p| open_under(p, aad, sealed))
        {
            Some(plain) => {
                let plain = zeroize::Zeroizing::new(plain);
                Resealed::Moved(self.seal_with(aad, &plain))
            }
            None => Resealed::Unreadable,
        }
    }

    /// HMAC-SHA256 of `data` for `purpose` (its label and a separator come
    /// first), under a key derived from the storage key: the same on every
    /// instance sharing the key, and not found by hashing guesses without it.
    pub fn keyed_hash(&self, purpose: Purpose, data: &[u8]) -> [u8; 32] {
        let mut context = ring::hmac::Context::with_key(&self.mac);
        context.update(purpose.label().as_bytes());
        context.update(&[0]);
        context.update(data);
        let mut out = [0u8; 32];
        out.copy_from_slice(context.sign().as_ref());
        out
    }

    /// Seals `plaintext` for `purpose`: `nonce || ciphertext || tag`.
    pub fn seal(&self, purpose: Purpose, plaintext: &[u8]) -> Vec<u8> {
        self.seal_with(purpose.label().as_bytes(), plaintext)
    }

    /// Opens a value sealed for `purpose`; `None` if tampered or misused.
    pub fn open(&self, purpose: Purpose, sealed: &[u8]) -> Option<Vec<u8>> {
        self.open_with(purpose.label().as_bytes(), sealed)
    }

    /// Seals `plaintext` for `purpose`, bound to `binding` (a value the
    /// same client must present again, such as its CSRF cookie), as a
    /// URL-safe string: it opens only with the same binding.
    pub fn seal_text_bound(&self, purpose: Purpose, binding: &[u8], plaintext: &[u8]) -> String {
        b64url(&self.seal_with(&bound_aad(purpose, binding), plaintext))
    }

    /// Opens a string made by [`Self::seal_text_bound`] with the same binding.
    pub fn open_text_bound(
        &self,
        purpose: Purpose,
        binding: &[u8],
        sealed: &str,
    ) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        self.open_with(&bound_aad(purpose, binding), &bytes)
    }

    fn seal_with(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        // Encryption only fails for inputs beyond GCM's 64 GiB limit.
        if let Ok(sealed) = self.cipher.encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        ) {
            out.extend_from_slice(&sealed);
        }
        out
    }

    fn open_with(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        open_under(&self.cipher, aad, sealed).or_else(|| {
            self.previous
                .as_ref()
                .and_then(|p| open_under(p, aad, sealed))
        })
    }
}

/// Opens `nonce || ciphertext || tag` under `cipher`.
fn open_under(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < 12 + 16 {
        return None;
    }
    let (nonce, body) = sealed.split_at(12);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad })
        .ok()
}

/// The associated data of a bound value: the purpose, a separator no label
/// contains, then the binding.
fn bound_aad(purpose: Purpose, binding: &[u8]) -> Vec<u8> {
    let mut aad = purpose.label().as_bytes().to_vec();
    aad.push(0);
    aad.extend_from_slice(binding);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_purpose() {
        let key = StorageKey::new(&Key32::new([3; 32]));
        let sealed = key.seal(Purpose::LegacyToken, b"secret");
        assert_eq!(
            key.open(Purpose::LegacyToken, &sealed).as_deref(),
            Some(&b"secret"[..])
        );
        assert_eq!(key.open(Purpose::LegacyRefreshToken, &sealed), None);
        assert_eq!(
            key.open_text_bound(Purpose::PendingLogin, b"", "garbage"),
            None
        );
        let bound = key.seal_text_bound(Purpose::PendingLogin, b"cookie-a", b"x");
        assert_eq!(
            key.open_text_bound(Purpose::PendingLogin, b"cookie-a", &bound)
                .as_deref(),
            Some(&b"x"[..])
        );
        assert_eq!(
            key.open_text_bound(Purpose::PendingLogin, b"cookie-b", &bound),
            None,
            "another binding"
        );
        assert_eq!(
            key.open_text_bound(Purpose::LegacyToken, b"cookie-a", &bound),
            None,
            "another purpose"
        );
    }

    #[test]
    fn a_previous_key_is_read_and_resealing_moves_values_under_the_current_one() {
        let old = StorageKey::new(&Key32::new([1; 32]));
        let sealed = old.seal(Purpose::LegacyToken, b"secret");
        let bound = old.seal_text_bound(Purpose::PendingLogin, b"c", b"form");
        let new = StorageKey::new(&Key32::new([2; 32]));
        assert_eq!(new.open(Purpose::LegacyToken, &sealed), None);
        let both = new.clone().with_previous(&Key32::new([1; 32]));
        assert!(both.has_previous() && !new.has_previous());
        assert_eq!(
            both.open(Purpose::LegacyToken, &sealed).as_deref(),
            Some(&b"secret"[..])
        );
        assert_eq!(
            both.open_text_bound(Purpose::PendingLogin, b"c", &bound)
                .as_deref(),
            Some(&b"form"[..]),
            "forms sealed before the switch still open"
        );
        let Resealed::Moved(moved) = both.reseal(Purpose::LegacyToken, &sealed) else {
            panic!("moved");
        };
        assert_eq!(
            new.open(Purpose::LegacyToken, &moved).as_deref(),
            Some(&b"secret"[..]),
            "opens with the new key alone"
        );
        assert_eq!(both.reseal(Purpose::LegacyToken, &moved), Resealed::Current);
        assert_eq!(
            both.reseal(Purpose::LegacyRefreshToken, &sealed),
            Resealed::Unreadable,
            "another purpose is never moved"
        );
        assert_eq!(
            both.keyed_hash(Purpose::AuditUsername, b"a"),
            new.keyed_hash(Purpose::AuditUsername, b"a"),
            "keyed hashes follow the current key"
        );
    }

    #[test]
    fn keyed_hashes_depend_on_the_key_the_purpose_and_the_data() {
        let key = StorageKey::new(&Key32::new([3; 32]));
        let same = StorageKey::new(&Key32::new([3; 32]));
        let other = StorageKey::new(&Key32::new([4; 32]));
        let hash = key.keyed_hash(Purpose::AuditUsername, b"alice");
        assert_eq!(hash, same.keyed_hash(Purpose::AuditUsername, b"alice"));
        assert_ne!(hash, other.keyed_hash(Purpose::AuditUsername, b"alice"));
        assert_ne!(hash, key.keyed_hash(Purpose::AuditUsername, b"alicf"));
        assert_ne!(hash, key.keyed_hash(Purpose::LegacyToken, b"alice"));
        assert_ne!(hash, sha256(b"alice"), "not a plain hash");
    }
}
