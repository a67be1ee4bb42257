//! ID token signing keys: RSA-2048 (RS256, the default, and what Auth0
//! expects) and, for clients registered with `id_token_signed_response_alg
//! = "ES256"`, ECDSA P-256 (ES256). Keys are generated at first start, the
//! private part sealed at rest in the store, the public parts served as
//! JWKS. Keys are loaded at start and reloaded from the store periodically,
//! so a rotation made anywhere (`idp-bridge keys rotate`, on any instance's
//! database) reaches every instance within the reload interval.
//!
//! Rotation is two-phase, per algorithm: a new key is stored with an
//! activation time in the future; it is published in JWKS at once but signs
//! nothing until it activates, so relying parties see it before they meet a
//! token signed with it. Superseded keys stay published until every token
//! they signed has expired, then `keys rotate` or the schedule
//! (`key_rotation`) prunes them.

use std::sync::RwLock;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// The algorithms are named by the settings (`config`), which sit below the
/// keys; they are the keys' vocabulary too.
pub use crate::domain::config::SigningAlg;
use crate::domain::store::{Store, StoreError, StoredKey};
use crate::util::clock::now_unix;
use crate::util::crypto::{Purpose, StorageKey, b64url, sha256};

/// `jsonwebtoken`'s name for `alg`.
fn jwt_alg(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
    }
}

/// The private half a signer holds.
enum SignerKey {
    /// RS256 signs through aws-lc-rs: its RSA is about twice as fast as
    /// ring's (what `jsonwebtoken` 9 uses), and an RS256 signature is the
    /// largest fixed cost of a login.
    Rsa(aws_lc_rs::signature::RsaKeyPair),
    /// ES256 through `jsonwebtoken` (ring): already cheap.
    Jwt(EncodingKey),
}

/// One active key that signs JWTs: the algorithm, its `kid` and the
/// private key (never printed).
pub struct JwtSigner {
    alg: SigningAlg,
    kid: String,
    key: SignerKey,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// A signer from the private key's DER: PKCS#1 `RSAPrivateKey` for
    /// RS256, PKCS#8 for ES256 (what the store holds, sealed).
    pub fn from_der(alg: SigningAlg, kid: String, der: &[u8]) -> Result<Self, KeysError> {
        let key = match alg {
            SigningAlg::RS256 => SignerKey::Rsa(
                aws_lc_rs::signature::RsaKeyPair::from_der(der)
                    .map_err(|e| KeysError::Crypto(format!("RSA key {kid}: {e}")))?,
            ),
            SigningAlg::ES256 => SignerKey::Jwt(EncodingKey::from_ec_der(der)),
        };
        Ok(Self { alg, kid, key })
    }

    /// Signs `claims` as a compact JWT with this key's `alg` and `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(jwt_alg(self.alg));
        header.kid = Some(self.kid.clone());
        match &self.key {
            SignerKey::Jwt(encoding) => jsonwebtoken::encode(&header, claims, encoding),
            SignerKey::Rsa(pair) => {
                // RFC 7515 §7.1: BASE64URL(header) "." BASE64URL(payload),
                // signed with RSASSA-PKCS1-v1_5 SHA-256 (RFC 7518 §3.3).
                let mut jwt = b64url(&serde_json::to_vec(&header)?);
                jwt.push('.');
                jwt.push_str(&b64url(&serde_json::to_vec(claims)?));
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    jwt.as_bytes(),
                    &mut signature,
                )
                .map_err(|_| jsonwebtoken::errors::ErrorKind::RsaFailedSigning)?;
                jwt.push('.');
                jwt.push_str(&b64url(&signature));
                Ok(jwt)
            }
        }
    }
}

struct Loaded {
    signers: Vec<JwtSigner>,
    jwks: JwkSet,
    decoding: Vec<(String, Algorithm, DecodingKey)>,
}

