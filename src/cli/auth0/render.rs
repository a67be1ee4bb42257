//! The Auth0 connection in each format. The Management API body is the
//! source: the Auth0 CLI command and the Deploy CLI YAML are that body
//! written another way; Terraform has the provider's own attribute names.
//!
//! Names, as Auth0 documents them (checked 2026-12):
//! - Management API `POST /api/v2/connections`, `ConnectionOptionsOIDC` /
//!   `ConnectionOptionsOAuth2` (auth0.github.io/node-auth0, Management
//!   namespace): `type`, `discovery_url`, `issuer`, `authorization_endpoint`,
//!   `token_endpoint`, `userinfo_endpoint`, `jwks_uri`, `client_id`,
//!   `client_secret`, `scope` (a space-separated string), `token_endpoint_auth_method`,
//!   `id_token_signed_response_algs` (oidc only: an array of `RS256`,
//!   `RS384`, `RS512`, `PS256`, `PS384`, `ES256`, `ES384`,
//!   `ConnectionIdTokenSignedResponseAlgEnum`; the bridge's one algorithm
//!   for the client), `connection_settings.pkce`
//!   (`auto|S256|plain|disabled`), `attribute_map.mapping_mode`,
//!   oauth2: `authorizationURL`, `tokenURL`, `scope`, `pkce_enabled`,
//!   `scripts.fetchUserProfile`.
//! - Token Vault, only with `--token-vault`: "Connected Accounts for Token
//!   Vault" is a purpose of a social or enterprise connection, the
//!   top-level `connected_accounts` (Auth0 docs "Connected Accounts for
//!   Token Vault", "Configure Token Vault"; `ConnectionCommon`), so both
//!   strategies put it there. Once on, Auth0 stores the connection's tokens
//!   in Token Vault instead of the user's `identities` array (Auth0 docs
//!   "Call an External IdP API").
//! - Terraform: terraform-provider-auth0 `internal/auth0/connection/schema.go`
//!   and `expand.go` (oauth2's `authorization_endpoint`/`token_endpoint`
//!   become `authorizationURL`/`tokenURL`; `scopes` becomes `scope`).
//! - Deploy CLI: `@@NAME@@` is replaced from `AUTH0_KEYWORD_REPLACE_MAPPINGS`
//!   with the value as JSON (auth0.com/docs/deploy-monitor/deploy-cli-tool/keyword-replacement).
//! - The secret is never spliced into JSON text: jq puts it in (the JSON
//!   and Auth0 CLI forms), Terraform reads a variable, the Deploy CLI
//!   writes it as JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::syntax::{hcl_attributes, hcl_identifier, hcl_string, terraform_prelude};
use super::{Connection, Format, SECRET_VAR, Strategy};

/// What `auth0 --format FORMAT` prints on stdout.
pub(crate) fn output(c: &Connection, format: Format, callbacks: &[(String, bool)]) -> String {
    match format {
        Format::Json => management_json(c),
        Format::Auth0Cli => auth0_cli(c),
        Format::Terraform => terraform(c),
        Format::DeployCli => deploy_cli(c),
        // Printed by `event_stream`, from the config's `[auth0_events]`.
        Format::EventStream => String::new(),
        Format::All => {
            let mut out = String::new();
            let sections = [
                (
                    "Management API: POST /api/v2/connections",
                    management_json(c),
                ),
                ("Auth0 CLI", auth0_cli(c)),
                ("Terraform (auth0/auth0 provider)", terraform(c)),
                ("Deploy CLI (tenant.yaml)", deploy_cli(c)),
            ];
            for (title, body) in sections {
                let _ = write!(out, "==== {title} ====\n\n{body}\n");
            }
            out.push_str("==== Callback URLs (the client's redirect_uris) ====\n\n");
            for (url, registered) in callbacks {
                let state = if *registered {
                    "registered"
                } else {
                    "NOT registered: add it to the client's redirect_uris"
                };
                let _ = writeln!(out, "{url}  {state}");
            }
            out
        }
    }
}

