//! Secret newtypes: values that must never reach a log line, an error body or
//! `Debug` output.
//!
//! Each secret gets its own type (as openidconnect-rs does with
//! `new_secret_type!`) so a password cannot be passed where a token is
//! expected. The value is only reachable through an explicit `.secret()`, the
//! `Debug` form is redacted, and equality is constant-time (`subtle`), never
//! derived.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Declares a secret string newtype with a redacted `Debug`, an explicit
/// accessor and constant-time comparison.
macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Zeroizing::new(value.into()))
            }

            /// The secret value. Every call site is a place where the secret
            /// leaves its wrapper: keep them few and never log the result.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Constant-time comparison with another value of the same kind.
            pub fn ct_eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self::new)
            }
        }
    };
}

secret_string!(
    /// A user's password, on its way to the legacy IdP.
    Password
);
secret_string!(
    /// An access token issued by the legacy IdP, carried verbatim.
    LegacyAccessToken
);
secret_string!(
    /// A refresh token issued by the legacy IdP.
    LegacyRefreshToken
);
secret_string!(
    /// A configured secret: a header value, an API key, a client secret.
    SecretValue
);

/// A 32-byte symmetric key (AES-256). Zeroed on drop, never printed.
#[derive(Clone)]
pub struct Key32(Zeroizing<[u8; 32]>);

impl Key32 {
    /// Wraps raw key bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The raw key bytes.
    pub fn secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses a key given as 64 hex digits or as base64 (standard or
    /// url-safe alphabet, padded or not) of exactly 32 bytes. The error never
    /// echoes the input.
    pub fn parse(text: &str) -> Result<Self, KeyParseError> {
        use base64::Engine as _;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let text = text.trim();
        let (body, forced_hex) = if let Some(h) = text.strip_prefix("hex:") {
            (h, Some(true))
        } else if let Some(b) = text.strip_prefix("base64:") {
            (b, Some(false))
        } else {
            (text, None)
        };
        let looks_hex = body.len() == 64 && body.bytes().all(|b| b.is_ascii_hexdigit());
        let bytes: Zeroizing<Vec<u8>> =
            if forced_hex == Some(true) || (forced_hex.is_none() && looks_hex) {
                Zeroizing::new(hex::decode(body).map_err(|_| KeyParseError::NotHex)?)
            } else {
                let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                    .iter()
                    .find_map(|engine| engine.decode(body).ok())
                    .ok_or(KeyParseError::NotHexOrBase64)?;
                Zeroizing::new(decoded)
            };
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyParseError::WrongLength(bytes.len()))?;
        Ok(Self::new(array))
    }
}

impl std::fmt::Debug for Key32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key32([redacted])")
    }
}

/// Why a key could not be parsed. Never contains key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyParseError {
    /// `hex:` prefix but not hex.
    #[error("the key is not valid hex")]
    NotHex,
    /// Neither encoding.
    #[error("the key is neither 64 hex digits nor base64")]
    NotHexOrBase64,
    /// Decoded, but not 32 bytes.
    #[error("the key decodes to {0} bytes; AES-256 needs exactly 32")]
    WrongLength(usize),
}

/// A secret given literally, from an environment variable, or from a file.
#[derive(Clone, Deserialize, schemars::JsonSchema)]
// No other key beside `env` or `file`: `{ env = "X", file = "/p" }` would
// otherwise read the variable and drop the file without a word.
#[serde(
    untagged,
    deny_unknown_fields,
    expecting = "must be a string, { env = \"NAME\" } or { file = \"/path\" }"
)]
pub enum SecretSource {
    /// `key = "value"`.
    Literal(SecretValue),
    /// `key = { env = "NAME" }`.
    Env {
        /// The variable to read.
        env: String,
    },
    /// `key = { file = "/path" }`; one trailing newline is dropped.
    File {
        /// The file to read.
        file: PathBuf,
    },
}

impl schemars::JsonSchema for SecretValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretValue".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "The secret itself (prefer { env = \"NAME\" } or { file = \"/path\" })."
        })
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Literal(_) => f.write_str("Literal([redacted])"),
            Self::Env { env } => write!(f, "Env({env})"),
            Self::File { file } => write!(f, "File({})", file.display()),
        }
    }
}

impl SecretSource {
    /// Reads the secret. The error names the variable or file, never a
    /// value; a published placeholder is refused (see [`placeholder`]).
    pub fn resolve(&self) -> Result<SecretValue, String> {
        let value = match self {
            Self::Literal(v) => v.clone(),
            Self::Env { env } => std::env::var(env)
                .map(SecretValue::new)
                .map_err(|_| format!("the environment variable {env} is not set"))?,
            Self::File { file } => read_secret_file(file).map(SecretValue::new)?,
        };
        match placeholder(value.secret()) {
            Some(why) => Err(format!(
                "{}is a placeholder ({why}), not a secret: set a real one",
                match self {
                    Self::Literal(_) => String::new(),
                    Self::Env { env } => format!("the environment variable {env} "),
                    Self::File { file } => format!("{} ", file.display()),
                }
            )),
            None => Ok(value),
        }
    }
}

