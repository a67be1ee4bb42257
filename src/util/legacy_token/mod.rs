//! The LT1 codec: the reference legacy access token format.
//!
//! An LT1 token is `LT1.<kid>.<base64url(nonce || ciphertext || tag)>`, sealed
//! with AES-256-GCM under the shared key named by `kid`, with `"LT1." kid` as
//! associated data so a token cannot be moved to another key. The plaintext is
//! `application/x-www-form-urlencoded` claims: `sub`, `iat`, `exp`, optional
//! `scope`, and any profile attributes. `docs/lt1.md` describes the format.
//!
//! This module is the only place in the crate that may assume a token is LT1:
//! everything else treats legacy tokens as opaque strings, because a real
//! legacy IdP's format is unknown to us.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::util::secret::Key32;

/// The longest token accepted, in characters.
pub const MAX_TOKEN_LEN: usize = 8192;
/// The longest kid accepted.
pub const MAX_KID_LEN: usize = 32;
/// The version prefix.
pub const PREFIX: &str = "LT1.";
/// Default clock leeway for `exp` and `iat`, in seconds.
pub const DEFAULT_LEEWAY_SECONDS: i64 = 60;
/// The claim names the format itself writes: an attribute may never carry
/// one of them, or a token would hold a name twice.
pub const RESERVED_CLAIMS: &[&str] = &["sub", "iat", "exp", "scope"];

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Why a token was rejected. Each validation step has its own variant, in the
/// order the steps run. Messages never contain key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lt1Error {
    /// Step 1: longer than [`MAX_TOKEN_LEN`].
    #[error("token is longer than 8192 characters")]
    TooLong,
    /// Step 1: does not start with `LT1.` (empty, a JWT, another version).
    #[error("not an LT1 token (missing the LT1. prefix)")]
    NotLt1,
    /// Step 1: the kid is missing, too long or has characters outside `[A-Za-z0-9_-]`.
    #[error("the key id is missing or malformed")]
    MalformedKid,
    /// Step 1: the payload carries base64 padding.
    #[error("the payload is padded; LT1 uses unpadded base64url")]
    PaddedPayload,
    /// Step 1: the payload is not base64url.
    #[error("the payload is not base64url")]
    NotBase64url,
    /// Step 2: fewer bytes than a nonce and a tag.
    #[error("the payload is shorter than a nonce and a tag")]
    TooShort,
    /// Step 3: no configured key has this kid.
    #[error("no key is configured for this key id")]
    UnknownKid,
    /// Step 4: the GCM tag does not verify (tampered, or sealed under another key).
    #[error("the token does not verify under its key (tampered or sealed with another key)")]
    BadTag,
    /// Step 5: the plaintext, or a decoded name or value, is not UTF-8.
    #[error("the plaintext is not UTF-8")]
    NotUtf8,
    /// Step 5: a pair has an empty name.
    #[error("the plaintext is not well-formed form-urlencoded claims")]
    MalformedClaims,
    /// Step 5: a claim name appears twice.
    #[error("a claim appears more than once")]
    DuplicateClaim,
    /// Step 6: a required claim is missing.
    #[error("the required claim `{0}` is missing")]
    MissingClaim(&'static str),
    /// Step 6: `iat` or `exp` is not a decimal integer.
    #[error("the claim `{0}` is not an integer")]
    NotInteger(&'static str),
    /// Step 7: `exp` is more than the leeway in the past.
    #[error("the token has expired")]
    Expired,
    /// Step 7: `iat` is more than the leeway in the future.
    #[error("the token is issued in the future")]
    IssuedInFuture,
}

/// The claims an LT1 token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lt1Claims {
    /// The legacy user id.
    pub sub: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// Space-separated scopes, when present.
    pub scope: Option<String>,
    /// Every other claim, in token order: profile attributes.
    pub attributes: Vec<(String, String)>,
}

impl Lt1Claims {
    /// Serializes the claims as WHATWG form-urlencoded pairs in the canonical
    /// order: `sub`, `iat`, `exp`, `scope`, then the attributes as given.
    pub fn to_plaintext(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        out.append_pair("sub", &self.sub)
            .append_pair("iat", &self.iat.to_string())
            .append_pair("exp", &self.exp.to_string());
        if let Some(scope) = &self.scope {
            out.append_pair("scope", scope);
        }
        for (name, value) in &self.attributes {
            out.append_pair(name, value);
        }
        out.finish()
    }

    /// All claims as strings, keyed by name (for display and profiles).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let mut map: BTreeMap<String, String> = self.attributes.iter().cloned().collect();
        map.insert("sub".into(), self.sub.clone());
        map.insert("iat".into(), self.iat.to_string());
        map.insert("exp".into(), self.exp.to_string());
        if let Some(scope) = &self.scope {
            map.insert("scope".into(), scope.clone());
        }
        map
    }

    /// The value of an attribute, if present.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A set of LT1 keys by kid, one of which mints new tokens.
