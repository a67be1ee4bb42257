//! The ID token signing algorithms the bridge offers, as the settings name
//! them (a client's `id_token_signed_response_alg`).
//! Here, below the keys that sign with them (`keys` re-exports it), so the
//! settings need not import the keys.

use serde::{Deserialize, Serialize};

/// An ID token signing algorithm the bridge offers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over RSA-2048: the default.
    #[default]
    RS256,
    /// ECDSA with P-256 and SHA-256: smaller tokens, far cheaper to sign.
    ES256,
}

impl SigningAlg {
    /// Every algorithm, in the order discovery lists them.
    pub const ALL: [Self; 2] = [Self::RS256, Self::ES256];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
        }
    }

    /// The algorithm named `name`, if offered.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}