/// Why `value` is a placeholder the manifests, the examples or the docs
/// print, or `None`. Such a value is known to everyone who read them, so it
/// is refused wherever a secret is read: `deploy/kubernetes/secret.yaml`'s
/// `REPLACE-with-…` (and the `REPLACE` password in its database URL), the
/// `change-me` family, `<the client secret>`, a Deploy CLI `@@KEY@@` and a
/// shell `${VAR}` pasted unexpanded. A test reads every published example
/// and proves each is refused. The reason never echoes the value.
pub fn placeholder(value: &str) -> Option<&'static str> {
    let v = value.trim();
    let lower = v.to_ascii_lowercase();
    if v.contains("REPLACE") {
        Some("it says REPLACE, as the published examples do")
    } else if [
        "change-me",
        "changeme",
        "change_me",
        "change-this",
        "changethis",
    ]
    .iter()
    .any(|p| lower.contains(p))
    {
        Some("it says change me")
    } else if v.starts_with('<') && v.ends_with('>') {
        Some("a <…> placeholder from the docs")
    } else if v.starts_with("@@") && v.ends_with("@@") {
        Some("an unreplaced Deploy CLI @@KEY@@ keyword")
    } else if v.starts_with("${") && v.ends_with('}') {
        Some("a ${VAR} the shell did not expand")
    } else {
        None
    }
}

/// Secrets anyone can guess or has read: common words and the literal
/// placeholders the manifests and docs publish. A `secret_hash` of one of
/// them hides nothing (anyone can hash a word), so [`guessable_hash`]
/// refuses it; a test keeps the published placeholders in this list.
pub const GUESSABLE_SECRETS: &[&str] = &[
    "",
    "test",
    "testing",
    "secret",
    "password",
    "changeme",
    "change-me",
    "admin",
    "example",
    "client-secret",
    "client_secret",
    "clientsecret",
    "auth0",
    "idp-bridge",
    "123456",
    "12345678",
    "qwerty",
    "letmein",
    "REPLACE",
    "REPLACE-with-64-hex-digits",
    "REPLACE-with-a-32-character-or-longer-secret",
];

/// Whether `digest` is the SHA-256 of a [`GUESSABLE_SECRETS`] entry (as
/// typed, or with the newline `echo WORD | sha256sum` adds). Never says
/// which.
pub fn guessable_hash(digest: &[u8; 32]) -> bool {
    use sha2::Digest as _;
    GUESSABLE_SECRETS.iter().any(|word| {
        [word.to_string(), format!("{word}\n")]
            .iter()
            .any(|typed| sha2::Sha256::digest(typed.as_bytes()).as_slice() == digest)
    })
}

/// Reads a secret file, dropping one trailing newline. The error names the file.
pub fn read_secret_file(path: &Path) -> Result<String, String> {
    let mut text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {}", path.display(), e.kind()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p:?}"), "Password([redacted])");
        let k = Key32::new([7; 32]);
        assert!(!format!("{k:?}").contains('7'));
    }

    #[test]
    fn keys_parse_from_hex_and_base64_of_32_bytes() {
        let hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let from_hex = Key32::parse(hex).expect("hex key");
        assert_eq!(from_hex.secret()[31], 0x1f);
        let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let from_b64 = Key32::parse(b64).expect("base64 key");
        assert_eq!(from_b64.secret(), from_hex.secret());
        let b64url = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        assert_eq!(
            Key32::parse(b64url).expect("unpadded").secret(),
            from_hex.secret()
        );
        assert_eq!(
            Key32::parse("AAEC").unwrap_err(),
            KeyParseError::WrongLength(3)
        );
        assert_eq!(
            Key32::parse("!!").unwrap_err(),
            KeyParseError::NotHexOrBase64
        );
    }

    #[test]
    fn placeholders_are_refused_and_real_secrets_are_not() {
        for published in [
            "REPLACE-with-a-32-character-or-longer-secret",
            "postgres://idp_bridge:REPLACE@postgres.example.svc:5432/idp_bridge",
            "change-me",
            "ChangeMe-admin-token",
            "<the client secret>",
            "@@IDP_BRIDGE_CLIENT_SECRET@@",
            "${IDP_BRIDGE_CLIENT_SECRET}",
            "  REPLACE  ",
        ] {
            assert!(placeholder(published).is_some(), "{published}");
        }
        for real in [
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "a-long-enough-client-secret-0123",
            "postgres://app:s3cret@db.internal:5432/bridge",
            "replace-me-not: lower case is a word, not the marker",
            "$ecret{with}braces",
        ] {
            assert!(placeholder(real).is_none(), "{real}");
        }
        // The refusal names where the value came from, never the value.
        let err = SecretSource::Literal(SecretValue::new("REPLACE-with-x"))
            .resolve()
            .unwrap_err();
        assert!(
            err.contains("placeholder") && !err.contains("with-x"),
            "{err}"
        );
    }

    #[test]
    fn hashes_of_guessable_secrets_are_known_and_random_ones_are_not() {
        use sha2::Digest as _;
        let hash = |s: &str| -> [u8; 32] { sha2::Sha256::digest(s.as_bytes()).into() };
        assert!(guessable_hash(&hash("test")));
        assert!(guessable_hash(&hash("test\n")), "echo test | sha256sum");
        assert!(guessable_hash(&hash("")));
        assert!(!guessable_hash(&hash("a-long-enough-client-secret-0123")));
    }

    #[test]
    fn a_secret_of_the_wrong_shape_says_which_shapes_are_right() {
        #[derive(Debug, Deserialize)]
        struct S {
            #[allow(dead_code)]
            token: SecretSource,
        }
        for wrong in [
            "token = 1234",
            "token = { name = \"X\" }",
            "token = [\"a\"]",
            // Both sources, or a source with a stray key: which was meant?
            "token = { env = \"X\", file = \"/p\" }",
            "token = { env = \"X\", extra = 1 }",
        ] {
            let err = toml::from_str::<S>(wrong).unwrap_err().to_string();
            assert!(
                err.contains("must be a string, { env = \"NAME\" } or { file = \"/path\" }"),
                "{wrong}: {err}"
            );
        }
    }

    #[test]
    fn equality_is_by_value() {
        assert!(LegacyAccessToken::new("a").ct_eq(&LegacyAccessToken::new("a")));
        assert!(!LegacyAccessToken::new("a").ct_eq(&LegacyAccessToken::new("b")));
    }
}