/// The connection as the Management API takes it, with the secret as
/// `${IDP_BRIDGE_CLIENT_SECRET}` (filled in with jq, docs/auth0.md).
pub(crate) fn body(c: &Connection) -> Value {
    let secret = format!("${{{SECRET_VAR}}}");
    let scope = c.scopes.join(" ");
    let mut body = json!({ "name": c.name, "strategy": strategy_name(c.strategy) });
    let issuer = &c.issuer;
    match c.strategy {
        Strategy::Oidc => {
            let options = json!({
                "type": "back_channel",
                "discovery_url": format!("{issuer}/.well-known/openid-configuration"),
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/authorize"),
                "token_endpoint": format!("{issuer}/token"),
                "userinfo_endpoint": format!("{issuer}/userinfo"),
                "jwks_uri": format!("{issuer}/jwks"),
                "client_id": c.client_id,
                "client_secret": secret,
                "scope": scope,
                // Auth0 authenticates this way for both strategies.
                "token_endpoint_auth_method": "client_secret_post",
                // The one algorithm the bridge signs this client's ID
                // tokens with (RS256, or ES256 when the client sets it).
                "id_token_signed_response_algs": [c.id_token_alg.as_str()],
                // The bridge supports S256 only; `auto` would also pick it.
                "connection_settings": { "pkce": "S256" },
                // Every claim the bridge puts in the ID token (name, email,
                // mapped legacy attributes) lands on the Auth0 profile.
                "attribute_map": { "mapping_mode": "bind_all" },
            });
            body["options"] = options;
        }
        Strategy::Oauth2 => {
            body["options"] = json!({
                "authorizationURL": format!("{issuer}/authorize"),
                "tokenURL": format!("{issuer}/token"),
                "client_id": c.client_id,
                "client_secret": secret,
                "scope": scope,
                "pkce_enabled": true,
                "scripts": { "fetchUserProfile": fetch_user_profile(issuer) },
            });
        }
    }
    // Auth0 documents Connected Accounts for Token Vault as a purpose of the
    // connection, social or enterprise alike: one place for both strategies.
    if c.token_vault {
        body["connected_accounts"] = json!({ "active": true });
    }
    body
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Oidc => "oidc",
        Strategy::Oauth2 => "oauth2",
    }
}

fn management_json(c: &Connection) -> String {
    let mut text = serde_json::to_string_pretty(&body(c)).unwrap_or_default();
    text.push('\n');
    text
}

/// The `fetchUserProfile` script of an `oauth2` connection: the bridge's
/// `/userinfo` with the access token (the legacy token), `sub` as the user
/// id, and an error Auth0 shows when the bridge does not answer 200.
pub(crate) fn fetch_user_profile(issuer: &str) -> String {
    // A JSON string is a JavaScript string literal.
    let url = Value::String(format!("{issuer}/userinfo")).to_string();
    format!(
        r#"function fetchUserProfile(accessToken, context, callback) {{
  request.get(
    {{
      url: {url},
      headers: {{ Authorization: "Bearer " + accessToken }},
      timeout: 10000
    }},
    function (err, resp, body) {{
      if (err) return callback(err);
      if (resp.statusCode !== 200) {{
        return callback(new Error("the bridge's userinfo answered " + resp.statusCode));
      }}
      var profile;
      try {{
        profile = JSON.parse(body);
      }} catch (e) {{
        return callback(new Error("the bridge's userinfo answered no JSON"));
      }}
      if (!profile.sub) return callback(new Error("the bridge's userinfo answered no sub"));
      callback(null, {{
        user_id: profile.sub,
        name: profile.name,
        email: profile.email,
        email_verified: profile.email_verified === true
      }});
    }}
  );
}}
"#
    )
}

/// `text` inside single quotes for a POSIX shell.
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The jq program that puts `$secret` into a connection body: jq
/// serializes it, so `"`, `\` or a newline in the secret arrive intact
/// (a splice into the JSON text would break on them). docs/auth0.md gives
/// the same line for the JSON form.
const JQ_SET_SECRET: &str = "'.options.client_secret = $secret'";

