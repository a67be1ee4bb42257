//! `idp-bridge auth0`: prints the Auth0 connection for one configured client
//! — the Management API body, the Auth0 CLI command, Terraform and Deploy
//! CLI YAML (the renderers are in `render`) — and the callback URLs the
//! client must register for each tenant domain.
//!
//! It reads only `issuer` and `[[clients]]` from the config file and never
//! resolves a secret: the client secret appears only as a placeholder
//! (`${IDP_BRIDGE_CLIENT_SECRET}`, `var.idp_bridge_client_secret`,
//! `@@IDP_BRIDGE_CLIENT_SECRET@@`), so the command runs where the secrets
//! are not, and it is filled in by a serializer (jq, Terraform, the Deploy
//! CLI's `@@` keywords), never spliced into JSON text.
//!
//! It never turns Auth0 features on by inference: Token Vault only with
//! `--token-vault`, and what it changes is said on stderr.

mod event_stream;
mod migration;
mod render;
mod syntax;

pub use migration::{MigrationArgs, MigrationFormat, migration_output};
pub mod token_exchange;

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Deserialize;

use crate::domain::config::{ClientConfig, SigningAlg, load_raw, process_env};
use crate::domain::types::RedirectUri;
use syntax::{check_name, unreachable_issuer};

/// The Auth0 connection strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// An enterprise OpenID Connect connection (back channel).
    Oidc,
    /// A custom social connection (OAuth 2.0 with a `fetchUserProfile` script).
    Oauth2,
}

/// What to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The Management API body for `POST /api/v2/connections`.
    Json,
    /// An `auth0 api post connections` command (the Auth0 CLI).
    Auth0Cli,
    /// An `auth0_connection` resource (terraform-provider-auth0).
    Terraform,
    /// A `connections:` entry for auth0-deploy-cli's tenant.yaml.
    DeployCli,
    /// The Event Stream that revokes users at the bridge (`[auth0_events]`):
    /// the Management API body and the Auth0 CLI command.
    EventStream,
    /// Every format, each under a heading, and the callback URLs (and the
    /// Event Stream when `[auth0_events]` is configured).
    All,
}

/// What `auth0` is told: the federation connection for a client, or a
/// printer of its own (`auth0 migration`).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Auth0Args {
    /// Another Auth0 artefact than the federation connection.
    #[command(subcommand)]
    pub printer: Option<Auth0Printer>,
    /// The config file.
    #[arg(long, env = "IDP_BRIDGE_CONFIG", required = true)]
    pub config: Option<PathBuf>,
    /// The `[[clients]]` id the connection authenticates as.
    #[arg(long, required = true)]
    pub client: Option<String>,
    /// `oidc` (enterprise, back channel) or `oauth2` (custom social).
    #[arg(long, value_enum, required = true)]
    pub strategy: Option<Strategy>,
    /// The Auth0 tenant's domain (`acme.eu.auth0.com`, or a custom domain);
    /// repeat for each domain Auth0 may call back on.
    #[arg(long = "tenant", required = true, value_name = "DOMAIN")]
    pub tenants: Vec<String>,
    /// The connection's name in Auth0 (users become `oidc|NAME|…`).
    #[arg(long, default_value = "legacy-idp")]
    pub name: String,
    /// What to print.
    #[arg(long, value_enum, default_value = "all")]
    pub format: Format,
    /// Turn on Connected Accounts for Token Vault on the connection. Off
    /// by default: once on, Auth0 keeps the connection's tokens in Token
    /// Vault and no longer in the user's `identities` array (what changes
    /// is printed on stderr).
    #[arg(long)]
    pub token_vault: bool,
}

/// The printers besides the federation connection.
#[derive(Debug, clap::Subcommand)]
pub enum Auth0Printer {
    /// The custom database connection in import mode whose scripts call
    /// the bridge's `[migration]` endpoints (lazy migration): Management
    /// API JSON, Terraform, Deploy CLI YAML, or either script alone.
    Migration(MigrationArgs),
    /// The Custom Token Exchange Action (trigger `custom-token-exchange`)
    /// that asks the bridge whether a legacy token is live, and its Token
    /// Exchange Profile (Management API JSON or Terraform).
    TokenExchange(token_exchange::TokenExchangeArgs),
}

/// The part of the config file this command reads. Unknown keys are
/// allowed (the rest of the file), and no secret is resolved.
#[derive(Debug, Deserialize)]
struct ConnectionSource {
    issuer: url::Url,
    #[serde(default)]
    clients: Vec<ClientConfig>,
    auth0_events: Option<event_stream::EventsSource>,
}

