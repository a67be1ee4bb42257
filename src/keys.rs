//! ID token signing keys: RSA-2048 (RS256), generated at first start, the
//! private part sealed at rest in the store, the public part served as JWKS.
//! Keys are loaded once at start (not in lazy statics) and shared in state.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::crypto::{StorageKey, b64url, sha256};
use crate::store::{Store, StoreError, StoredKey};

const PURPOSE: &str = "signing-key";

/// The signing key in use and the public keys published.
pub struct Keys {
    kid: String,
    encoding: EncodingKey,
    jwks: Value,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("kid", &self.kid)
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

impl Keys {
    /// Loads the keys from the store, generating the first one if there is none.
    pub async fn load_or_generate(
        store: &dyn Store,
        storage: &StorageKey,
    ) -> Result<Self, KeysError> {
        let mut stored = store.signing_keys().await?;
        if stored.is_empty() {
            let key = tokio::task::spawn_blocking(generate)
                .await
                .map_err(|e| KeysError::Crypto(e.to_string()))??;
            let row = seal(&key, storage)?;
            store.insert_first_signing_key(&row).await?;
            stored = store.signing_keys().await?;
        }
        Self::from_stored(&stored, storage)
    }

    fn from_stored(stored: &[StoredKey], storage: &StorageKey) -> Result<Self, KeysError> {
        let newest = stored
            .last()
            .ok_or_else(|| KeysError::Crypto("no signing key".into()))?;
        let der = Zeroizing::new(
            storage
                .open(PURPOSE, &newest.private_sealed)
                .ok_or_else(|| KeysError::Sealed(newest.kid.clone()))?,
        );
        let encoding = EncodingKey::from_rsa_der(&der);
        let keys: Vec<Value> = stored
            .iter()
            .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
            .collect();
        Ok(Self {
            kid: newest.kid.clone(),
            encoding,
            jwks: json!({ "keys": keys }),
        })
    }

    /// The JWK Set document.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// The kid tokens are signed with.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs claims as an RS256 JWT with the current kid.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

fn generate() -> Result<RsaPrivateKey, KeysError> {
    RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).map_err(|e| KeysError::Crypto(e.to_string()))
}

fn seal(key: &RsaPrivateKey, storage: &StorageKey) -> Result<StoredKey, KeysError> {
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
        created_at: crate::upstream::now_unix(),
    })
}