/// The signing keys in use and the public keys published.
pub struct SigningKeys {
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("kid", &self.kid(SigningAlg::RS256))
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

/// The `alg` key that signs at `now`: the newest one already active, or, if
/// none is active yet, the oldest.
pub fn active(stored: &[StoredKey], alg: SigningAlg, now: i64) -> Option<&StoredKey> {
    let of_alg = || stored.iter().filter(|k| k.alg == alg.as_str());
    of_alg()
        .filter(|k| k.activates_at <= now)
        .max_by_key(|k| (k.activates_at, k.created_at))
        .or_else(|| of_alg().min_by_key(|k| (k.activates_at, k.created_at)))
}

/// The algorithms that have keys in `stored`, RS256 always among them.
pub(crate) fn algorithms_in(stored: &[StoredKey]) -> Vec<SigningAlg> {
    SigningAlg::ALL
        .into_iter()
        .filter(|a| *a == SigningAlg::RS256 || stored.iter().any(|k| k.alg == a.as_str()))
        .collect()
}

impl SigningKeys {
    /// Loads the keys from the store, generating the first key of RS256 and
    /// of each algorithm in `wanted` that has none (of instances starting
    /// together, one key per algorithm wins).
    pub async fn load_or_generate(
        store: &dyn Store,
        storage: &StorageKey,
        wanted: &[SigningAlg],
    ) -> Result<Self, KeysError> {
        let mut stored = store.signing_keys().await?;
        let missing: Vec<SigningAlg> = SigningAlg::ALL
            .into_iter()
            .filter(|a| *a == SigningAlg::RS256 || wanted.contains(a))
            .filter(|a| !stored.iter().any(|k| k.alg == a.as_str()))
            .collect();
        for alg in &missing {
            let row = generate_sealed(storage, *alg, now_unix()).await?;
            store.insert_first_signing_key(&row).await?;
        }
        if !missing.is_empty() {
            stored = store.signing_keys().await?;
        }
        Ok(Self {
            loaded: RwLock::new(load(&stored, storage, now_unix())?),
        })
    }

    /// Re-reads the keys from the store and picks the active ones again.
    pub async fn reload(&self, store: &dyn Store, storage: &StorageKey) -> Result<(), KeysError> {
        let stored = store.signing_keys().await?;
        if stored.is_empty() {
            return Ok(());
        }
        let fresh = load(&stored, storage, now_unix())?;
        let kids = |l: &Loaded| l.signers.iter().map(|s| s.kid.clone()).collect::<Vec<_>>();
        let mut loaded = self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kids(&fresh) != kids(&loaded) || fresh.jwks != loaded.jwks {
            tracing::info!(kids = ?kids(&fresh), keys = stored.len(), "signing keys reloaded");
        }
        *loaded = fresh;
        Ok(())
    }

    /// The JWK Set document.
    pub fn jwks(&self) -> JwkSet {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .jwks
            .clone()
    }

    /// The kid `alg` tokens are signed with, if there is an `alg` key.
    pub fn kid(&self, alg: SigningAlg) -> Option<String> {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .signers
            .iter()
            .find(|s| s.alg == alg)
            .map(|s| s.kid.clone())
    }

    /// Verifies a JWT this bridge signed (any published key, either
    /// algorithm) and returns its claims. `exp` is not checked: an expired
    /// ID token is still a valid logout hint (OIDC RP-Initiated Logout §2).
    pub fn verify_own(&self, token: &str, issuer: &str) -> Option<Value> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let kid = header.kid?;
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (_, alg, key) = loaded.decoding.iter().find(|(k, _, _)| *k == kid)?;
        let mut validation = jsonwebtoken::Validation::new(*alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[issuer]);
        jsonwebtoken::decode::<Value>(token, key, &validation)
            .ok()
            .map(|d| d.claims)
    }

    /// Signs claims as a JWT with the active `alg` key.
    pub fn sign<T: Serialize>(
        &self,
        alg: SigningAlg,
        claims: &T,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loaded
            .signers
            .iter()
            .find(|s| s.alg == alg)
            .ok_or(jsonwebtoken::errors::ErrorKind::InvalidAlgorithm)?
            .sign(claims)
    }
}

fn load(stored: &[StoredKey], storage: &StorageKey, now: i64) -> Result<Loaded, KeysError> {
    let mut signers = Vec::new();
    for alg in algorithms_in(stored) {
        let key = active(stored, alg, now)
            .ok_or_else(|| KeysError::Crypto(format!("no {} signing key", alg.as_str())))?;
        let der = Zeroizing::new(
            storage
                .open(Purpose::SigningKey, &key.private_sealed)
                .ok_or_else(|| KeysError::Sealed(key.kid.clone()))?,
        );
        signers.push(JwtSigner::from_der(alg, key.kid.clone(), &der)?);
    }
    let keys: Vec<Jwk> = stored
        .iter()
        .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
        .collect();
    let decoding = keys.iter().filter_map(decoding_key).collect();
    Ok(Loaded {
        signers,
        jwks: JwkSet { keys },
        decoding,
    })
}

/// A published JWK as a verification key.
/// A published key's kid, algorithm and verification key; `None` for a
/// key of a kind the bridge does not sign with.
fn decoding_key(jwk: &Jwk) -> Option<(String, Algorithm, DecodingKey)> {
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
        _ => return None,
    };
    Some((
        jwk.common.key_id.clone()?,
        alg,
        DecodingKey::from_jwk(jwk).ok()?,
    ))
}

