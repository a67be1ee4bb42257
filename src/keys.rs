//! ID token signing keys: RSA-2048 (RS256), generated at first start, the
//! private part sealed at rest in the store, the public parts served as
//! JWKS. Keys are loaded at start and reloaded from the store periodically,
//! so a rotation made anywhere (`idp-bridge keys rotate`, on any instance's
//! database) reaches every instance within the reload interval.
//!
//! Rotation is two-phase: a new key is stored with an activation time in the
//! future; it is published in JWKS at once but signs nothing until it
//! activates, so relying parties see it before they meet a token signed with
//! it. Superseded keys stay published until every token they signed has
//! expired, then `keys rotate` prunes them.

use std::sync::RwLock;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::crypto::{StorageKey, b64url, sha256};
use crate::store::{Store, StoreError, StoredKey};
use crate::upstream::now_unix;

const PURPOSE: &str = "signing-key";

struct Loaded {
    kid: String,
    encoding: EncodingKey,
    jwks: Value,
    decoding: Vec<(String, jsonwebtoken::DecodingKey)>,
}

/// The signing key in use and the public keys published.
pub struct Keys {
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key does not open under this storage key.
    #[error("signing key {0} does not open with this storage key (was the storage key changed?)")]
    Sealed(String),
    /// Key generation or encoding failed.
    #[error("signing key: {0}")]
    Crypto(String),
}

/// The key that signs at `now`: the newest one already active, or, if none
/// is active yet, the oldest.
pub fn active(stored: &[StoredKey], now: i64) -> Option<&StoredKey> {
    stored
        .iter()
        .filter(|k| k.activates_at <= now)
        .max_by_key(|k| (k.activates_at, k.created_at))
        .or_else(|| stored.iter().min_by_key(|k| (k.activates_at, k.created_at)))
}

impl Keys {
    /// Loads the keys from the store, generating the first one if there is
    /// none (of instances starting together, one key wins).
    pub async fn load_or_generate(
        store: &dyn Store,
        storage: &StorageKey,
    ) -> Result<Self, KeysError> {
        let mut stored = store.signing_keys().await?;
        if stored.is_empty() {
            let row = generate_sealed(storage, now_unix()).await?;
            store.insert_first_signing_key(&row).await?;
            stored = store.signing_keys().await?;
        }
        Ok(Self {
            loaded: RwLock::new(load(&stored, storage, now_unix())?),
        })
    }

    /// Re-reads the keys from the store and picks the active one again.
    pub async fn reload(&self, store: &dyn Store, storage: &StorageKey) -> Result<(), KeysError> {
        let stored = store.signing_keys().await?;
        if stored.is_empty() {
            return Ok(());
        }
        let fresh = load(&stored, storage, now_unix())?;
        if fresh.kid != self.kid() || fresh.jwks != self.jwks() {
            tracing::info!(kid = %fresh.kid, keys = stored.len(), "signing keys reloaded");
        }
        *self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// The JWK Set document.
    pub fn jwks(&self) -> Value {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .jwks
            .clone()
    }

    /// The kid tokens are signed with.
    pub fn kid(&self) -> String {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .kid
            .clone()
    }

    /// Verifies a JWT this bridge signed (any published key) and returns its
    /// claims. `exp` is not checked: an expired ID token is still a valid
    /// logout hint (OIDC RP-Initiated Logout §2).
    pub fn verify_own(&self, token: &str, issuer: &str) -> Option<Value> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (_, key) = loaded.decoding.iter().find(|(k, _)| *k == kid)?;
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[issuer]);
        jsonwebtoken::decode::<Value>(token, key, &validation)
            .ok()
            .map(|d| d.claims)
    }

    /// Signs claims as an RS256 JWT with the active kid.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(loaded.kid.clone());
        jsonwebtoken::encode(&header, claims, &loaded.encoding)
    }
}

fn load(stored: &[StoredKey], storage: &StorageKey, now: i64) -> Result<Loaded, KeysError> {
    let signing = active(stored, now).ok_or_else(|| KeysError::Crypto("no signing key".into()))?;
    let der = Zeroizing::new(
        storage
            .open(PURPOSE, &signing.private_sealed)
            .ok_or_else(|| KeysError::Sealed(signing.kid.clone()))?,
    );
    let keys: Vec<Value> = stored
        .iter()
        .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
        .collect();
    let decoding = keys
        .iter()
        .filter_map(|jwk| {
            let key = jsonwebtoken::DecodingKey::from_rsa_components(
                jwk["n"].as_str()?,
                jwk["e"].as_str()?,
            )
            .ok()?;
            Some((jwk["kid"].as_str()?.to_owned(), key))
        })
        .collect();
    Ok(Loaded {
        kid: signing.kid.clone(),
        encoding: EncodingKey::from_rsa_der(&der),
        jwks: json!({ "keys": keys }),
        decoding,
    })
}

