//! `idp-bridge auth0 migration`: the Auth0 custom database connection in
//! import mode whose `login` and `get_user` scripts call the bridge's
//! `[migration]` endpoints (lazy migration, docs/migration.md), as the
//! Management API body, a Terraform `auth0_connection`, auth0-deploy-cli
//! YAML, or either script alone.
//!
//! Names, as Auth0 documents them: Management API `POST
//! /api/v2/connections` with `strategy: "auth0"` and the options
//! `enabledDatabaseCustomization`, `import_mode`, `disable_signup`,
//! `requires_username`, `customScripts` (`login`, `get_user`) and
//! `configuration` (the scripts' global `configuration` object, strings
//! only); Terraform's `auth0_connection` `options { enabled_database_customization,
//! import_mode, disable_signup, requires_username, custom_scripts,
//! configuration }`; the Deploy CLI keeps database connections under
//! `databases:`, not `connections:`, with each script in a file named by
//! its path (`./databases/NAME/login.js`).
//!
//! The scripts are fixed text (`scripts/`): everything that varies is in
//! `configuration` (`BRIDGE_URL`, `BRIDGE_TOKEN`, `BRIDGE_TIMEOUT_MS`).
//! The credential is never resolved here: it is a placeholder filled in by
//! a serializer (jq, a Terraform variable, the Deploy CLI's `@@` keyword).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Deserialize;
use serde_json::{Value, json};

use super::syntax::{
    check_name, hcl_attributes, hcl_identifier, hcl_string, terraform_prelude, unreachable_issuer,
};
use crate::domain::config::{load_raw, process_env};

/// The `login` script.
pub const LOGIN_SCRIPT: &str = include_str!("scripts/migration_login.js");
/// The `get_user` script.
pub const GET_USER_SCRIPT: &str = include_str!("scripts/migration_get_user.js");
/// The environment variable (and placeholder) naming the credential.
const TOKEN_VAR: &str = "IDP_BRIDGE_MIGRATION_TOKEN";

/// What `auth0 migration` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MigrationFormat {
    /// The Management API body for `POST /api/v2/connections`.
    Json,
    /// An `auth0_connection` resource (terraform-provider-auth0).
    Terraform,
    /// A `databases:` entry for auth0-deploy-cli's tenant.yaml.
    #[value(alias = "deploy-cli")]
    Yaml,
    /// The `login` script alone.
    LoginScript,
    /// The `get_user` script alone.
    GetUserScript,
    /// Every format, each under a heading.
    All,
}

/// What `auth0 migration` is told.
#[derive(Debug, clap::Args)]
pub struct MigrationArgs {
    /// The config file (it needs `issuer` and `[migration]`).
    #[arg(long, env = "IDP_BRIDGE_CONFIG")]
    pub config: PathBuf,
    /// The connection's name in Auth0.
    #[arg(long, default_value = "legacy-users")]
    pub name: String,
    /// People sign in with a username rather than an email address: the
    /// connection requires one (`requires_username`).
    #[arg(long)]
    pub username: bool,
    /// What to print.
    #[arg(long, value_enum, default_value = "all")]
    pub format: MigrationFormat,
}

/// The part of the config file read; no secret is resolved.
#[derive(Debug, Deserialize)]
struct Source {
    issuer: url::Url,
    migration: Option<MigrationSource>,
}

#[derive(Debug, Deserialize)]
struct MigrationSource {
    #[serde(default = "default_timeout")]
    script_timeout_ms: u64,
}

fn default_timeout() -> u64 {
    10_000
}

/// The connection, checked.
struct Connection {
    name: String,
    bridge_url: String,
    timeout_ms: u64,
    requires_username: bool,
}