/// Everything the renderers need, checked.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    /// The connection's name in Auth0.
    pub name: String,
    /// Its strategy.
    pub strategy: Strategy,
    /// The bridge's issuer, without a trailing slash.
    pub issuer: String,
    /// The bridge client id.
    pub client_id: String,
    /// The scopes Auth0 asks for: the client's, in its order.
    pub scopes: Vec<String>,
    /// The algorithm the bridge signs the client's ID tokens with: what an
    /// `oidc` connection must accept (`id_token_signed_response_algs`).
    pub id_token_alg: SigningAlg,
    /// Whether the connection turns on Connected Accounts for Token Vault:
    /// only when the operator asked (`--token-vault`), never inferred.
    pub token_vault: bool,
}

/// The environment variable (and placeholder) naming the client secret.
pub(crate) const SECRET_VAR: &str = "IDP_BRIDGE_CLIENT_SECRET";

/// Prints the connection; `Err` is a message for the operator (exit 2).
pub fn run(args: &Auth0Args) -> Result<ExitCode, String> {
    match &args.printer {
        Some(Auth0Printer::Migration(migration)) => migration::run(migration),
        Some(Auth0Printer::TokenExchange(exchange)) => token_exchange::run(exchange),
        None => federation(args),
    }
}

/// The federation connection for a client.
fn federation(args: &Auth0Args) -> Result<ExitCode, String> {
    // clap requires these without a printer.
    let (Some(config), Some(wanted), Some(strategy)) = (&args.config, &args.client, args.strategy)
    else {
        return Err("auth0: give --config, --client, --strategy and --tenant".into());
    };
    let source: ConnectionSource =
        load_raw(Some(config), &process_env()).map_err(|e| e.to_string())?;
    let client = source
        .clients
        .iter()
        .find(|c| c.id == *wanted)
        .ok_or_else(|| {
            let known: Vec<&str> = source.clients.iter().map(|c| c.id.as_str()).collect();
            format!(
                "auth0: {} has no client `{}` (its clients: {})",
                config.display(),
                wanted,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })?;
    check_name(&args.name)?;
    let tenants = args
        .tenants
        .iter()
        .map(|t| check_tenant(t))
        .collect::<Result<Vec<_>, _>>()?;
    if !client
        .token_endpoint_auth_methods
        .iter()
        .any(|m| m == "client_secret_post")
    {
        return Err(format!(
            "auth0: client `{}` does not allow client_secret_post, which Auth0 uses at the token endpoint; add it to its token_endpoint_auth_methods",
            client.id
        ));
    }
    let id_token_alg = id_token_alg(client, strategy)?;
    let offline_access = client.scopes.iter().any(|s| s == "offline_access");
    let token_vault = args.token_vault;
    let connection = Connection {
        name: args.name.clone(),
        strategy,
        issuer: source.issuer.as_str().trim_end_matches('/').to_owned(),
        client_id: client.id.to_string(),
        scopes: client.scopes.clone(),
        id_token_alg,
        token_vault,
    };
    if let Some(reason) = unreachable_issuer(&source.issuer) {
        eprintln!(
            "warning: issuer {} {reason}: Auth0's cloud cannot reach it, so logins through this connection will fail; use the bridge's public https:// address",
            connection.issuer
        );
    }
    let callbacks = callbacks(&tenants, &client.redirect_uris);
    // Warnings go to stderr so a single format's output stays usable as is.
    for (url, registered) in &callbacks {
        if !registered {
            eprintln!(
                "warning: {url} is not in the redirect_uris of client `{}`; logins through this tenant domain will be refused until it is added",
                client.id
            );
        }
    }
    for note in token_vault_notes(
        client.id.as_str(),
        token_vault,
        offline_access,
        client.refresh_tokens.rotation,
    ) {
        eprintln!("{note}");
    }
    let issuer = connection.issuer.clone();
    if args.format == Format::EventStream {
        let events = source.auth0_events.as_ref().ok_or_else(|| {
            format!(
                "auth0: {} has no [auth0_events] section; the Event Stream needs its credential",
                config.display()
            )
        })?;
        print!("{}", event_stream::output(&issuer, &args.name, events));
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render::output(&connection, args.format, &callbacks));
    if let (Format::All, Some(events)) = (args.format, &source.auth0_events) {
        print!("\n{}", event_stream::output(&issuer, &args.name, events));
    }
    if args.format != Format::All {
        for (url, registered) in &callbacks {
            let state = if *registered {
                "registered"
            } else {
                "NOT registered"
            };
            eprintln!("callback URL: {url} ({state})");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `--token-vault` (or its absence) means for this client, for
/// stderr: Token Vault is never switched on silently, and never off
/// silently for a client that could use it.
///
/// Auth0, "Call an External IdP API": with Token Vault enabled for a
/// connection, its access and refresh tokens are no longer stored in the
/// user's `identities` array but in Token Vault. Auth0, "Connected Accounts
/// for Token Vault": the purpose is set per connection, social or
/// enterprise, as `connected_accounts`.
fn token_vault_notes(
    client: &str,
    token_vault: bool,
    offline_access: bool,
    rotation: bool,
) -> Vec<String> {
    let mut notes = Vec::new();
    if !token_vault {
        if offline_access {
            notes.push(format!(
                "note: Token Vault stays off (client `{client}` has offline_access; --token-vault turns it on). Apps read the legacy token from the user's identities[].access_token (docs/auth0.md)."
            ));
        }
        return notes;
    }
    notes.push(
        "note: --token-vault sets connected_accounts.active = true: Auth0 then stores this connection's access and refresh tokens in Token Vault, NOT in the user's identities array, so an app reading identities[].access_token gets nothing and must use a Token Vault token exchange instead (Auth0: \"Call an External IdP API\", \"Configure Token Vault\")."
            .to_owned(),
    );
    if !offline_access {
        notes.push(format!(
            "warning: client `{client}` has no offline_access: Token Vault gets no refresh token and cannot renew the legacy token when it expires"
        ));
    } else if rotation {
        // Not an Auth0 requirement (its rotation advice is about Auth0's own
        // refresh tokens): a rotating bridge revokes the whole grant if a
        // spent refresh token comes back after the grace period, and Auth0
        // does not document how Token Vault stores a rotated one.
        notes.push(format!(
            "note: client `{client}` rotates refresh tokens; if Token Vault ever resends a spent one after reuse_grace_seconds, the bridge ends the grant. refresh_tokens.rotation = false avoids that (docs/tokens.md)."
        ));
    }
    notes
}

/// The algorithm the bridge signs `client`'s ID tokens with, as `serve`
/// reads it (`SigningAlg::parse`): a name it would refuse is refused here
/// too, rather than printed into a connection that could never log in.
///
/// An `oauth2` (custom social) connection has no ID token algorithm to set:
/// Auth0 documents none among its options (`ConnectionOptionsOAuth2`), and
/// the profile comes from the bridge's `/userinfo` through the
/// `fetchUserProfile` script, so only a note says that ES256 changes
/// nothing there.
fn id_token_alg(client: &ClientConfig, strategy: Strategy) -> Result<SigningAlg, String> {
    let name = &client.id_token_signed_response_alg;
    let alg = SigningAlg::parse(name).ok_or_else(|| {
        format!(
            "auth0: client `{}` has id_token_signed_response_alg `{name}`, which the bridge does not sign with (RS256 or ES256)",
            client.id
        )
    })?;
    if strategy == Strategy::Oauth2 && alg != SigningAlg::RS256 {
        eprintln!(
            "note: client `{}` takes {} ID tokens; an oauth2 connection has no ID token algorithm to set (Auth0 reads the profile from the bridge's /userinfo through fetchUserProfile), so the output is the same as for RS256. An oidc connection checks the ID token: --strategy oidc prints id_token_signed_response_algs [\"{}\"].",
            client.id,
            alg.as_str(),
            alg.as_str()
        );
    }
    Ok(alg)
}

/// A tenant domain, as the host of its callback URL: a bare host name.
fn check_tenant(tenant: &str) -> Result<String, String> {
    let parsed = url::Url::parse(&format!("https://{tenant}/")).ok();
    let host = parsed
        .as_ref()
        .filter(|u| u.port().is_none() && u.path() == "/" && u.username().is_empty())
        .and_then(|u| u.host_str().map(str::to_owned));
    match host {
        Some(host) if host == tenant.to_ascii_lowercase() && host.contains('.') => Ok(host),
        _ => Err(format!(
            "auth0: --tenant `{tenant}`: give the tenant's domain only, like acme.eu.auth0.com or login.example.com"
        )),
    }
}

/// Each tenant's callback URL and whether the client registers it.
fn callbacks(tenants: &[String], redirect_uris: &[RedirectUri]) -> Vec<(String, bool)> {
    tenants
        .iter()
        .map(|t| {
            let url = format!("https://{t}/login/callback");
            let registered = redirect_uris.iter().any(|r| *r == url);
            (url, registered)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_domains_are_bare_hosts() {
        assert_eq!(
            check_tenant("acme.eu.auth0.com").as_deref(),
            Ok("acme.eu.auth0.com")
        );
        for bad in [
            "https://acme.auth0.com",
            "acme.auth0.com/",
            "acme.auth0.com:443",
            "acme",
            "a b.com",
            "",
        ] {
            assert!(check_tenant(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn connection_names_follow_auth0s_rule() {
        assert!(check_name("legacy-idp").is_ok());
        for bad in ["", "-a", "a-", "a_b", "a b", &"a".repeat(129)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