/// Generates a key of `alg` (off the async threads) and seals it.
pub async fn generate_sealed(
    storage: &StorageKey,
    alg: SigningAlg,
    activates_at: i64,
) -> Result<StoredKey, KeysError> {
    let crypto = |e: &dyn std::fmt::Display| KeysError::Crypto(e.to_string());
    let (private_der, jwk) = tokio::task::spawn_blocking(move || match alg {
        SigningAlg::RS256 => rsa_key(),
        SigningAlg::ES256 => ec_key(),
    })
    .await
    .map_err(|e| crypto(&e))??;
    // RFC 7638 thumbprint as the kid: stable and unique per key.
    let kid = b64url(&sha256(jwk.thumbprint_input.as_bytes()));
    let mut public = jwk.public;
    public["kid"] = Value::String(kid.clone());
    Ok(StoredKey {
        kid,
        alg: alg.as_str().into(),
        private_sealed: storage.seal(Purpose::SigningKey, &private_der),
        public_jwk: public.to_string(),
        created_at: now_unix(),
        activates_at,
    })
}

/// A new key's public JWK (without its kid) and its RFC 7638 thumbprint input.
struct PublicJwk {
    public: Value,
    thumbprint_input: String,
}

/// A new RSA 2048 key: its PKCS#1 DER private half and its public JWK with
/// an RFC 7638 thumbprint `kid` (the reference legacy IdP signs with one).
pub fn new_rsa_key() -> Result<(Zeroizing<Vec<u8>>, Value), KeysError> {
    let (der, jwk) = rsa_key()?;
    let mut public = jwk.public;
    public["kid"] = Value::String(b64url(&sha256(jwk.thumbprint_input.as_bytes())));
    Ok((der, public))
}

fn rsa_key() -> Result<(Zeroizing<Vec<u8>>, PublicJwk), KeysError> {
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
        .map_err(|e| KeysError::Crypto(e.to_string()))?;
    let public = key.to_public_key();
    let n = b64url(&public.n().to_bytes_be());
    let e = b64url(&public.e().to_bytes_be());
    let der = key
        .to_pkcs1_der()
        .map_err(|e| KeysError::Crypto(e.to_string()))?;
    Ok((
        Zeroizing::new(der.as_bytes().to_vec()),
        PublicJwk {
            thumbprint_input: format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
            public: json!({"kty": "RSA", "use": "sig", "alg": "RS256", "n": n, "e": e}),
        },
    ))
}

fn ec_key() -> Result<(Zeroizing<Vec<u8>>, PublicJwk), KeysError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|e| KeysError::Crypto(e.to_string()))?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|e| KeysError::Crypto(e.to_string()))?;
    // An uncompressed SEC1 point: 0x04, then x and y, 32 bytes each.
    let point = pair.public_key().as_ref();
    let (x, y) = (b64url(&point[1..33]), b64url(&point[33..65]));
    Ok((
        Zeroizing::new(pkcs8.as_ref().to_vec()),
        PublicJwk {
            thumbprint_input: format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
            public: json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "x": x, "y": y}),
        },
    ))
}

/// Keys no longer needed at `now`: within their algorithm, each key whose
/// successor (the next key by activation) has been signing for longer than
/// `max_token_ttl`, so every token the key signed has expired. Judged per
/// key, not by the newest: with rotation more frequent than the token
/// lifetime the newest is always young, and old keys must still go.
pub fn prunable(stored: &[StoredKey], now: i64, max_token_ttl: i64) -> Vec<String> {
    let mut out = Vec::new();
    for alg in SigningAlg::ALL {
        let mut keys: Vec<&StoredKey> = stored.iter().filter(|k| k.alg == alg.as_str()).collect();
        keys.sort_by_key(|k| (k.activates_at, k.created_at));
        for pair in keys.windows(2) {
            let successor = pair[1];
            if successor.activates_at <= now && successor.activates_at + max_token_ttl < now {
                out.push(pair[0].kid.clone());
            }
        }
    }
    out
}

/// `idp-bridge keys rotate`: stores a new key for every algorithm in use,
/// each signing from `now + activation_delay` (published in JWKS at once),
/// and prunes keys whose tokens have all expired. Returns the new keys and
/// the pruned kids.
pub async fn rotate(
    store: &dyn Store,
    storage: &StorageKey,
    activation_delay: i64,
    max_token_ttl: i64,
) -> Result<(Vec<StoredKey>, Vec<String>), KeysError> {
    let now = now_unix();
    let mut added = Vec::new();
    for alg in algorithms_in(&store.signing_keys().await?) {
        let key = generate_sealed(storage, alg, now + activation_delay.max(0)).await?;
        store.insert_signing_key(&key).await?;
        added.push(key);
    }
    let stored = store.signing_keys().await?;
    let pruned = prunable(&stored, now, max_token_ttl);
    for kid in &pruned {
        store.delete_signing_key(kid).await?;
    }
    Ok((added, pruned))
}

