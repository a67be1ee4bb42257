//! The front channel: the authorization request the browser carries to
//! the legacy IdP ([`request_url`]) and the check of the `iss` its answer
//! comes back with ([`check_iss`], RFC 9207).

use serde::{Deserialize, Serialize};
use url::Url;

use super::config::{Protocol, RedirectConfig};
use crate::domain::upstream::UpstreamError;

/// One sign-in's secrets, kept by the browser side until the callback.
#[derive(Clone, Serialize, Deserialize)]
pub struct Flow {
    /// The `state` sent to the legacy IdP.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier.
    pub pkce_verifier: String,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flow([redacted])")
    }
}

/// What the Auth0-side request asks of the sign-in, passed upstream where
/// it means something there (OIDC Core §3.1.2.1).
#[derive(Debug, Default)]
pub struct Hints<'a> {
    /// `prompt` values other than `none` (`login`, `consent`, `select_account`).
    pub prompt: Option<String>,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
    /// `login_hint`.
    pub login_hint: Option<&'a str>,
    /// `ui_locales`.
    pub ui_locales: Option<&'a str>,
}

/// The legacy IdP's authorization URL for `flow`: the code flow with PKCE
/// S256, the configured scopes, a nonce (OIDC), and Auth0's hints. Both
/// adapters pass `max_age`, `ui_locales` and `login_hint` on: OAuth 2.0
/// IdPs that do not know them ignore them (RFC 6749 §3.1).
pub fn request_url(
    config: &RedirectConfig,
    authorization_endpoint: &Url,
    callback: &Url,
    hints: &Hints<'_>,
    flow: &Flow,
    challenge: &str,
) -> Url {
    let mut url = authorization_endpoint.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", callback.as_str())
            .append_pair("state", &flow.state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        let scopes = config.scopes();
        if !scopes.is_empty() {
            q.append_pair("scope", &scopes.join(" "));
        }
        if config.protocol == Protocol::Oidc {
            q.append_pair("nonce", &flow.nonce);
        }
        if let Some(max_age) = hints.max_age {
            q.append_pair("max_age", &max_age.to_string());
        }
        if let Some(locales) = hints.ui_locales {
            q.append_pair("ui_locales", locales);
        }
        if let Some(prompt) = prompt(config, hints) {
            q.append_pair("prompt", &prompt);
        }
        if let Some(hint) = hints.login_hint {
            q.append_pair("login_hint", hint);
        }
    }
    url
}

/// Auth0's `prompt`, with `consent` added when the scopes ask for
/// `offline_access`: OIDC Core §11 has the client "ensure that the prompt
/// parameter contains consent unless other conditions for processing the
/// request permitting offline access to the requested resources are in
/// place", and the OP otherwise ignore the request, so no refresh token
/// comes back. `prompt_consent_for_offline_access = false` is for a legacy
/// IdP where those other conditions hold.
fn prompt(config: &RedirectConfig, hints: &Hints<'_>) -> Option<String> {
    let mut values: Vec<&str> = hints
        .prompt
        .as_deref()
        .map(|p| p.split(' ').filter(|v| !v.is_empty()).collect())
        .unwrap_or_default();
    if config.prompt_consent_for_offline_access
        && config.asks_offline_access()
        && !values.contains(&"consent")
    {
        values.push("consent");
    }
    (!values.is_empty()).then(|| values.join(" "))
}

/// Checks the authorization response's `iss` (RFC 9207 §2.4) before its
/// code or error is used, so a response from another IdP (a mix-up) is
/// refused. `advertised`: discovery says the legacy IdP sends `iss`.
///
/// - `iss` present: it must be `issuer` exactly. Without a configured
///   `issuer` (oauth2) it cannot be checked, and is refused naming the key
///   to set, rather than ignored.
/// - `iss` absent: refused when advertised or when `require_iss` is set;
///   otherwise accepted (a legacy IdP that predates RFC 9207; the state,
///   the cookie and PKCE still bind the callback to its sign-in).
pub fn check_iss(
    config: &RedirectConfig,
    iss: Option<&str>,
    advertised: bool,
) -> Result<(), UpstreamError> {
    let key = config.key();
    let refused = |why: String| Err(UpstreamError::Protocol(why));
    match (iss, &config.issuer) {
        (Some(iss), Some(issuer)) if iss == issuer => Ok(()),
        (Some(_), Some(_)) => refused(
            "the authorization response's iss is not the legacy IdP's issuer (RFC 9207 mix-up defence)".into(),
        ),
        (Some(_), None) => refused(format!(
            "the authorization response carries iss (RFC 9207) but {key}.issuer is not set, so it cannot be checked; set {key}.issuer to the legacy IdP's issuer identifier"
        )),
        (None, _) if advertised => refused(
            "the authorization response has no iss, though the legacy IdP advertises authorization_response_iss_parameter_supported (RFC 9207 §2.4)".into(),
        ),
        (None, _) if config.require_iss => refused(format!(
            "the authorization response has no iss, and {key}.require_iss is set (RFC 9207)"
        )),
        (None, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(protocol: Protocol, extra: &str) -> RedirectConfig {
        let mut c: RedirectConfig = toml::from_str(&format!(
            "issuer = \"https://idp.example\"\nclient_id = \"c\"\n{extra}"
        ))
        .expect("config");
        c.protocol = protocol;
        c
    }

    #[test]
    fn consent_is_added_for_offline_access_unless_turned_off() {
        let hints = |prompt: Option<&str>| Hints {
            prompt: prompt.map(str::to_owned),
            ..Hints::default()
        };
        let oidc = config(Protocol::Oidc, "");
        assert_eq!(prompt(&oidc, &hints(None)).as_deref(), Some("consent"));
        assert_eq!(
            prompt(&oidc, &hints(Some("login"))).as_deref(),
            Some("login consent")
        );
        assert_eq!(
            prompt(&oidc, &hints(Some("consent"))).as_deref(),
            Some("consent")
        );
        let off = config(Protocol::Oidc, "prompt_consent_for_offline_access = false");
        assert_eq!(prompt(&off, &hints(None)), None);
        let no_offline = config(Protocol::Oidc, "scopes = [\"openid\", \"email\"]");
        assert_eq!(prompt(&no_offline, &hints(None)), None);
        let oauth2 = config(Protocol::OAuth2, "");
        assert_eq!(
            prompt(&oauth2, &hints(None)),
            None,
            "no default offline_access"
        );
    }

    #[test]
    fn iss_is_checked_required_when_advertised_and_never_ignored() {
        let oidc = config(Protocol::Oidc, "");
        assert!(check_iss(&oidc, Some("https://idp.example"), true).is_ok());
        assert!(check_iss(&oidc, Some("https://idp.example/"), false).is_err());
        assert!(check_iss(&oidc, None, true).is_err());
        assert!(check_iss(&oidc, None, false).is_ok());
        let required = config(Protocol::Oidc, "require_iss = true");
        assert!(check_iss(&required, None, false).is_err());
        let mut unset = config(Protocol::OAuth2, "");
        unset.issuer = None;
        let err = check_iss(&unset, Some("https://idp.example"), false).expect_err("refused");
        assert!(err.to_string().contains("upstream.oauth2.issuer"), "{err}");
        assert!(check_iss(&unset, None, false).is_ok());
    }
}
