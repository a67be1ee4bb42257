//! `idp-bridge auth0 token-exchange`: the Auth0 side of Custom Token
//! Exchange for apps that still hold legacy tokens — the Action (trigger
//! `custom-token-exchange`) that asks the bridge's `POST
//! /legacy/introspect` whether the subject token is live, rejects it with
//! `api.access.rejectInvalidSubjectToken` when it is not (Auth0's attack
//! protection counts those), fails closed with `api.access.deny` when the
//! bridge cannot answer, and sets the user with
//! `api.authentication.setUserById("auth0|" + sub)`: the user the
//! migration connection made (`idp-bridge auth0 migration`); and the
//! Custom Token Exchange Profile mapping a `subject_token_type` to it.
//!
//! Printed as Management API JSON (`POST /api/v2/actions/actions`, then
//! `POST /api/v2/token-exchange-profiles` with the new action's id) or as
//! Terraform (`auth0_action`, `auth0_token_exchange_profile`, provider
//! 1.11 or later). The Deploy CLI has no token exchange profile, so there
//! is no YAML. Every value goes through a serializer (`serde_json`, whose
//! strings are JavaScript string literals too; HCL strings through
//! `syntax::hcl_string`); the client secret is only ever a placeholder
//! (`${IDP_BRIDGE_CLIENT_SECRET}`, `var.idp_bridge_client_secret`).

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Deserialize;
use serde_json::{Value, json};

use super::SECRET_VAR;
use super::render::hcl_block;
use super::syntax::{hcl_attributes, hcl_string, terraform_prelude};
use crate::domain::config::{ClientConfig, load_raw, process_env};

/// The Action's secret holding the bridge client id.
pub const CLIENT_ID_SECRET: &str = "IDP_BRIDGE_CLIENT_ID";
/// The Action's secret holding the bridge client secret.
pub const CLIENT_SECRET_SECRET: &str = "IDP_BRIDGE_CLIENT_SECRET";
/// The prefix Auth0 gives a database connection's users (the migration
/// connection's `user_id` is the legacy subject).
pub const USER_ID_PREFIX: &str = "auth0|";

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenExchangeFormat {
    /// `{"action": …, "token_exchange_profile": …}`: the two Management
    /// API bodies.
    Json,
    /// `auth0_action` and `auth0_token_exchange_profile` resources.
    Terraform,
    /// The Deploy CLI has no token exchange profiles: refused, saying so.
    Yaml,
}

/// What `auth0 token-exchange` is told.
#[derive(Debug, clap::Args)]
pub struct TokenExchangeArgs {
    /// The config file.
    #[arg(long, env = "IDP_BRIDGE_CONFIG")]
    pub config: PathBuf,
    /// The `[[clients]]` id the Action authenticates as (it needs
    /// `validate_legacy_tokens = true` and `client_secret_basic`).
    #[arg(long)]
    pub client: String,
    /// The `subject_token_type` apps send with a legacy token: a URI of
    /// your own (not `urn:ietf:params:oauth:…`, `urn:auth0:…` or
    /// `https://auth0.com/…`, which Auth0 reserves).
    #[arg(long, default_value = "urn:legacy-idp:access-token")]
    pub subject_token_type: String,
    /// The Action's and the profile's name.
    #[arg(long, default_value = "idp-bridge legacy token exchange")]
    pub name: String,
    /// What to print.
    #[arg(long, value_enum, default_value = "json")]
    pub format: TokenExchangeFormat,
}

/// The part of the config file read: `issuer` and `[[clients]]`.
#[derive(Debug, Deserialize)]
struct Source {
    issuer: url::Url,
    #[serde(default)]
    clients: Vec<ClientConfig>,
}

/// Everything the renderers need, checked.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The bridge's `/legacy/introspect` URL.
    pub introspect_url: String,
    /// The bridge client id.
    pub client_id: String,
    /// The `subject_token_type`.
    pub subject_token_type: String,
    /// The Action's and profile's name.
    pub name: String,
}