/// Generates an RSA-2048 key (off the async threads) and seals it.
pub async fn generate_sealed(
    storage: &StorageKey,
    activates_at: i64,
) -> Result<StoredKey, KeysError> {
    let key = tokio::task::spawn_blocking(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048))
        .await
        .map_err(|e| KeysError::Crypto(e.to_string()))?
        .map_err(|e| KeysError::Crypto(e.to_string()))?;
    seal(&key, storage, activates_at)
}

fn seal(
    key: &RsaPrivateKey,
    storage: &StorageKey,
    activates_at: i64,
) -> Result<StoredKey, KeysError> {
    let public = key.to_public_key();
    let n = b64url(&public.n().to_bytes_be());
    let e = b64url(&public.e().to_bytes_be());
    // RFC 7638 thumbprint as the kid: stable and unique per key.
    let thumbprint_input = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    let kid = b64url(&sha256(thumbprint_input.as_bytes()));
    let jwk = json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e});
    let der = key
        .to_pkcs1_der()
        .map_err(|e| KeysError::Crypto(e.to_string()))?;
    Ok(StoredKey {
        kid,
        alg: "RS256".into(),
        private_sealed: storage.seal(PURPOSE, der.as_bytes()),
        public_jwk: jwk.to_string(),
        created_at: now_unix(),
        activates_at,
    })
}

/// Keys no longer needed at `now`: superseded by a key that has been active
/// for longer than `max_token_ttl`, so every token they signed has expired.
pub fn prunable(stored: &[StoredKey], now: i64, max_token_ttl: i64) -> Vec<String> {
    let Some(current) = active(stored, now) else {
        return Vec::new();
    };
    stored
        .iter()
        .filter(|k| {
            k.kid != current.kid
                && (k.activates_at, k.created_at) < (current.activates_at, current.created_at)
        })
        .filter(|_| current.activates_at + max_token_ttl < now)
        .map(|k| k.kid.clone())
        .collect()
}

/// `idp-bridge keys rotate`: stores a new key that signs from
/// `now + activation_delay` (published in JWKS at once), and prunes keys
/// whose tokens have all expired. Returns the new key and the pruned kids.
pub async fn rotate(
    store: &dyn Store,
    storage: &StorageKey,
    activation_delay: i64,
    max_token_ttl: i64,
) -> Result<(StoredKey, Vec<String>), KeysError> {
    let now = now_unix();
    let key = generate_sealed(storage, now + activation_delay.max(0)).await?;
    store.insert_signing_key(&key).await?;
    let stored = store.signing_keys().await?;
    let pruned = prunable(&stored, now, max_token_ttl);
    for kid in &pruned {
        store.delete_signing_key(kid).await?;
    }
    Ok((key, pruned))
}

/// One line per key for `idp-bridge keys list`: kid, state, times.
pub fn describe(stored: &[StoredKey], now: i64) -> Vec<String> {
    let current = active(stored, now).map(|k| k.kid.clone());
    stored
        .iter()
        .map(|k| {
            let state = if Some(&k.kid) == current.as_ref() {
                "signing"
            } else if k.activates_at > now {
                "published, not yet signing"
            } else {
                "retired, still published"
            };
            format!(
                "{}  {}  {state}  created {}  activates {}",
                k.kid, k.alg, k.created_at, k.activates_at
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(kid: &str, activates_at: i64) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg: "RS256".into(),
            private_sealed: vec![],
            public_jwk: "{}".into(),
            created_at: activates_at,
            activates_at,
        }
    }

    #[test]
    fn the_newest_active_key_signs_and_a_pending_one_waits() {
        let keys = [k("old", 0), k("new", 100)];
        assert_eq!(active(&keys, 50).map(|k| k.kid.as_str()), Some("old"));
        assert_eq!(active(&keys, 100).map(|k| k.kid.as_str()), Some("new"));
        assert_eq!(
            active(&[k("future", 100)], 0).map(|k| k.kid.as_str()),
            Some("future"),
            "a lone key signs even before its time"
        );
    }

    #[test]
    fn old_keys_are_pruned_only_after_their_tokens_expired() {
        let keys = [k("old", 0), k("new", 100)];
        assert!(
            prunable(&keys, 150, 3600).is_empty(),
            "tokens signed by old may still be valid"
        );
        assert_eq!(prunable(&keys, 100 + 3601, 3600), vec!["old".to_owned()]);
    }
}