///
/// Several keys may be configured at once so tokens minted under an old key
/// stay valid while a new one is rolled out.
#[derive(Clone)]
pub struct Lt1Keys {
    ciphers: BTreeMap<String, Aes256Gcm>,
    mint_kid: String,
    leeway: i64,
}

impl fmt::Debug for Lt1Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lt1Keys")
            .field("kids", &self.ciphers.keys().collect::<Vec<_>>())
            .field("mint_kid", &self.mint_kid)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// A problem with a key set (not with a token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lt1KeysError {
    /// No keys at all.
    #[error("at least one LT1 key is required")]
    Empty,
    /// A kid that could not appear in a token.
    #[error("the kid `{0}` is not 1 to 32 characters of A-Z a-z 0-9 - _")]
    BadKid(String),
    /// The same kid twice.
    #[error("the kid `{0}` is configured twice")]
    DuplicateKid(String),
    /// The minting kid names no key.
    #[error("the mint kid `{0}` names no configured key")]
    UnknownMintKid(String),
}

impl Lt1Keys {
    /// Builds a key set. `mint_kid` defaults to the last key given (the newest,
    /// by convention of listing keys oldest first).
    pub fn new(keys: Vec<(String, Key32)>, mint_kid: Option<&str>) -> Result<Self, Lt1KeysError> {
        let last = keys
            .last()
            .map(|(kid, _)| kid.clone())
            .ok_or(Lt1KeysError::Empty)?;
        let mut ciphers = BTreeMap::new();
        for (kid, key) in keys {
            if !is_valid_kid(&kid) {
                return Err(Lt1KeysError::BadKid(kid));
            }
            let cipher = Aes256Gcm::new(key.secret().into());
            if ciphers.insert(kid.clone(), cipher).is_some() {
                return Err(Lt1KeysError::DuplicateKid(kid));
            }
        }
        let mint_kid = mint_kid.map_or(last, str::to_owned);
        if !ciphers.contains_key(&mint_kid) {
            return Err(Lt1KeysError::UnknownMintKid(mint_kid));
        }
        Ok(Self {
            ciphers,
            mint_kid,
            leeway: DEFAULT_LEEWAY_SECONDS,
        })
    }

    /// Sets the clock leeway, in seconds.
    #[must_use]
    pub fn with_leeway(mut self, seconds: i64) -> Self {
        self.leeway = seconds;
        self
    }

    /// The kid new tokens are minted under.
    pub fn mint_kid(&self) -> &str {
        &self.mint_kid
    }

    /// The configured kids.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.ciphers.keys().map(String::as_str)
    }

    /// Mints a token under the minting key with a fresh random nonce. Fails
    /// when an attribute has an empty name (`MalformedClaims`) or a name
    /// that is reserved or given twice (`DuplicateClaim`): a token never
    /// carries a claim twice, so no reader can pick the "wrong" one; and
    /// when the claims make the token longer than [`MAX_TOKEN_LEN`].
    pub fn mint(&self, claims: &Lt1Claims) -> Result<String, Lt1Error> {
        check_attributes(&claims.attributes)?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        self.seal(&self.mint_kid, &claims.to_plaintext(), nonce.into())
    }

    /// Seals a plaintext under the key `kid` with the given nonce. Only for
    /// known-answer tests and tools: a nonce must never be reused with a key.
    pub fn seal(
        &self,
        kid: &str,
        plaintext: &str,
        nonce: [u8; NONCE_LEN],
    ) -> Result<String, Lt1Error> {
        let cipher = self.ciphers.get(kid).ok_or(Lt1Error::UnknownKid)?;
        let aad = format!("{PREFIX}{kid}");
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Lt1Error::TooLong)?;
        let mut payload = Vec::with_capacity(NONCE_LEN + sealed.len());
        payload.extend_from_slice(&nonce);
        payload.extend_from_slice(&sealed);
        let token = format!("{aad}.{}", URL_SAFE_NO_PAD.encode(payload));
        if token.len() > MAX_TOKEN_LEN {
            return Err(Lt1Error::TooLong);
        }
        Ok(token)
    }

    /// Validates a token at time `now` (unix seconds), running the steps of
    /// the format in order and returning the first failure.
    pub fn validate(&self, token: &str, now: i64) -> Result<Lt1Claims, Lt1Error> {
        let plaintext = self.open(token)?;
        let claims = parse_claims(&plaintext)?;
        if claims.exp < now.saturating_sub(self.leeway) {
            return Err(Lt1Error::Expired);
        }
        if claims.iat > now.saturating_add(self.leeway) {
            return Err(Lt1Error::IssuedInFuture);
        }
        Ok(claims)
    }

    /// Steps 1 to 4: checks the shape and decrypts, returning the raw plaintext.
    fn open(&self, token: &str) -> Result<Vec<u8>, Lt1Error> {
        let (kid, payload) = split(token)?;
        if payload.len() < NONCE_LEN + TAG_LEN {
            return Err(Lt1Error::TooShort);
        }
        let cipher = self.ciphers.get(kid).ok_or(Lt1Error::UnknownKid)?;
        let (nonce, sealed) = payload.split_at(NONCE_LEN);
        let aad = format!("{PREFIX}{kid}");
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Lt1Error::BadTag)
    }
}

