//! The reference legacy IdP's user directory: a JSON file of users whose
//! passwords are stored as argon2 hashes (PHC strings).

use std::collections::HashMap;
use std::path::Path;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

/// The users shipped with the demo (passwords in the README).
pub const DEMO_USERS_JSON: &str = include_str!("../../reference/users.json");

/// One legacy user.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The login name.
    pub username: String,
    /// The argon2 PHC string of the password.
    pub password_hash: String,
    /// The stable legacy user id.
    pub sub: String,
    /// Display name.
    pub name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Further attributes put into tokens and profiles.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
    /// A locked account refuses logins with its own answer.
    #[serde(default)]
    pub locked: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    users: Vec<User>,
}

/// The directory, by username.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_name: HashMap<String, User>,
}

impl Users {
    /// Parses a users file.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: UsersFile = serde_json::from_str(text).map_err(|e| format!("users file: {e}"))?;
        let mut by_name = HashMap::new();
        for user in file.users {
            PasswordHash::new(&user.password_hash).map_err(|_| {
                format!(
                    "users file: the password_hash of {} is not a PHC string",
                    user.username
                )
            })?;
            if by_name.insert(user.username.clone(), user).is_some() {
                return Err("users file: a username appears twice".into());
            }
        }
        Ok(Self { by_name })
    }

    /// Reads a users file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_json(&text)
    }

    /// The demo users.
    pub fn demo() -> Self {
        Self::from_json(DEMO_USERS_JSON).unwrap_or_default()
    }

    /// Adds or replaces a user (tests).
    pub fn insert(&mut self, user: User) {
        self.by_name.insert(user.username.clone(), user);
    }

    /// A user by name.
    pub fn get(&self, username: &str) -> Option<&User> {
        self.by_name.get(username)
    }

    /// A user by subject.
    pub fn by_sub(&self, sub: &str) -> Option<&User> {
        self.by_name.values().find(|u| u.sub == sub)
    }

    /// A user by email address, in any case.
    pub fn by_email(&self, email: &str) -> Option<&User> {
        self.by_name.values().find(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email.trim()))
        })
    }

    /// Checks a password. A missing user costs the same as a wrong password,
    /// so the answer time does not tell whether the user exists.
    pub fn verify(&self, username: &str, password: &str) -> Option<&User> {
        let user = self.by_name.get(username);
        let hash = user.map_or(DUMMY_HASH, |u| u.password_hash.as_str());
        let ok = PasswordHash::new(hash).ok().is_some_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        user.filter(|_| ok)
    }
}

/// A hash of a random password, verified against when the user is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$WUZlOhHGLvrzG7hk1Dd/mDQbFQqj7Fdr1cNoOVThwvk";

/// Hashes a password with argon2id. The reference stack uses modest
/// parameters (4 MiB, one pass) so the demo and benchmarks stay fast; a
/// real IdP chooses its own.
pub fn hash_password(password: &str) -> Result<String, String> {
    hash_password_with(password, 4096, 1)
}

/// Hashes with explicit argon2id memory (KiB) and passes.
pub fn hash_password_with(password: &str, memory_kib: u32, passes: u32) -> Result<String, String> {
    let params = Params::new(memory_kib, passes, 1, None).map_err(|e| e.to_string())?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    argon
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}