/// Prints the Action and the profile; `Err` is a message for the operator.
pub fn run(args: &TokenExchangeArgs) -> Result<ExitCode, String> {
    let exchange = load(args)?;
    match args.format {
        TokenExchangeFormat::Json => print!("{}", management_json(&exchange)),
        TokenExchangeFormat::Terraform => print!("{}", terraform(&exchange)),
        TokenExchangeFormat::Yaml => {
            return Err("auth0 token-exchange: the Deploy CLI does not manage token exchange profiles; use --format json or terraform".into());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads what the artefacts need from the config file and checks it: the
/// client exists, may validate legacy tokens and use Basic; the token type
/// is a URI Auth0 does not reserve; the name fits Auth0's limit.
pub fn load(args: &TokenExchangeArgs) -> Result<Exchange, String> {
    let source: Source = load_raw(Some(&args.config), &process_env()).map_err(|e| e.to_string())?;
    let client = source
        .clients
        .iter()
        .find(|c| c.id == args.client)
        .ok_or_else(|| {
            format!(
                "auth0 token-exchange: no client `{}` in {}",
                args.client,
                args.config.display()
            )
        })?;
    if !client.validate_legacy_tokens {
        return Err(format!(
            "auth0 token-exchange: client `{}` lacks validate_legacy_tokens = true; the bridge would refuse the Action",
            client.id
        ));
    }
    if !client
        .token_endpoint_auth_methods
        .iter()
        .any(|m| m == "client_secret_basic")
    {
        return Err(format!(
            "auth0 token-exchange: client `{}` does not allow client_secret_basic, which the Action uses",
            client.id
        ));
    }
    check_subject_token_type(&args.subject_token_type)?;
    if !(3..=50).contains(&args.name.chars().count()) {
        return Err(
            "auth0 token-exchange: --name must be 3 to 50 characters (Auth0's limit for a profile)"
                .into(),
        );
    }
    if source.issuer.scheme() != "https" {
        eprintln!(
            "warning: issuer {} is not https: Auth0's Action cannot reach the bridge there",
            source.issuer
        );
    }
    Ok(Exchange {
        introspect_url: format!(
            "{}{}",
            source.issuer.as_str().trim_end_matches('/'),
            crate::protocol::provider::legacy_introspect::PATH
        ),
        client_id: client.id.to_string(),
        subject_token_type: args.subject_token_type.clone(),
        name: args.name.clone(),
    })
}

/// Auth0 reserves these `subject_token_type` namespaces (Auth0, "Call Your
/// API Using the Custom Token Exchange Flow": `http://auth0.com`,
/// `https://auth0.com`, `http://okta.com`, `https://okta.com`, `urn:ietf`,
/// `urn:auth0`, `urn:okta`; its SDKs name only three of them).
const RESERVED_TYPES: &[&str] = &[
    "http://auth0.com",
    "https://auth0.com",
    "http://okta.com",
    "https://okta.com",
    "urn:ietf:",
    "urn:auth0:",
    "urn:okta:",
];

fn check_subject_token_type(uri: &str) -> Result<(), String> {
    if url::Url::parse(uri).is_err() {
        return Err(format!(
            "auth0 token-exchange: --subject-token-type `{uri}` is not a URI"
        ));
    }
    if let Some(reserved) = RESERVED_TYPES
        .iter()
        .find(|p| uri.to_ascii_lowercase().starts_with(*p))
    {
        return Err(format!(
            "auth0 token-exchange: --subject-token-type may not start with `{reserved}` (Auth0 reserves it)"
        ));
    }
    Ok(())
}

/// The Action's code. The URL and the token type are JSON strings, which
/// are JavaScript string literals; nothing else is spliced in.
pub fn action_code(e: &Exchange) -> String {
    let url = Value::String(e.introspect_url.clone());
    let token_type = Value::String(e.subject_token_type.clone());
    let prefix = Value::String(USER_ID_PREFIX.into());
    format!(
        r#"/**
 * Custom Token Exchange for legacy tokens, printed by `idp-bridge auth0 token-exchange`.
 * Asks the bridge whether the subject token is a live legacy token and whose it is, then
 * sets the user the migration connection made for that legacy subject.
 * Secrets: {CLIENT_ID_SECRET}, {CLIENT_SECRET_SECRET} (the bridge client's credentials).
 */
const BRIDGE_URL = {url};
const SUBJECT_TOKEN_TYPE = {token_type};
const USER_ID_PREFIX = {prefix};
const TIMEOUT_MS = 5000;

exports.onExecuteCustomTokenExchange = async (event, api) => {{
  if (event.transaction.subject_token_type !== SUBJECT_TOKEN_TYPE) {{
    api.access.deny("invalid_request", "this Action handles only " + SUBJECT_TOKEN_TYPE);
    return;
  }}
  const id = event.secrets.{CLIENT_ID_SECRET};
  const secret = event.secrets.{CLIENT_SECRET_SECRET};
  if (!id || !secret) {{
    api.access.deny("server_error", "the Action's secrets are not set");
    return;
  }}
  const form = (text) => encodeURIComponent(text).replace(/%20/g, "+");
  let answer;
  try {{
    const response = await fetch(BRIDGE_URL, {{
      method: "POST",
      headers: {{
        "Content-Type": "application/x-www-form-urlencoded",
        Accept: "application/json",
        Authorization: "Basic " + Buffer.from(form(id) + ":" + form(secret)).toString("base64"),
      }},
      body: new URLSearchParams({{ token: event.transaction.subject_token }}).toString(),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    }});
    if (response.status !== 200) {{
      // Fail closed: a bridge that cannot say yes is a no, but not a forged token.
      api.access.deny("server_error", "the bridge answered " + response.status);
      return;
    }}
    answer = await response.json();
  }} catch (err) {{
    api.access.deny("server_error", "the bridge cannot be reached");
    return;
  }}
  if (!answer || answer.active !== true) {{
    api.access.rejectInvalidSubjectToken("the legacy token is not live");
    return;
  }}
  if (typeof answer.sub !== "string" || answer.sub === "") {{
    api.access.deny("server_error", "the bridge named no user");
    return;
  }}
  api.authentication.setUserById(USER_ID_PREFIX + answer.sub);
}};
"#
    )
}

/// The placeholder the JSON carries for the client secret.
fn secret_placeholder() -> String {
    format!("${{{SECRET_VAR}}}")
}

/// The two Management API bodies.
pub fn management_body(e: &Exchange) -> Value {
    json!({
        "action": {
            "name": e.name,
            "supported_triggers": [{"id": "custom-token-exchange", "version": "v1"}],
            "runtime": "node22",
            "code": action_code(e),
            "secrets": [
                {"name": CLIENT_ID_SECRET, "value": e.client_id},
                {"name": CLIENT_SECRET_SECRET, "value": secret_placeholder()},
            ],
            "deploy": true,
        },
        "token_exchange_profile": {
            "name": e.name,
            "subject_token_type": e.subject_token_type,
            "action_id": "${ACTION_ID}",
            "type": "custom_authentication",
        },
    })
}

fn management_json(e: &Exchange) -> String {
    let mut text = serde_json::to_string_pretty(&management_body(e)).unwrap_or_default();
    text.push('\n');
    text
}

fn terraform(e: &Exchange) -> String {
    let var = SECRET_VAR.to_ascii_lowercase();
    // `auth0_token_exchange_profile` came with provider 1.11.
    let mut out = terraform_prelude(
        "1.11",
        &var,
        &format!("The secret of the bridge client `{}`", e.client_id),
    );
    out.push_str("resource \"auth0_action\" \"legacy_token_exchange\" {\n");
    hcl_attributes(
        &mut out,
        "  ",
        &[
            ("name", hcl_string(&e.name)),
            ("runtime", hcl_string("node22")),
            ("deploy", "true".into()),
            ("code", hcl_string(&action_code(e))),
        ],
    );
    hcl_block(
        &mut out,
        "  ",
        "supported_triggers",
        &[
            ("id", hcl_string("custom-token-exchange")),
            ("version", hcl_string("v1")),
        ],
    );
    hcl_block(
        &mut out,
        "  ",
        "secrets",
        &[
            ("name", hcl_string(CLIENT_ID_SECRET)),
            ("value", hcl_string(&e.client_id)),
        ],
    );
    hcl_block(
        &mut out,
        "  ",
        "secrets",
        &[
            ("name", hcl_string(CLIENT_SECRET_SECRET)),
            ("value", format!("var.{var}")),
        ],
    );
    out.push_str("}\n\nresource \"auth0_token_exchange_profile\" \"legacy_token\" {\n");
    hcl_attributes(
        &mut out,
        "  ",
        &[
            ("name", hcl_string(&e.name)),
            ("subject_token_type", hcl_string(&e.subject_token_type)),
            ("action_id", "auth0_action.legacy_token_exchange.id".into()),
            ("type", hcl_string("custom_authentication")),
        ],
    );
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(url: &str) -> Exchange {
        Exchange {
            introspect_url: url.into(),
            client_id: "cte\"client".into(),
            subject_token_type: "urn:acme:legacy-token".into(),
            name: "legacy exchange".into(),
        }
    }

    #[test]
    fn values_are_serialized_never_spliced() {
        let e = exchange("https://bridge.example.com/legacy/introspect\";process.exit(1);//");
        let code = action_code(&e);
        assert!(code.contains(r#"const BRIDGE_URL = "https://bridge.example.com/legacy/introspect\";process.exit(1);//";"#));
        let body = management_body(&e);
        assert_eq!(body["action"]["secrets"][0]["value"], "cte\"client");
        assert_eq!(
            body["action"]["secrets"][1]["value"],
            "${IDP_BRIDGE_CLIENT_SECRET}"
        );
        assert_eq!(
            body["token_exchange_profile"]["type"],
            "custom_authentication"
        );
        let tf = terraform(&e);
        assert!(tf.contains("value = var.idp_bridge_client_secret"), "{tf}");
        assert!(
            !code.contains("${"),
            "no template syntax for Terraform to read"
        );
    }

    #[test]
    fn reserved_token_types_are_refused() {
        for uri in [
            "urn:ietf:params:oauth:token-type:access_token",
            "urn:ietf:wg:legacy",
            "urn:auth0:legacy",
            "URN:Okta:legacy",
            "https://auth0.com/legacy",
            "http://auth0.com/legacy",
            "https://okta.com/legacy",
            "http://okta.com/legacy",
            "not a uri",
        ] {
            assert!(check_subject_token_type(uri).is_err(), "{uri}");
        }
        assert!(check_subject_token_type("urn:acme:legacy-token").is_ok());
        assert!(check_subject_token_type("https://api.acme.com/token-type/v1").is_ok());
    }
}