/// A unix time as RFC 3339 UTC, for people (`2026-11-29T21:00:00Z`).
fn rfc3339(unix: i64) -> String {
    let at =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// One line per key for `idp-bridge keys list`: kid, algorithm, state, and
/// when it was made and signs (RFC 3339, UTC).
pub fn describe(stored: &[StoredKey], now: i64) -> Vec<String> {
    let signing: Vec<&str> = SigningAlg::ALL
        .into_iter()
        .filter_map(|alg| active(stored, alg, now).map(|k| k.kid.as_str()))
        .collect();
    stored
        .iter()
        .map(|k| {
            let state = if signing.contains(&k.kid.as_str()) {
                "signing"
            } else if k.activates_at > now {
                "published, not yet signing"
            } else {
                "retired, still published"
            };
            format!(
                "{}  {}  {state}  created {}  activates {}",
                k.kid,
                k.alg,
                rfc3339(k.created_at),
                rfc3339(k.activates_at)
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
    fn an_rs256_token_signed_with_aws_lc_verifies_as_a_standard_jws() {
        let (der, public) = new_rsa_key().expect("key");
        let kid = public["kid"].as_str().expect("kid").to_owned();
        let signer = JwtSigner::from_der(SigningAlg::RS256, kid.clone(), &der).expect("signer");
        assert!(
            !format!("{signer:?}").contains("RsaKeyPair"),
            "Debug names no key material"
        );
        let token = signer
            .sign(&json!({"iss": "https://bridge.example", "sub": "u-1"}))
            .expect("sign");
        let header = jsonwebtoken::decode_header(&token).expect("header");
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let jwk: Jwk = serde_json::from_value(public).expect("jwk");
        let key = DecodingKey::from_jwk(&jwk).expect("decoding key");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Value>(&token, &key, &validation).expect("verifies");
        assert_eq!(claims.claims["sub"], "u-1");
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        assert!(jsonwebtoken::decode::<Value>(&tampered, &key, &validation).is_err());
        assert!(
            JwtSigner::from_der(SigningAlg::RS256, "x".into(), b"not a key").is_err(),
            "a bad key is refused at load, not at signing"
        );
    }

    #[test]
    fn the_newest_active_key_signs_and_a_pending_one_waits() {
        let keys = [k("old", 0), k("new", 100)];
        let rs = SigningAlg::RS256;
        assert_eq!(active(&keys, rs, 50).map(|k| k.kid.as_str()), Some("old"));
        assert_eq!(active(&keys, rs, 100).map(|k| k.kid.as_str()), Some("new"));
        assert_eq!(
            active(&[k("future", 100)], rs, 0).map(|k| k.kid.as_str()),
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

    #[test]
    fn with_rotation_faster_than_the_token_lifetime_old_keys_still_go() {
        // A key every 10 s, tokens live 60 s: at 100 the newest is 0 s old,
        // yet every key whose successor took over before 40 is done.
        let keys: Vec<StoredKey> = (0..=10).map(|i| k(&format!("k{i}"), i * 10)).collect();
        assert_eq!(
            prunable(&keys, 100, 60),
            vec!["k0".to_owned(), "k1".to_owned(), "k2".to_owned()]
        );
        let pending = [k("a", 0), k("b", 1000)];
        assert!(
            prunable(&pending, 500, 60).is_empty(),
            "a key whose successor does not sign yet is still signing"
        );
    }

    #[test]
    fn each_algorithm_has_its_own_active_key_and_pruning() {
        let mut ec_old = k("ec-old", 0);
        ec_old.alg = "ES256".into();
        let mut ec_new = k("ec-new", 5000);
        ec_new.alg = "ES256".into();
        let keys = [k("rsa", 0), ec_old, ec_new];
        let at = |alg, now| active(&keys, alg, now).map(|k| k.kid.clone());
        assert_eq!(at(SigningAlg::RS256, 6000).as_deref(), Some("rsa"));
        assert_eq!(at(SigningAlg::ES256, 100).as_deref(), Some("ec-old"));
        assert_eq!(at(SigningAlg::ES256, 6000).as_deref(), Some("ec-new"));
        assert_eq!(
            prunable(&keys, 5000 + 3601, 3600),
            vec!["ec-old".to_owned()],
            "the lone RSA key is never pruned by the EC rotation"
        );
        let lines = describe(&keys, 6000);
        assert!(lines[0].contains("rsa  RS256  signing"), "{lines:?}");
        assert!(lines[1].contains("retired"), "{lines:?}");
        assert!(lines[2].contains("ec-new  ES256  signing"), "{lines:?}");
        assert!(
            lines[0].contains("activates 1970-01-01T00:00:00Z"),
            "times for people: {lines:?}"
        );
    }
}
