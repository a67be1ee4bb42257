//! `[upstream]`: which adapter reaches the legacy IdP, and how.
//!
//! ```toml
//! [upstream]
//! adapter = "http"            # or "oauth2-password", "command", "oidc", "oauth2"
//! [upstream.http]             # the section named after the adapter
//! ...
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use url::Url;

use crate::domain::upstream::defaults;
pub use crate::domain::upstream::problem::UpstreamConfigError;
pub(crate) use crate::domain::upstream::problem::check_http_url;
pub use crate::domain::upstream::redirect::config::{Protocol, RedirectConfig};
use crate::util::secret::SecretSource;

/// The chosen adapter with its settings.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // built once at start
pub enum UpstreamConfig {
    /// A password API reached by configuration.
    Http(Box<HttpAdapterConfig>),
    /// An OAuth 2.0 password-grant server.
    OAuth2Password(OAuth2PasswordConfig),
    /// An external program.
    Command(CommandConfig),
    /// A legacy IdP with its own login page, reached through the browser
    /// (`oidc` or `oauth2`).
    Redirect(Box<RedirectConfig>),
}

impl UpstreamConfig {
    /// Whether the adapter can mint a token for a user (token exchange's
    /// `mint_upstream`): the command adapter's `mint` action, or the http
    /// adapter with an `[upstream.http.mint]` request.
    pub fn can_mint(&self) -> bool {
        match self {
            Self::Http(http) => http.mint.is_some(),
            Self::Command(_) => true,
            Self::OAuth2Password(_) | Self::Redirect(_) => false,
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    /// Which adapter reaches the legacy IdP; the section of the same name
    /// below is required.
    adapter: AdapterKind,
    /// `adapter = "http"`: a password API reached by configuration.
    http: Option<HttpAdapterConfig>,
    /// `adapter = "oauth2-password"`: an OAuth 2.0 password-grant server.
    #[serde(rename = "oauth2-password", alias = "oauth2_password")]
    oauth2_password: Option<OAuth2PasswordConfig>,
    /// `adapter = "command"`: an external program.
    command: Option<CommandConfig>,
    /// `adapter = "oidc"`: an OpenID Connect IdP with its own login page.
    oidc: Option<RedirectConfig>,
    /// `adapter = "oauth2"`: an OAuth 2.0 IdP with its own login page.
    oauth2: Option<RedirectConfig>,
}

#[derive(Deserialize, Clone, Copy, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
enum AdapterKind {
    Http,
    #[serde(alias = "oauth2_password")]
    Oauth2Password,
    Command,
    Oidc,
    Oauth2,
}

/// The file's form of `[upstream]` (the adapter and its section), which
/// is what an editor completes.
impl schemars::JsonSchema for UpstreamConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        RawUpstream::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RawUpstream::json_schema(generator)
    }
}

