//! What the reference legacy IdP's ID tokens say and the key that signs
//! them: an RS256 key published at `/oauth/jwks`, which tests may replace
//! under the same `kid` ([`Signer::rotate_keeping_kid`], as a legacy IdP
//! that re-keys without renaming does), and the ways a test makes a token
//! wrong ([`IdTokenFault`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::reference::users::User;
use crate::util::clock::now_unix;
use crate::util::crypto::{b64url, sha256};

/// A way for the ID token to be wrong, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdTokenFault {
    /// A correct ID token.
    #[default]
    None,
    /// A signature that does not verify (same `kid`).
    BadSignature,
    /// Another issuer.
    WrongIssuer,
    /// Another audience.
    WrongAudience,
    /// Another nonce.
    WrongNonce,
    /// No `email_verified` claim.
    NoEmailVerified,
    /// An `at_hash` of another token.
    WrongAtHash,
    /// Nothing about the user but `sub` (a minimal, valid ID token).
    SubOnly,
}

/// The ID token key and its public JWK, replaceable while serving.
pub struct Signer {
    current: Mutex<(EncodingKey, Value)>,
    jwks_reads: AtomicU64,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("jwks_reads", &self.jwks_reads())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A fresh RSA 2048 key.
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            current: Mutex::new(new_key(None)?),
            jwks_reads: AtomicU64::new(0),
        })
    }

    /// Replaces the key by a new one published under the same `kid`: ID
    /// tokens signed from now on verify only against the new JWKS.
    pub fn rotate_keeping_kid(&self) -> Result<(), String> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let kid = current.1["kid"].as_str().map(str::to_owned);
        *current = new_key(kid)?;
        Ok(())
    }

    /// The JWKS document (each read counted).
    pub fn jwks(&self) -> Value {
        self.jwks_reads.fetch_add(1, Ordering::Relaxed);
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        json!({"keys": [current.1.clone()]})
    }

    /// How many times the JWKS was read.
    pub fn jwks_reads(&self) -> u64 {
        self.jwks_reads.load(Ordering::Relaxed)
    }

    fn sign(&self, claims: &Value) -> Result<String, jsonwebtoken::errors::Error> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = current.1["kid"].as_str().map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &current.0)
    }
}

fn new_key(kid: Option<String>) -> Result<(EncodingKey, Value), String> {
    let (der, mut jwk) = crate::domain::keys::new_rsa_key().map_err(|e| e.to_string())?;
    if let Some(kid) = kid {
        jwk["kid"] = Value::String(kid);
    }
    Ok((EncodingKey::from_rsa_der(&der), jwk))
}

/// What one ID token is about.
pub struct IdTokenInput<'a> {
    /// The issuer (`http://` + `Host`).
    pub iss: &'a str,
    /// The audience.
    pub client_id: String,
    /// The user.
    pub user: &'a User,
    /// The authorization request's nonce.
    pub nonce: Option<&'a str>,
    /// The access token issued with it (`at_hash`).
    pub access: &'a str,
    /// When the user authenticated (OIDC Core §2 `auth_time`).
    pub auth_time: i64,
}

/// Signs an ID token, wrong in the way `fault` says.
pub fn mint(
    signer: &Signer,
    fault: IdTokenFault,
    input: &IdTokenInput<'_>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = now_unix();
    let hash = sha256(if fault == IdTokenFault::WrongAtHash {
        b"another token"
    } else {
        input.access.as_bytes()
    });
    let user = input.user;
    let mut claims = json!({
        "iss": if fault == IdTokenFault::WrongIssuer { "http://evil.example" } else { input.iss },
        "sub": user.sub,
        "aud": if fault == IdTokenFault::WrongAudience { "someone-else".to_owned() } else { input.client_id.clone() },
        "iat": now,
        "exp": now + 300,
        "auth_time": input.auth_time,
        "at_hash": b64url(&hash[..16]),
        "preferred_username": user.username,
        "name": user.name,
        "email": user.email,
        "email_verified": true,
    });
    if let Some(nonce) = input.nonce {
        claims["nonce"] = Value::String(if fault == IdTokenFault::WrongNonce {
            "another-nonce".into()
        } else {
            nonce.into()
        });
    }
    if fault == IdTokenFault::NoEmailVerified {
        if let Some(map) = claims.as_object_mut() {
            map.remove("email_verified");
        }
    }
    if let (Some(roles), Some(map)) = (user.attributes.get("roles"), claims.as_object_mut()) {
        let groups: Vec<&str> = roles.split(' ').collect();
        map.insert("groups".into(), json!(groups));
    }
    if let (IdTokenFault::SubOnly, Some(map)) = (fault, claims.as_object_mut()) {
        let protocol = ["iss", "sub", "aud", "iat", "exp", "at_hash", "nonce"];
        map.retain(|k, _| protocol.contains(&k.as_str()));
    }
    let jwt = signer.sign(&claims)?;
    if fault == IdTokenFault::BadSignature {
        // The same header and claims under another signature.
        let (header_and_claims, _) = jwt.rsplit_once('.').unwrap_or((&jwt, ""));
        return Ok(format!("{header_and_claims}.{}", b64url(&[7u8; 256])));
    }
    Ok(jwt)
}
