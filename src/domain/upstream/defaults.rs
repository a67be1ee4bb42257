//! The defaults of `[upstream]`'s keys, in one place for every adapter's
//! section (`config` for `http`, `oauth2-password` and `command`;
//! `redirect::config` for `oidc` and `oauth2`), so a value two adapters
//! share (a timeout, a size cap, a token lifetime) is written once. Each
//! function is named after its key and referred to by
//! `#[serde(default = "defaults::…")]`; `docs/configuration.md` and
//! `config.example.toml` state the same values.

// Every adapter.

/// Whole-request timeout, milliseconds.
pub(crate) fn timeout_ms() -> u64 {
    5000
}
/// Largest answer read, bytes.
pub(crate) fn max_response_bytes() -> usize {
    65_536
}
/// Token lifetime when the answer does not say, seconds.
pub(crate) fn expires_in() -> i64 {
    3600
}

// The password adapters (`http`, `oauth2-password`, `command`).

/// Connect timeout, milliseconds.
pub(crate) fn connect_timeout_ms() -> u64 {
    2000
}
/// The command's timeout, milliseconds.
pub(crate) fn command_timeout_ms() -> u64 {
    10_000
}
pub(crate) fn post() -> String {
    "POST".into()
}
pub(crate) fn get() -> String {
    "GET".into()
}
pub(crate) fn username_field() -> String {
    "username".into()
}
pub(crate) fn password_field() -> String {
    "password".into()
}
pub(crate) fn refresh_field() -> String {
    "refresh_token".into()
}
pub(crate) fn subject_field() -> String {
    "subject".into()
}
pub(crate) fn email_field() -> String {
    "email".into()
}
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn expires_in_pointer() -> Option<String> {
    Some("/expires_in".into())
}
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn refresh_pointer() -> Option<String> {
    Some("/refresh_token".into())
}
pub(crate) fn subject_pointer() -> String {
    "/sub".into()
}
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn email_pointer() -> Option<String> {
    Some("/email".into())
}
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn name_pointer() -> Option<String> {
    Some("/name".into())
}
pub(crate) fn token_header() -> String {
    "Authorization".into()
}
pub(crate) fn token_scheme() -> String {
    "Bearer".into()
}
/// HTTP statuses meaning "wrong username or password".
pub(crate) fn invalid_statuses() -> Vec<u16> {
    vec![400, 401, 403]
}
/// HTTP statuses meaning "the account is locked".
pub(crate) fn locked_statuses() -> Vec<u16> {
    vec![423]
}
/// HTTP statuses meaning "try again later".
pub(crate) fn unavailable_statuses() -> Vec<u16> {
    vec![408, 429]
}
/// Words in an `oauth2-password` error description meaning a locked account.
pub(crate) fn locked_words() -> Vec<String> {
    vec!["locked".into(), "disabled".into()]
}

// The redirect adapters (`oidc`, `oauth2`).

/// ID token signature algorithms accepted.
pub(crate) fn algs() -> Vec<String> {
    vec!["RS256".into()]
}
/// How long a sign-in at the legacy IdP may take, seconds.
pub(crate) fn transaction_seconds() -> i64 {
    600
}
/// How long discovery is kept, seconds.
pub(crate) fn discovery_ttl() -> u64 {
    3600
}
/// The least time between two reads of the JWKS, seconds.
pub(crate) fn jwks_min_refresh() -> u64 {
    30
}
pub(crate) fn enabled() -> bool {
    true
}
pub(crate) fn user_id() -> String {
    "sub".into()
}
pub(crate) fn name() -> String {
    "name".into()
}
pub(crate) fn email() -> String {
    "email".into()
}
pub(crate) fn email_verified() -> String {
    "email_verified".into()
}
pub(crate) fn groups() -> String {
    "groups".into()
}

#[cfg(test)]
mod tests {
    use crate::domain::upstream::config::{CommandConfig, RedirectConfig};

    /// The values two kinds of adapter share come from one function each:
    /// a password adapter and a redirect adapter configured with nothing
    /// but their required keys get the same size cap and token lifetime.
    #[test]
    fn password_and_redirect_adapters_share_their_defaults() {
        let command: CommandConfig = toml::from_str("program = \"/bin/true\"").expect("command");
        let oidc: RedirectConfig = toml::from_str("client_id = \"bridge\"").expect("oidc");
        assert_eq!(command.max_output_bytes, 65_536);
        assert_eq!(oidc.max_response_bytes, 65_536);
        assert_eq!(
            (command.default_expires_in, oidc.default_expires_in),
            (3600, 3600)
        );
        assert_eq!((command.timeout_ms, oidc.timeout_ms), (10_000, 5000));
        assert!(oidc.prompt_consent_for_offline_access);
        assert_eq!(oidc.id_token_signing_algs, ["RS256"]);
    }
}