impl<'de> Deserialize<'de> for UpstreamConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = RawUpstream::deserialize(d)?;
        let missing = |name: &str| {
            D::Error::custom(format!(
                "adapter = \"{name}\" needs an [upstream.{name}] section"
            ))
        };
        Ok(match raw.adapter {
            AdapterKind::Http => Self::Http(Box::new(raw.http.ok_or_else(|| missing("http"))?)),
            AdapterKind::Oauth2Password => Self::OAuth2Password(
                raw.oauth2_password
                    .ok_or_else(|| missing("oauth2-password"))?,
            ),
            AdapterKind::Command => Self::Command(raw.command.ok_or_else(|| missing("command"))?),
            AdapterKind::Oidc => {
                let mut c = raw.oidc.ok_or_else(|| missing("oidc"))?;
                c.protocol = Protocol::Oidc;
                Self::Redirect(Box::new(c))
            }
            AdapterKind::Oauth2 => {
                let mut c = raw.oauth2.ok_or_else(|| missing("oauth2"))?;
                c.protocol = Protocol::OAuth2;
                Self::Redirect(Box::new(c))
            }
        })
    }
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/json`.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// Where the access token is in a login or renew answer.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenLocation {
    /// `token = { json_pointer = "/access_token" }`.
    JsonPointer(String),
    /// `token = { header = "X-Legacy-Token" }`.
    Header(String),
    /// `token = "body"`: the whole body text, trimmed.
    Body,
}

impl Default for TokenLocation {
    fn default() -> Self {
        Self::JsonPointer("/access_token".into())
    }
}

/// One request to the legacy IdP (login or renew).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpRequestConfig {
    /// HTTP method (default POST).
    #[serde(default = "defaults::post")]
    pub method: String,
    /// The endpoint.
    pub url: Url,
    /// `json` (default) or `form`.
    #[serde(default)]
    pub body: BodyFormat,
    /// Field carrying the username (login; default `username`).
    #[serde(default = "defaults::username_field")]
    pub username_field: String,
    /// Field carrying the password (login; default `password`).
    #[serde(default = "defaults::password_field")]
    pub password_field: String,
    /// Field carrying the refresh token (renew; default `refresh_token`).
    #[serde(default = "defaults::refresh_field")]
    pub refresh_token_field: String,
    /// Field carrying the legacy subject (mint; default `subject`).
    #[serde(default = "defaults::subject_field")]
    pub subject_field: String,
    /// Field carrying the email address (lookup; default `email`).
    #[serde(default = "defaults::email_field")]
    pub email_field: String,
    /// Static fields added to the body (a realm, a client id, a client secret).
    #[serde(default)]
    pub extra_fields: BTreeMap<String, SecretSource>,
    /// Headers for this request (values may be secrets).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
}

/// How to read a login or renew answer.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseConfig {
    /// Where the access token is (default the JSON pointer `/access_token`).
    #[serde(default)]
    pub token: TokenLocation,
    /// JSON pointer to a seconds-to-live number (default `/expires_in`, if present).
    #[serde(default = "defaults::expires_in_pointer")]
    pub expires_in_pointer: Option<String>,
    /// JSON pointer to an absolute expiry: unix seconds, or an RFC 3339 time.
    pub expires_at_pointer: Option<String>,
    /// Header holding an absolute expiry (unix seconds or RFC 3339).
    pub expires_at_header: Option<String>,
    /// When the token is LT1 and `[legacy_token]` has its key, read `exp` from it.
    #[serde(default)]
    pub expiry_from_lt1: bool,
    /// JSON pointer to the refresh token (default `/refresh_token`, if present).
    #[serde(default = "defaults::refresh_pointer")]
    pub refresh_token_pointer: Option<String>,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        Self {
            token: TokenLocation::default(),
            expires_in_pointer: defaults::expires_in_pointer(),
            expires_at_pointer: None,
            expires_at_header: None,
            expiry_from_lt1: false,
            refresh_token_pointer: defaults::refresh_pointer(),
        }
    }
}

/// Which JSON pointers hold the subject, email, name and other attributes,
/// in the login answer or, when `[upstream.http.profile]` is set, in the
/// profile answer.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimsConfig {
    /// The stable user id (default `/sub`).
    #[serde(default = "defaults::subject_pointer")]
    pub subject: String,
    /// Email address (default `/email`, if present).
    #[serde(default = "defaults::email_pointer")]
    pub email: Option<String>,
    /// Display name (default `/name`, if present).
    #[serde(default = "defaults::name_pointer")]
    pub name: Option<String>,
    /// Further attributes: claim name = JSON pointer.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            subject: defaults::subject_pointer(),
            email: defaults::email_pointer(),
            name: defaults::name_pointer(),
            extra: BTreeMap::new(),
        }
    }
}

/// A profile endpoint called with the access token.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileEndpointConfig {
    /// HTTP method (default GET).
    #[serde(default = "defaults::get")]
    pub method: String,
    /// The endpoint.
    pub url: Url,
    /// Header that carries the token (default `Authorization`).
    #[serde(default = "defaults::token_header")]
    pub token_header: String,
    /// Scheme before the token (default `Bearer`; empty for the bare token).
    #[serde(default = "defaults::token_scheme")]
    pub token_scheme: String,
    /// Further headers.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
}

/// Which HTTP statuses mean what. Any other 4xx is a protocol error; any 5xx
/// is "unavailable"; a 3xx is never followed and is a protocol error.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    /// Default 400, 401, 403.
    #[serde(default = "defaults::invalid_statuses")]
    pub invalid_credentials: Vec<u16>,
    /// Default 423.
    #[serde(default = "defaults::locked_statuses")]
    pub locked: Vec<u16>,
    /// Default 408, 429 (and every 5xx).
    #[serde(default = "defaults::unavailable_statuses")]
    pub unavailable: Vec<u16>,
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            invalid_credentials: defaults::invalid_statuses(),
            locked: defaults::locked_statuses(),
            unavailable: defaults::unavailable_statuses(),
        }
    }
}

/// `[upstream.http]`: a legacy password API reached by configuration alone.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpAdapterConfig {
    /// Whole-request timeout, milliseconds (default 5000).
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Connect timeout, milliseconds (default 2000).
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Largest answer read, bytes (default 65536).
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: usize,
    /// Token lifetime when the answer does not say, seconds (default 3600).
    #[serde(default = "defaults::expires_in")]
    pub default_expires_in: i64,
    /// Headers sent on every request.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
    /// The login request.
    pub login: HttpRequestConfig,
    /// How to read login and renew answers.
    #[serde(default)]
    pub response: ResponseConfig,
    /// Where the profile is.
    #[serde(default)]
    pub claims: ClaimsConfig,
    /// Optional profile endpoint; when set, claims are read from its answer.
    pub profile: Option<ProfileEndpointConfig>,
    /// Optional renew request (refresh token in `refresh_token_field`).
    pub renew: Option<HttpRequestConfig>,
    /// Optional "token for user" request, for token exchange's
    /// `mint_upstream`: the subject in `subject_field`, answered like a
    /// login. Protect it at the legacy IdP (an API key in `headers`).
    pub mint: Option<HttpRequestConfig>,
    /// Optional user lookup by email address, for Auth0's `get_user`
    /// migration script (`[migration]`): the address in `email_field`,
    /// answered with the user's profile (read with `claims`) or 404 for
    /// no such user. Protect it at the legacy IdP (an API key in
    /// `headers`).
    pub lookup: Option<HttpRequestConfig>,
    /// Status code meanings.
    #[serde(default)]
    pub status: StatusConfig,
}

/// `[upstream.oauth2-password]`: a legacy IdP speaking the OAuth 2.0 password
/// and refresh grants.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth2PasswordConfig {
    /// The token endpoint.
    pub token_url: Url,
    /// The userinfo endpoint, for the profile.
    pub userinfo_url: Url,
    /// The bridge's client id at the legacy IdP.
    pub client_id: String,
    /// Its client secret, if any.
    pub client_secret: Option<SecretSource>,
    /// `basic` (default) or `post`: how the client authenticates.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Scopes asked for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Whole-request timeout, milliseconds (default 5000).
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Largest answer read, bytes (default 65536).
    #[serde(default = "defaults::max_response_bytes")]
    pub max_response_bytes: usize,
    /// Token lifetime when the answer has no `expires_in` (default 3600).
    #[serde(default = "defaults::expires_in")]
    pub default_expires_in: i64,
    /// Pointers into the userinfo answer.
    #[serde(default)]
    pub claims: ClaimsConfig,
    /// OAuth error codes that mean "locked" (besides the usual `invalid_grant`).
    #[serde(default)]
    pub locked_error_codes: Vec<String>,
    /// Words in an `invalid_grant` description that mean "locked", case-insensitive
    /// (default "locked", "disabled").
    #[serde(default = "defaults::locked_words")]
    pub locked_description_contains: Vec<String>,
}

/// How the bridge authenticates to an OAuth 2.0 legacy IdP.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`).
    #[default]
    Basic,
    /// In the form body (`client_secret_post`).
    Post,
}

/// `[upstream.command]`: an external program speaking one JSON request on
/// stdin and one JSON answer on stdout (see `docs/command-adapter.md`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// The program to run.
    pub program: PathBuf,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment given to it (the bridge's own environment is not passed on,
    /// except `PATH`).
    #[serde(default)]
    pub env: BTreeMap<String, SecretSource>,
    /// How long it may run, milliseconds (default 10000).
    #[serde(default = "defaults::command_timeout_ms")]
    pub timeout_ms: u64,
    /// Largest answer read from stdout, bytes (default 65536).
    #[serde(default = "defaults::max_response_bytes")]
    pub max_output_bytes: usize,
    /// Token lifetime when the answer does not say (default 3600).
    #[serde(default = "defaults::expires_in")]
    pub default_expires_in: i64,
}
