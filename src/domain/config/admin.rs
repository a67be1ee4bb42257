//! `[admin]` (the admin API's own listener and its credential) and
//! `[auth0_events]` (the Auth0 Event Streams webhook on the public
//! listener): raw TOML, then validated settings with every problem named by
//! key. Both are off unless configured; neither runs without a credential.

use serde::Deserialize;

use crate::util::secret::{SecretSource, SecretValue};

/// The shortest credential accepted: a guessable one would open the
/// revocation of any user (`hash-secret --generate` makes a good one).
const MIN_CREDENTIAL_CHARS: usize = 32;

/// `[admin]`: the admin API (revoke a user or a grant, unlock a user), on a
/// listener of its own, never the public one.
#[derive(Debug, Clone, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Where the admin API listens, such as `127.0.0.1:9090` (unset: off).
    /// Keep it on a private interface.
    pub listen: Option<String>,
    /// The bearer credential callers present (at least 32 characters;
    /// `{ file = "…" }` or `{ env = "…" }` keep it out of the file).
    pub token: Option<SecretSource>,
}

/// The admin API, validated.
#[derive(Debug, Clone)]
pub struct Admin {
    /// Its listen address.
    pub listen: String,
    /// The bearer credential.
    pub token: SecretValue,
}

impl AdminConfig {
    /// `None` when off; problems are named by key.
    pub fn validate(&self, problems: &mut Vec<String>) -> Option<Admin> {
        let listen = self.listen.as_ref()?;
        crate::util::net::check_address("admin.listen", listen, problems);
        let Some(source) = &self.token else {
            problems.push(
                "admin.token: required when admin.listen is set (the admin API never runs without a credential)"
                    .into(),
            );
            return None;
        };
        let token = credential("admin.token", source, problems)?;
        Some(Admin {
            listen: listen.clone(),
            token,
        })
    }
}

/// `[auth0_events]`: Auth0 Event Streams deliver `user.deleted` and
/// `user.updated` (blocked) events to `POST /events/auth0` on the public
/// listener; each revokes the user. Auth0's webhook authorization is either
/// a bearer token or basic credentials: configure exactly one.
#[derive(Debug, Clone, Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth0EventsConfig {
    /// The bearer token Auth0 sends (`webhook_authorization.method =
    /// "bearer"`), at least 32 characters.
    pub token: Option<SecretSource>,
    /// The basic user name (`method = "basic"`), with `password`.
    pub username: Option<String>,
    /// The basic password, at least 32 characters.
    pub password: Option<SecretSource>,
    /// The Auth0 connections whose users are the bridge's (`oidc|NAME|sub`,
    /// `oauth2|NAME|sub`); default: `[token_exchange] connections`.
    #[serde(default)]
    pub connections: Vec<String>,
}

/// How Auth0 authenticates its deliveries.
#[derive(Debug, Clone)]
pub enum WebhookAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(SecretValue),
    /// `Authorization: Basic <user:password>`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: SecretValue,
    },
}

/// The Auth0 Event Streams webhook, validated.
#[derive(Debug, Clone)]
pub struct Auth0Events {
    /// The credential.
    pub auth: WebhookAuth,
    /// The connections whose users map to legacy subjects.
    pub connections: Vec<String>,
    /// Whether `auth0|ID` users are migrated users (`[token_exchange]
    /// migrated_users`).
    pub migrated_users: bool,
}

impl Auth0EventsConfig {
    /// Validates against the token exchange's connections (the default).
    pub fn validate(
        &self,
        exchange_connections: &[String],
        migrated_users: bool,
        problems: &mut Vec<String>,
    ) -> Option<Auth0Events> {
        let auth = match (&self.token, &self.username, &self.password) {
            (Some(token), None, None) => {
                WebhookAuth::Bearer(credential("auth0_events.token", token, problems)?)
            }
            (None, Some(username), Some(password)) if !username.is_empty() => WebhookAuth::Basic {
                username: username.clone(),
                password: credential("auth0_events.password", password, problems)?,
            },
            _ => {
                problems.push(
                    "auth0_events: set either `token` (bearer) or `username` and `password` (basic), as in the event stream's webhook_authorization"
                        .into(),
                );
                return None;
            }
        };
        let connections = if self.connections.is_empty() {
            exchange_connections.to_vec()
        } else {
            self.connections.clone()
        };
        if connections.is_empty() && !migrated_users {
            problems.push(
                "auth0_events.connections: name the Auth0 connections whose users are the bridge's (or set [token_exchange] connections)"
                    .into(),
            );
            return None;
        }
        Some(Auth0Events {
            auth,
            connections,
            migrated_users,
        })
    }
}

/// A credential, resolved and long enough.
pub(super) fn credential(
    key: &str,
    source: &SecretSource,
    problems: &mut Vec<String>,
) -> Option<SecretValue> {
    match source.resolve() {
        Ok(value) if value.secret().chars().count() >= MIN_CREDENTIAL_CHARS => Some(value),
        Ok(_) => {
            problems.push(format!(
                "{key}: must have at least {MIN_CREDENTIAL_CHARS} characters (`idp-bridge hash-secret --generate` prints one)"
            ));
            None
        }
        Err(e) => {
            problems.push(format!("{key}: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(value: &str) -> Option<SecretSource> {
        let source = SecretSource::Literal(SecretValue::new(value));
        (!value.is_empty()).then_some(source)
    }

    #[test]
    fn the_admin_api_needs_a_long_credential() {
        let mut problems = Vec::new();
        let off = AdminConfig::default().validate(&mut problems);
        assert!(off.is_none() && problems.is_empty());
        let short = AdminConfig {
            listen: Some("127.0.0.1:0".into()),
            token: literal("short"),
        };
        assert!(short.validate(&mut problems).is_none());
        assert!(problems[0].starts_with("admin.token: must have at least 32"));
        problems.clear();
        let missing = AdminConfig {
            listen: Some("127.0.0.1:0".into()),
            token: None,
        };
        assert!(missing.validate(&mut problems).is_none());
        assert!(problems[0].starts_with("admin.token: required"));
    }

    #[test]
    fn auth0_events_take_one_kind_of_credential_and_some_connections() {
        let long = "x".repeat(32);
        let mut problems = Vec::new();
        let both = Auth0EventsConfig {
            token: literal(&long),
            username: Some("auth0".into()),
            password: literal(&long),
            connections: vec!["legacy".into()],
        };
        assert!(both.validate(&[], false, &mut problems).is_none());
        assert!(problems[0].starts_with("auth0_events: set either"));
        problems.clear();
        let bearer = Auth0EventsConfig {
            token: literal(&long),
            ..Auth0EventsConfig::default()
        };
        assert!(bearer.validate(&[], false, &mut problems).is_none());
        assert!(problems[0].starts_with("auth0_events.connections"));
        problems.clear();
        let events = bearer
            .validate(&["legacy".into()], false, &mut problems)
            .expect("valid");
        assert_eq!(events.connections, ["legacy"]);
        assert!(matches!(events.auth, WebhookAuth::Bearer(_)));
    }
}