fn auth0_cli(c: &Connection) -> String {
    let data = serde_json::to_string(&body(c)).unwrap_or_default();
    // `:?` stops before anything runs when the variable is unset; `&&`
    // keeps `auth0` from running when jq is missing or fails.
    format!(
        "# The Auth0 CLI (after `auth0 login`) and jq: the secret is read from ${SECRET_VAR}\n\
         # and put into the JSON by jq, so any character in it arrives intact.\n\
         : \"${{{SECRET_VAR}:?set {SECRET_VAR} to the client secret}}\" &&\n  \
         data=$(printf '%s' {quoted} |\n    \
         jq -c --arg secret \"${SECRET_VAR}\" {JQ_SET_SECRET}) &&\n  \
         auth0 api post connections --data \"$data\"\n",
        quoted = shell_quote(&data),
    )
}

fn hcl_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| hcl_string(i)).collect();
    format!("[{}]", items.join(", "))
}

/// A nested block with attributes, preceded by a blank line.
pub(crate) fn hcl_block(out: &mut String, indent: &str, name: &str, attributes: &[(&str, String)]) {
    let _ = writeln!(out, "\n{indent}{name} {{");
    hcl_attributes(out, &format!("{indent}  "), attributes);
    let _ = writeln!(out, "{indent}}}");
}

fn terraform(c: &Connection) -> String {
    let var = SECRET_VAR.to_ascii_lowercase();
    let resource = hcl_identifier(&c.name);
    // `connection_settings`, `attribute_map` and `connected_accounts` need
    // provider 1.47 or later.
    let mut out = terraform_prelude(
        "1.47",
        &var,
        &format!("The secret of the bridge client `{}`", c.client_id),
    );
    let _ = writeln!(out, "resource \"auth0_connection\" \"{resource}\" {{");
    hcl_attributes(
        &mut out,
        "  ",
        &[
            ("name", hcl_string(&c.name)),
            ("strategy", hcl_string(strategy_name(c.strategy))),
        ],
    );
    out.push_str("\n  options {\n");
    match c.strategy {
        Strategy::Oidc => terraform_oidc_options(&mut out, c, &var),
        Strategy::Oauth2 => terraform_oauth2_options(&mut out, c, &var),
    }
    out.push_str("  }\n");
    if c.token_vault {
        hcl_block(
            &mut out,
            "  ",
            "connected_accounts",
            &[("active", "true".into())],
        );
    }
    out.push_str("}\n\n");
    let _ = write!(
        out,
        "# Enable the connection for your Auth0 applications:\n\
         # resource \"auth0_connection_clients\" \"{resource}\" {{\n\
         #   connection_id   = auth0_connection.{resource}.id\n\
         #   enabled_clients = [auth0_client.my_app.id]\n\
         # }}\n"
    );
    out
}

/// The `options` attributes of an `oidc` connection.
fn terraform_oidc_options(out: &mut String, c: &Connection, var: &str) {
    let issuer = &c.issuer;
    hcl_attributes(
        out,
        "    ",
        &[
            ("type", hcl_string("back_channel")),
            (
                "discovery_url",
                hcl_string(&format!("{issuer}/.well-known/openid-configuration")),
            ),
            ("issuer", hcl_string(issuer)),
            (
                "authorization_endpoint",
                hcl_string(&format!("{issuer}/authorize")),
            ),
            ("token_endpoint", hcl_string(&format!("{issuer}/token"))),
            (
                "userinfo_endpoint",
                hcl_string(&format!("{issuer}/userinfo")),
            ),
            ("jwks_uri", hcl_string(&format!("{issuer}/jwks"))),
            ("client_id", hcl_string(&c.client_id)),
            ("client_secret", format!("var.{var}")),
            ("scopes", hcl_list(&c.scopes)),
            (
                "token_endpoint_auth_method",
                hcl_string("client_secret_post"),
            ),
            (
                "id_token_signed_response_algs",
                hcl_list(&[c.id_token_alg.as_str().to_owned()]),
            ),
        ],
    );
    hcl_block(
        out,
        "    ",
        "connection_settings",
        &[("pkce", hcl_string("S256"))],
    );
    hcl_block(
        out,
        "    ",
        "attribute_map",
        &[("mapping_mode", hcl_string("bind_all"))],
    );
}