/// The attributes' names: none empty, reserved or repeated.
fn check_attributes(attributes: &[(String, String)]) -> Result<(), Lt1Error> {
    let mut seen = std::collections::HashSet::new();
    for (name, _) in attributes {
        if name.is_empty() {
            return Err(Lt1Error::MalformedClaims);
        }
        if RESERVED_CLAIMS.contains(&name.as_str()) || !seen.insert(name.as_str()) {
            return Err(Lt1Error::DuplicateClaim);
        }
    }
    Ok(())
}

/// Whether `token` has the LT1 shape (prefix and kid), without any key. Used
/// to decide whether an opaque token may be read as LT1 at all.
pub fn looks_like_lt1(token: &str) -> bool {
    split(token).is_ok()
}

/// The kid of an LT1-shaped token, without any key.
pub fn kid_of(token: &str) -> Option<&str> {
    split(token).ok().map(|(kid, _)| kid)
}

fn is_valid_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Step 1: length, prefix, kid, unpadded base64url payload.
fn split(token: &str) -> Result<(&str, Vec<u8>), Lt1Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Lt1Error::TooLong);
    }
    let rest = token.strip_prefix(PREFIX).ok_or(Lt1Error::NotLt1)?;
    let (kid, payload) = rest.split_once('.').ok_or(Lt1Error::MalformedKid)?;
    if !is_valid_kid(kid) {
        return Err(Lt1Error::MalformedKid);
    }
    if payload.contains('=') {
        return Err(Lt1Error::PaddedPayload);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Lt1Error::NotBase64url)?;
    Ok((kid, bytes))
}

/// Steps 5 and 6: UTF-8, form-urlencoded, no duplicate names, required claims.
fn parse_claims(plaintext: &[u8]) -> Result<Lt1Claims, Lt1Error> {
    let text = std::str::from_utf8(plaintext).map_err(|_| Lt1Error::NotUtf8)?;
    let mut seen = std::collections::HashSet::new();
    let mut pairs = Vec::new();
    // WHATWG form-urlencoded parsing skips empty sequences (`a=1&&b=2`).
    for sequence in text.split('&').filter(|s| !s.is_empty()) {
        let (name, value) = sequence.split_once('=').unwrap_or((sequence, ""));
        let name = form_decode(name)?;
        let value = form_decode(value)?;
        if name.is_empty() {
            return Err(Lt1Error::MalformedClaims);
        }
        if !seen.insert(name.clone()) {
            return Err(Lt1Error::DuplicateClaim);
        }
        pairs.push((name, value));
    }
    let mut take = |wanted: &'static str| {
        pairs
            .iter()
            .position(|(n, _)| n == wanted)
            .map(|i| pairs.remove(i).1)
    };
    let sub = take("sub").ok_or(Lt1Error::MissingClaim("sub"))?;
    let iat = take("iat").ok_or(Lt1Error::MissingClaim("iat"))?;
    let exp = take("exp").ok_or(Lt1Error::MissingClaim("exp"))?;
    let scope = take("scope");
    Ok(Lt1Claims {
        sub,
        iat: parse_int(&iat, "iat")?,
        exp: parse_int(&exp, "exp")?,
        scope,
        attributes: pairs,
    })
}

/// A decimal integer, optionally negative; no `+`, spaces or exponent.
fn parse_int(value: &str, name: &'static str) -> Result<i64, Lt1Error> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Lt1Error::NotInteger(name));
    }
    value.parse().map_err(|_| Lt1Error::NotInteger(name))
}

/// Decodes one form-urlencoded name or value: `+` is a space, `%XX` a byte,
/// and the result must be UTF-8 (strictly, unlike lossy decoders).
fn form_decode(raw: &str) -> Result<String, Lt1Error> {
    let spaced = raw.replace('+', " ");
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(&spaced).collect();
    String::from_utf8(bytes).map_err(|_| Lt1Error::NotUtf8)
}

#[cfg(test)]
mod tests;