/// Prints the connection; `Err` is a message for the operator (exit 2).
pub fn run(args: &MigrationArgs) -> Result<ExitCode, String> {
    let source: Source = load_raw(Some(&args.config), &process_env()).map_err(|e| e.to_string())?;
    let migration = source.migration.ok_or_else(|| {
        format!(
            "auth0 migration: {} has no [migration] section; the scripts need its endpoints and token",
            args.config.display()
        )
    })?;
    check_name(&args.name)?;
    if let Some(reason) = unreachable_issuer(&source.issuer) {
        eprintln!(
            "warning: issuer {} {reason}: Auth0's cloud cannot reach it, so the scripts will fail; use the bridge's public https:// address",
            source.issuer
        );
    }
    let connection = Connection {
        name: args.name.clone(),
        bridge_url: source.issuer.as_str().trim_end_matches('/').to_owned(),
        timeout_ms: migration.script_timeout_ms,
        requires_username: args.username,
    };
    print!("{}", output(&connection, args.format));
    if matches!(args.format, MigrationFormat::Json) {
        eprintln!(
            "note: fill in the credential with jq: jq --arg t \"${TOKEN_VAR}\" '.options.configuration.BRIDGE_TOKEN = $t'"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The printed text for `format`, as `auth0 migration` writes it (the e2e
/// tests run the scripts from here under Node).
pub fn migration_output(issuer: &str, format: MigrationFormat) -> String {
    output(
        &Connection {
            name: "legacy-users".into(),
            bridge_url: issuer.trim_end_matches('/').to_owned(),
            timeout_ms: default_timeout(),
            requires_username: false,
        },
        format,
    )
}

fn output(c: &Connection, format: MigrationFormat) -> String {
    match format {
        MigrationFormat::Json => management_json(c),
        MigrationFormat::Terraform => terraform(c),
        MigrationFormat::Yaml => deploy_cli(c),
        MigrationFormat::LoginScript => LOGIN_SCRIPT.to_owned(),
        MigrationFormat::GetUserScript => GET_USER_SCRIPT.to_owned(),
        MigrationFormat::All => {
            let mut out = String::new();
            for (title, body) in [
                (
                    "Management API: POST /api/v2/connections",
                    management_json(c),
                ),
                ("Terraform (auth0/auth0 provider)", terraform(c)),
                ("Deploy CLI (tenant.yaml)", deploy_cli(c)),
            ] {
                let _ = write!(out, "==== {title} ====\n\n{body}\n");
            }
            out
        }
    }
}

/// The Management API body, the credential as `${IDP_BRIDGE_MIGRATION_TOKEN}`.
fn body(c: &Connection, token: &str) -> Value {
    json!({
        "name": c.name,
        "strategy": "auth0",
        "options": {
            "enabledDatabaseCustomization": true,
            "import_mode": true,
            // Until the legacy IdP is retired, a sign-up would create an
            // Auth0 user over a legacy user get_user cannot see.
            "disable_signup": true,
            "requires_username": c.requires_username,
            "customScripts": {
                "login": LOGIN_SCRIPT,
                "get_user": GET_USER_SCRIPT,
            },
            "configuration": {
                "BRIDGE_URL": c.bridge_url,
                "BRIDGE_TOKEN": token,
                "BRIDGE_TIMEOUT_MS": c.timeout_ms.to_string(),
            },
        },
    })
}

fn management_json(c: &Connection) -> String {
    let mut text =
        serde_json::to_string_pretty(&body(c, &format!("${{{TOKEN_VAR}}}"))).unwrap_or_default();
    text.push('\n');
    text
}

/// A heredoc for a script: `${` and `%{` doubled (a heredoc is a template).
fn heredoc(out: &mut String, indent: &str, script: &str) {
    out.push_str("<<-EOT\n");
    for line in script.replace("${", "$${").replace("%{", "%%{").lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{indent}  {line}");
        }
    }
    let _ = writeln!(out, "{indent}EOT");
}

fn terraform(c: &Connection) -> String {
    let var = TOKEN_VAR.to_ascii_lowercase();
    let resource = hcl_identifier(&c.name);
    let mut out = terraform_prelude(
        "1.47",
        &var,
        "The bridge's [migration] token, for the custom database scripts",
    );
    let _ = writeln!(out, "resource \"auth0_connection\" \"{resource}\" {{");
    hcl_attributes(
        &mut out,
        "  ",
        &[
            ("name", hcl_string(&c.name)),
            ("strategy", hcl_string("auth0")),
        ],
    );
    out.push_str("\n  options {\n");
    hcl_attributes(
        &mut out,
        "    ",
        &[
            ("enabled_database_customization", "true".into()),
            ("import_mode", "true".into()),
            ("disable_signup", "true".into()),
            ("requires_username", c.requires_username.to_string()),
        ],
    );
    out.push_str("\n    custom_scripts = {\n      login = ");
    heredoc(&mut out, "      ", LOGIN_SCRIPT);
    out.push_str("      get_user = ");
    heredoc(&mut out, "      ", GET_USER_SCRIPT);
    out.push_str("    }\n\n    configuration = {\n");
    hcl_attributes(
        &mut out,
        "      ",
        &[
            ("BRIDGE_URL", hcl_string(&c.bridge_url)),
            ("BRIDGE_TOKEN", format!("var.{var}")),
            ("BRIDGE_TIMEOUT_MS", hcl_string(&c.timeout_ms.to_string())),
        ],
    );
    out.push_str("    }\n  }\n}\n\n");
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

/// The Deploy CLI keyword for the credential: `@@KEY@@` is replaced by the
/// value as JSON (a YAML double-quoted scalar), so no quotes around it.
fn deploy_cli(c: &Connection) -> String {
    // A JSON string is a YAML double-quoted scalar: every value goes
    // through serde_json, never between quotes by hand.
    let q = |text: &str| Value::String(text.to_owned()).to_string();
    let folder = format!("./databases/{}", c.name);
    let mut out = format!(
        "# auth0-deploy-cli: a0deploy import -c config.json -i tenant.yaml, with\n\
         # \"AUTH0_KEYWORD_REPLACE_MAPPINGS\": {{ \"{TOKEN_VAR}\": \"<the [migration] token>\" }}\n\
         # and the scripts saved beside tenant.yaml:\n\
         #   idp-bridge auth0 migration --format login-script > {folder}/login.js\n\
         #   idp-bridge auth0 migration --format get-user-script > {folder}/get_user.js\n\
         databases:\n"
    );
    let _ = writeln!(out, "  - name: {}", q(&c.name));
    out.push_str("    strategy: auth0\n    options:\n");
    out.push_str("      enabledDatabaseCustomization: true\n      import_mode: true\n      disable_signup: true\n");
    let _ = writeln!(out, "      requires_username: {}", c.requires_username);
    out.push_str("      customScripts:\n");
    let _ = writeln!(out, "        login: {}", q(&format!("{folder}/login.js")));
    let _ = writeln!(
        out,
        "        get_user: {}",
        q(&format!("{folder}/get_user.js"))
    );
    out.push_str("      configuration:\n");
    let _ = writeln!(out, "        BRIDGE_URL: {}", q(&c.bridge_url));
    let _ = writeln!(out, "        BRIDGE_TOKEN: @@{TOKEN_VAR}@@");
    let _ = writeln!(
        out,
        "        BRIDGE_TIMEOUT_MS: {}",
        q(&c.timeout_ms.to_string())
    );
    out.push_str("    # enabled_clients: [\"My App\"]\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> Connection {
        Connection {
            name: "legacy-users".into(),
            bridge_url: "https://bridge.example.com".into(),
            timeout_ms: 10_000,
            requires_username: false,
        }
    }

    #[test]
    fn the_json_body_is_a_custom_database_in_import_mode() {
        let body: Value = serde_json::from_str(&management_json(&connection())).expect("JSON");
        assert_eq!(body["strategy"], "auth0");
        let options = &body["options"];
        assert_eq!(options["enabledDatabaseCustomization"], true);
        assert_eq!(options["import_mode"], true);
        assert_eq!(options["customScripts"]["login"], LOGIN_SCRIPT);
        assert_eq!(options["customScripts"]["get_user"], GET_USER_SCRIPT);
        assert_eq!(
            options["configuration"]["BRIDGE_URL"],
            "https://bridge.example.com"
        );
        assert_eq!(
            options["configuration"]["BRIDGE_TOKEN"],
            "${IDP_BRIDGE_MIGRATION_TOKEN}"
        );
    }

    #[test]
    fn terraform_doubles_template_markers_in_the_scripts() {
        let text = terraform(&connection());
        assert!(text.contains("enabled_database_customization = true"));
        assert!(text.contains("BRIDGE_TOKEN      = var.idp_bridge_migration_token"));
        // The scripts have no `${`, but a heredoc would read one as a template.
        assert!(!text.contains("${") || text.contains("$${"));
        assert!(text.contains("function login(userNameOrEmail, password, callback)"));
    }

    #[test]
    fn deploy_cli_keeps_database_connections_under_databases() {
        let text = deploy_cli(&connection());
        assert!(text.contains("\ndatabases:\n  - name: \"legacy-users\"\n"));
        assert!(text.contains("BRIDGE_TOKEN: @@IDP_BRIDGE_MIGRATION_TOKEN@@"));
        assert!(text.contains("login: \"./databases/legacy-users/login.js\""));
    }
}