/// The `options` attributes of an `oauth2` connection, with its script.
fn terraform_oauth2_options(out: &mut String, c: &Connection, var: &str) {
    let issuer = &c.issuer;
    hcl_attributes(
        out,
        "    ",
        &[
            (
                "authorization_endpoint",
                hcl_string(&format!("{issuer}/authorize")),
            ),
            ("token_endpoint", hcl_string(&format!("{issuer}/token"))),
            ("client_id", hcl_string(&c.client_id)),
            ("client_secret", format!("var.{var}")),
            ("scopes", hcl_list(&c.scopes)),
            ("pkce_enabled", "true".into()),
        ],
    );
    // A heredoc is a template too: `${` and `%{` doubled.
    let script = fetch_user_profile(issuer)
        .replace("${", "$${")
        .replace("%{", "%%{");
    out.push_str("    scripts = {\n      fetchUserProfile = <<-EOT\n");
    for line in script.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "        {line}");
        }
    }
    out.push_str("      EOT\n    }\n");
}

/// A YAML scalar: a JSON string is a YAML double-quoted scalar; multi-line
/// text is a literal block.
fn yaml_scalar(value: &Value, indent: usize) -> String {
    match value {
        // The Deploy CLI replaces it with the secret as a JSON string (a
        // YAML double-quoted scalar) before it reads the YAML: no quotes.
        Value::String(s) if *s == deploy_placeholder() => s.clone(),
        Value::String(s) if s.contains('\n') => {
            let pad = " ".repeat(indent);
            let mut out = String::from("|\n");
            for line in s.lines() {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    let _ = writeln!(out, "{pad}{line}");
                }
            }
            out.pop();
            out
        }
        other => other.to_string(),
    }
}

/// `value`'s entries as a YAML block mapping at `indent` spaces.
fn yaml_mapping(out: &mut String, value: &serde_json::Map<String, Value>, indent: usize) {
    let pad = " ".repeat(indent);
    for (key, item) in value {
        match item {
            Value::Object(inner) => {
                let _ = writeln!(out, "{pad}{key}:");
                yaml_mapping(out, inner, indent + 2);
            }
            other => {
                let _ = writeln!(out, "{pad}{key}: {}", yaml_scalar(other, indent + 2));
            }
        }
    }
}

/// The Deploy CLI keyword for the secret: `@@KEY@@` is replaced by
/// `JSON.stringify(value)`, `##KEY##` literally (Auth0 docs, "Keyword
/// Replacement"), which a `"` or `\\` in the secret would break.
fn deploy_placeholder() -> String {
    format!("@@{SECRET_VAR}@@")
}

fn deploy_cli(c: &Connection) -> String {
    let mut body = body(c);
    if let Some(options) = body.get_mut("options") {
        options["client_secret"] = Value::String(deploy_placeholder());
    }
    let mut out = format!(
        "# auth0-deploy-cli: a0deploy import -c config.json -i tenant.yaml, with\n\
         # \"AUTH0_KEYWORD_REPLACE_MAPPINGS\": {{ \"{SECRET_VAR}\": \"<the client secret>\" }}\n\
         # (@@KEY@@ is replaced by the value as JSON, quotes and escapes included)\n\
         connections:\n"
    );
    if let Value::Object(map) = &body {
        let mut entries = map.iter();
        if let Some((key, first)) = entries.next() {
            let _ = writeln!(out, "  - {key}: {}", yaml_scalar(first, 6));
        }
        let rest: serde_json::Map<String, Value> =
            entries.map(|(k, v)| (k.clone(), v.clone())).collect();
        yaml_mapping(&mut out, &rest, 4);
    }
    out.push_str("    # enabled_clients: [\"My App\"]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_strings_use_only_the_escapes_hcl_has() {
        // HCL has \n \r \t \" \\ \uNNNN, not JSON's \b and \f.
        assert_eq!(
            hcl_string("a\"b\\c\u{8}d\u{c}e\nf${x}%{y}"),
            r#""a\"b\\c\u0008d\u000ce\nf$${x}%%{y}""#
        );
    }
}
