//! `idp-bridge auth0`, run as a binary against tests/golden/auth0/bridge.toml:
//! the output byte for byte against the golden files, the JSON's keys
//! against the names Auth0 documents, the Auth0 CLI command through a real
//! shell, the errors (exit 2), and no secret anywhere.
//!
//! To rewrite the golden files after an intended change:
//! `UPDATE_GOLDEN=1 cargo test --test e2e auth0_connection`, then review
//! `git diff tests/golden/auth0`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/auth0")
}

/// Runs `idp-bridge auth0` on the golden config with `args`, without any
/// of the config's secret variables set.
fn auth0(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("auth0")
        .arg("--config")
        .arg(golden_dir().join("bridge.toml"))
        .args(args)
        .env_remove("IDP_BRIDGE_CONFIG")
        .env_remove("GOLDEN_UNSET_OIDC_SECRET")
        .env("IDP_BRIDGE_LOG", "off")
        .output()
        .expect("runs")
}

/// The arguments the golden files of `strategy` are made with: the Token
/// Vault client, two tenant domains.
fn golden_args(strategy: &str) -> Vec<String> {
    golden_args_for("auth0-vault", strategy)
}

/// The golden files' arguments for `client`.
fn golden_args_for(client: &str, strategy: &str) -> Vec<String> {
    [
        "--client",
        client,
        "--strategy",
        strategy,
        "--tenant",
        "example-tenant.us.auth0.com",
        "--tenant",
        "login.example.com",
        "--name",
        &format!("legacy-{strategy}"),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

fn stdout_of(strategy: &str, format: &str) -> String {
    stdout_for("auth0-vault", strategy, format)
}

fn stdout_for(client: &str, strategy: &str, format: &str) -> String {
    let mut args = golden_args_for(client, strategy);
    args.extend(["--format".to_owned(), format.to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = auth0(&args);
    assert!(
        out.status.success(),
        "{client} {strategy} {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn the_output_matches_the_golden_files_byte_for_byte() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    // (client, strategy, the files' prefix): the Token Vault client with
    // each strategy, and the ES256 client with `oidc`.
    for (client, strategy, prefix) in [
        ("auth0-vault", "oidc", "oidc"),
        ("auth0-vault", "oauth2", "oauth2"),
        ("auth0-es256", "oidc", "oidc-es256"),
    ] {
        for (format, ext) in [
            ("json", "json"),
            ("auth0-cli", "sh"),
            ("terraform", "tf"),
            ("deploy-cli", "yaml"),
            ("all", "txt"),
        ] {
            let path = golden_dir().join(format!("{prefix}-{format}.{ext}"));
            let actual = stdout_for(client, strategy, format);
            if update {
                std::fs::write(&path, &actual).expect("write golden");
                continue;
            }
            let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (UPDATE_GOLDEN=1 writes the golden files)",
                    path.display()
                )
            });
            if actual != expected {
                mismatches.push(format!("{} differs; got:\n{actual}", path.display()));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}\n(if the change is intended: UPDATE_GOLDEN=1 cargo test --test e2e auth0_connection)",
        mismatches.join("\n")
    );
}

/// The keys Auth0 documents for `POST /api/v2/connections`: the common
/// connection fields (`CreateConnectionCommon`) and the options of the
/// `oidc` and `oauth2` strategies (`ConnectionOptionsOidc`,
/// `ConnectionOptionsCommonOidc`, `ConnectionOptionsOAuth2`), as the
/// Management API's OpenAPI-generated SDK lists them:
/// https://auth0.github.io/node-auth0/interfaces/management.Management.ConnectionOptionsOidc.html
/// https://auth0.github.io/node-auth0/interfaces/management.Management.ConnectionOptionsOAuth2.html
/// https://auth0.github.io/node-auth0/interfaces/management.Management.CreateConnectionCommon.html
const DOCUMENTED_TOP: &[&str] = &[
    "name",
    "strategy",
    "options",
    "display_name",
    "enabled_clients",
    "is_domain_connection",
    "metadata",
    "realms",
    "show_as_button",
    "authentication",
    "connected_accounts",
];
const DOCUMENTED_OIDC_OPTIONS: &[&str] = &[
    "attribute_map",
    "authorization_endpoint",
    "client_id",
    "client_secret",
    "connection_settings",
    "discovery_url",
    "domain_aliases",
    "federated_connections_access_tokens",
    "icon_url",
    "id_token_signed_response_algs",
    "issuer",
    "jwks_uri",
    "non_persistent_attrs",
    "oidc_metadata",
    "scope",
    "send_back_channel_nonce",
    "set_user_root_attributes",
    "tenant_domain",
    "token_endpoint",
    "token_endpoint_auth_method",
    "token_endpoint_auth_signing_alg",
    "type",
    "upstream_params",
    "userinfo_endpoint",
];
const DOCUMENTED_OAUTH2_OPTIONS: &[&str] = &[
    "authParams",
    "authParamsMap",
    "authorizationURL",
    "client_id",
    "client_secret",
    "customHeaders",
    "fieldsMap",
    "icon_url",
    "logoutUrl",
    "non_persistent_attrs",
    "pkce_enabled",
    "scope",
    "scripts",
    "set_user_root_attributes",
    "tokenURL",
    "upstream_params",
    "useOauthSpecScope",
];

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

fn undocumented(value: &Value, documented: &[&str]) -> Vec<String> {
    keys(value)
        .into_iter()
        .filter(|k| !documented.contains(&k.as_str()))
        .collect()
}

#[test]
fn the_json_uses_only_names_auth0_documents_and_is_complete() {
    let oidc: Value = serde_json::from_str(&stdout_of("oidc", "json")).expect("oidc JSON");
    assert_eq!(undocumented(&oidc, DOCUMENTED_TOP), Vec::<String>::new());
    let options = &oidc["options"];
    assert_eq!(
        undocumented(options, DOCUMENTED_OIDC_OPTIONS),
        Vec::<String>::new()
    );
    assert_eq!(oidc["strategy"], "oidc");
    assert_eq!(options["type"], "back_channel");
    assert_eq!(
        options["discovery_url"],
        "https://bridge.example.com/.well-known/openid-configuration"
    );
    assert_eq!(options["issuer"], "https://bridge.example.com");
    assert_eq!(options["jwks_uri"], "https://bridge.example.com/jwks");
    assert_eq!(options["client_id"], "auth0-vault");
    assert_eq!(options["client_secret"], "${IDP_BRIDGE_CLIENT_SECRET}");
    assert_eq!(options["scope"], "openid profile email offline_access");
    assert_eq!(options["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(options["connection_settings"]["pkce"], "S256");
    // Token Vault is opt-in (`--token-vault`), though this client has
    // offline_access.
    assert!(options.get("federated_connections_access_tokens").is_none());
    assert!(oidc.get("connected_accounts").is_none());
    assert_eq!(
        keys(&options["connection_settings"]),
        BTreeSet::from(["pkce".to_owned()])
    );

    let oauth2: Value = serde_json::from_str(&stdout_of("oauth2", "json")).expect("oauth2 JSON");
    assert_eq!(undocumented(&oauth2, DOCUMENTED_TOP), Vec::<String>::new());
    let options = &oauth2["options"];
    assert_eq!(
        undocumented(options, DOCUMENTED_OAUTH2_OPTIONS),
        Vec::<String>::new()
    );
    assert_eq!(
        options["authorizationURL"],
        "https://bridge.example.com/authorize"
    );
    assert_eq!(options["tokenURL"], "https://bridge.example.com/token");
    assert_eq!(options["pkce_enabled"], true);
    assert!(oauth2.get("connected_accounts").is_none());
    assert!(options.get("customHeaders").is_none());
    let script = options["scripts"]["fetchUserProfile"]
        .as_str()
        .expect("a script");
    assert_eq!(
        keys(&options["scripts"]),
        BTreeSet::from(["fetchUserProfile".to_owned()])
    );
    for part in [
        "function fetchUserProfile(accessToken, context, callback)",
        "url: \"https://bridge.example.com/userinfo\"",
        "Authorization: \"Bearer \" + accessToken",
        "user_id: profile.sub",
        "callback(new Error(",
    ] {
        assert!(script.contains(part), "{part} missing from:\n{script}");
    }
}

/// Runs the golden Token Vault client (`offline_access`) with `extra`.
fn vault_client(strategy: &str, format: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "--client",
        "auth0-vault",
        "--strategy",
        strategy,
        "--tenant",
        "example-tenant.us.auth0.com",
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    let out = auth0(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn token_vault_is_off_unless_asked_even_for_a_client_with_offline_access() {
    for strategy in ["oidc", "oauth2"] {
        let out = vault_client(strategy, "json", &[]);
        let body: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(
            body.get("connected_accounts").is_none(),
            "{strategy}: {body}"
        );
        assert!(
            body.pointer("/options/federated_connections_access_tokens")
                .is_none(),
            "{strategy}: {body}"
        );
        assert_eq!(
            body["options"]["scope"],
            "openid profile email offline_access"
        );
        // Not silent either way: the operator hears how to turn it on.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("Token Vault stays off") && stderr.contains("--token-vault"),
            "{stderr}"
        );
    }
}

#[test]
fn token_vault_when_asked_sits_in_connected_accounts_for_both_strategies_with_its_effect_on_stderr()
{
    for strategy in ["oidc", "oauth2"] {
        let out = vault_client(strategy, "json", &["--token-vault"]);
        let body: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(body["connected_accounts"]["active"], true, "{strategy}");
        assert_eq!(
            keys(&body["connected_accounts"]),
            BTreeSet::from(["active".to_owned()])
        );
        assert!(
            body.pointer("/options/federated_connections_access_tokens")
                .is_none(),
            "{strategy}: {body}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("connected_accounts.active = true")
                && stderr.contains("NOT in the user's identities array"),
            "{stderr}"
        );

        // Terraform: the resource's `connected_accounts` block, not inside `options`.
        let tf = vault_client(strategy, "terraform", &["--token-vault"]);
        let tf = String::from_utf8(tf.stdout).expect("utf-8");
        assert!(
            tf.contains("\n  connected_accounts {\n    active = true\n  }\n"),
            "{tf}"
        );
        assert!(!tf.contains("federated_connections_access_tokens"), "{tf}");
        let yaml = vault_client(strategy, "deploy-cli", &["--token-vault"]);
        let yaml = String::from_utf8(yaml.stdout).expect("utf-8");
        assert!(
            yaml.contains("\n    connected_accounts:\n      active: true\n"),
            "{yaml}"
        );
    }
    // Asked for a client Token Vault cannot renew: said so.
    let out = auth0(&[
        "--client",
        "auth0-oidc",
        "--strategy",
        "oidc",
        "--tenant",
        "example-tenant.us.auth0.com",
        "--format",
        "json",
        "--token-vault",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no offline_access"), "{stderr}");
}

#[test]
fn the_auth0_cli_command_sends_the_json_through_a_real_shell() {
    // A stand-in `auth0` on PATH writes the arguments it gets, one per line
    // (NUL-free, so the JSON comes back exactly as the shell passed it).
    let (dir, record) = fake_auth0();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for strategy in ["oidc", "oauth2"] {
        let script = stdout_of(strategy, "auth0-cli");
        // A plain secret; quotes and backslashes are
        // `a_secret_and_a_client_id_with_quotes_and_backslashes_…`'s.
        let secret = "s3cr3t-with.dots_and~tilde";
        let ran = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", &path)
            .env("IDP_BRIDGE_CLIENT_SECRET", secret)
            .output()
            .expect("sh runs");
        assert!(
            ran.status.success(),
            "{}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let args = std::fs::read_to_string(&record).expect("the fake auth0 ran");
        let args: Vec<&str> = args.lines().collect();
        assert_eq!(
            &args[..4],
            ["api", "post", "connections", "--data"],
            "{args:?}"
        );
        let sent: Value = serde_json::from_str(args[4]).expect("--data is JSON");
        let mut expected: Value = serde_json::from_str(&stdout_of(strategy, "json")).expect("JSON");
        expected["options"]["client_secret"] = Value::String(secret.to_owned());
        assert_eq!(sent, expected, "{strategy}");

        // Without the variable the command stops before calling Auth0.
        std::fs::remove_file(&record).expect("rm");
        let unset = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", &path)
            .env_remove("IDP_BRIDGE_CLIENT_SECRET")
            .output()
            .expect("sh runs");
        assert!(!unset.status.success());
        assert!(String::from_utf8_lossy(&unset.stderr).contains("IDP_BRIDGE_CLIENT_SECRET"));
        assert!(!record.exists(), "auth0 must not run without the secret");
    }
}

#[test]
fn an_unregistered_callback_url_is_warned_about_and_listed() {
    let out = auth0(&[
        "--client",
        "auth0-oidc",
        "--strategy",
        "oidc",
        "--tenant",
        "example-tenant.us.auth0.com",
        "--tenant",
        "login.example.com",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("https://example-tenant.us.auth0.com/login/callback  registered"),
        "{stdout}"
    );
    assert!(
        stdout.contains("https://login.example.com/login/callback  NOT registered"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "warning: https://login.example.com/login/callback is not in the redirect_uris of client `auth0-oidc`"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("example-tenant.us.auth0.com/login/callback is not"));
}

#[test]
fn mistakes_get_a_clear_message_and_exit_code_2() {
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "--client",
                "nobody",
                "--strategy",
                "oidc",
                "--tenant",
                "a.auth0.com",
            ],
            "has no client `nobody` (its clients: auth0-oidc, auth0-vault, auth0-es256, basic-only)",
        ),
        (
            &["--client", "auth0-oidc", "--strategy", "oidc"],
            "--tenant",
        ),
        (
            &[
                "--client",
                "auth0-oidc",
                "--strategy",
                "oidc",
                "--tenant",
                "https://a.auth0.com/",
            ],
            "give the tenant's domain only",
        ),
        (
            &[
                "--client",
                "basic-only",
                "--strategy",
                "oauth2",
                "--tenant",
                "a.auth0.com",
            ],
            "does not allow client_secret_post",
        ),
        (
            &[
                "--client",
                "auth0-oidc",
                "--strategy",
                "saml",
                "--tenant",
                "a.auth0.com",
            ],
            "invalid value 'saml'",
        ),
    ];
    for (args, message) in cases {
        let out = auth0(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn no_secret_appears_in_any_output() {
    let literal = "literal-secret-that-must-never-be-printed";
    for strategy in ["oidc", "oauth2"] {
        let mut args = golden_args(strategy);
        args.extend(["--format".to_owned(), "all".to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = Command::new(BIN)
            .arg("auth0")
            .args(&args)
            .env("IDP_BRIDGE_CONFIG", golden_dir().join("bridge.toml"))
            .env(
                "GOLDEN_UNSET_OIDC_SECRET",
                "an-environment-secret-0123456789",
            )
            .output()
            .expect("runs");
        assert!(out.status.success());
        for stream in [&out.stdout, &out.stderr] {
            let text = String::from_utf8_lossy(stream);
            assert!(!text.contains(literal), "{text}");
            assert!(!text.contains("an-environment-secret"), "{text}");
        }
    }
}

/// The `auth0_connection` attributes the Terraform output may use, as
/// terraform-provider-auth0 declares them (`internal/auth0/connection/schema.go`,
/// commit a00b69214a6c, 2026-08): the resource's, `options`' and the
/// nested blocks'.
const PROVIDER_ATTRIBUTES: &[&str] = &[
    // resource
    "name",
    "strategy",
    "options",
    "connected_accounts",
    "active",
    // options
    "type",
    "discovery_url",
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "client_id",
    "client_secret",
    "scopes",
    "token_endpoint_auth_method",
    "id_token_signed_response_algs",
    "connection_settings",
    "pkce",
    "attribute_map",
    "mapping_mode",
    "federated_connections_access_tokens",
    "pkce_enabled",
    "scripts",
    // the variable block
    "description",
    "sensitive",
];

#[test]
fn the_terraform_uses_only_the_providers_attribute_names() {
    for strategy in ["oidc", "oauth2"] {
        let tf = stdout_of(strategy, "terraform");
        // The `terraform { required_providers … }` block comes first; its
        // own test checks it.
        let tf = &tf[tf.find("\nvariable ").expect("a variable block")..];
        let mut in_heredoc = false;
        for line in tf.lines() {
            let line = line.trim();
            if in_heredoc {
                in_heredoc = line != "EOT";
                continue;
            }
            in_heredoc = line.ends_with("<<-EOT");
            if line.starts_with('#')
                || line.starts_with("resource ")
                || line.starts_with("variable ")
            {
                continue;
            }
            let name = line.split([' ', '=']).next().unwrap_or_default().trim();
            if name.is_empty() || name == "}" || name == "fetchUserProfile" {
                continue;
            }
            assert!(
                PROVIDER_ATTRIBUTES.contains(&name),
                "{strategy}: `{name}` is not an auth0_connection attribute ({line})"
            );
        }
        assert!(tf.contains("client_secret") && tf.contains("= var.idp_bridge_client_secret"));
    }
}

/// A config file in a temporary directory: one client `client_id` (which
/// allows `client_secret_post`) and `issuer`.
fn temp_config(issuer: &str, client_id: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    let text = format!(
        "issuer = {}\n\n[[clients]]\nid = {}\nsecret = {{ env = \"GOLDEN_UNSET_OIDC_SECRET\" }}\nredirect_uris = [\"https://example-tenant.us.auth0.com/login/callback\"]\nscopes = [\"openid\", \"profile\", \"email\"]\n",
        Value::String(issuer.to_owned()),
        Value::String(client_id.to_owned()),
    );
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

/// Runs `idp-bridge auth0` on `config` for its client `client_id`.
fn auth0_on(config: &Path, client_id: &str, strategy: &str, format: &str) -> Output {
    Command::new(BIN)
        .arg("auth0")
        .arg("--config")
        .arg(config)
        .args([
            "--client",
            client_id,
            "--strategy",
            strategy,
            "--tenant",
            "example-tenant.us.auth0.com",
            "--format",
            format,
        ])
        .env_remove("IDP_BRIDGE_CONFIG")
        .env("IDP_BRIDGE_LOG", "off")
        .output()
        .expect("runs")
}

/// The value of the first `key: VALUE` / `key = VALUE` line, where VALUE
/// is a double-quoted string with JSON's escapes (a YAML double-quoted
/// scalar, an HCL string without templates), decoded.
fn quoted_value(text: &str, key: &str, separator: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| {
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(separator))
        })
        .unwrap_or_else(|| panic!("no `{key}` in:\n{text}"));
    let value = line[key.len()..]
        .trim_start()
        .strip_prefix(separator)
        .expect("separator")
        .trim();
    serde_json::from_str(value).unwrap_or_else(|e| panic!("{key}: `{value}` is not a string: {e}"))
}

#[test]
fn a_secret_and_a_client_id_with_quotes_and_backslashes_arrive_intact_in_every_format() {
    // What a hand-made secret may hold: both JSON specials, a shell's too.
    let secret = r#"q"uo\te\\d'$HOME`x`\u0041"#;
    let client_id = r#"leg"acy\client"#;
    let (_dir, config) = temp_config("https://bridge.example.com/", client_id);
    let (fake_dir, record) = fake_auth0();
    let path = format!(
        "{}:{}",
        fake_dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    assert!(
        Command::new("sh")
            .args(["-c", "command -v jq"])
            .output()
            .is_ok_and(|o| o.status.success()),
        "these tests need jq on PATH, as the printed command and docs/auth0.md do"
    );
    for strategy in ["oidc", "oauth2"] {
        let run = |format: &str| {
            let out = auth0_on(&config, client_id, strategy, format);
            assert!(
                out.status.success(),
                "{strategy} {format}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).expect("utf-8")
        };

        // JSON: the client id as given; the secret through the jq line
        // docs/auth0.md gives (a serializer, not envsubst).
        let json = run("json");
        let body: Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(body["options"]["client_id"], client_id, "{strategy}");
        let docs =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/auth0.md"))
                .expect("docs/auth0.md");
        let jq = "jq --arg secret \"$IDP_BRIDGE_CLIENT_SECRET\" '.options.client_secret = $secret'";
        assert!(docs.contains(jq), "docs/auth0.md must give: {jq}");
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("connection.json");
        std::fs::write(&file, &json).expect("write");
        let spliced = Command::new("sh")
            .arg("-c")
            .arg(format!("{jq} \"$1\""))
            .arg("sh")
            .arg(&file)
            .env("IDP_BRIDGE_CLIENT_SECRET", secret)
            .output()
            .expect("sh runs");
        assert!(
            spliced.status.success(),
            "{}",
            String::from_utf8_lossy(&spliced.stderr)
        );
        let spliced: Value = serde_json::from_slice(&spliced.stdout).expect("JSON");
        assert_eq!(spliced["options"]["client_secret"], secret, "{strategy}");

        // Auth0 CLI: run by a real shell; `auth0` gets JSON holding both.
        let script = run("auth0-cli");
        let ran = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", &path)
            .env("IDP_BRIDGE_CLIENT_SECRET", secret)
            .output()
            .expect("sh runs");
        assert!(
            ran.status.success(),
            "{}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let args = std::fs::read_to_string(&record).expect("the fake auth0 ran");
        let data = args.lines().nth(4).expect("--data's value");
        let sent: Value = serde_json::from_str(data)
            .unwrap_or_else(|e| panic!("{strategy}: --data is not JSON ({e}): {data}"));
        assert_eq!(sent["options"]["client_secret"], secret, "{strategy}");
        assert_eq!(sent["options"]["client_id"], client_id, "{strategy}");
        std::fs::remove_file(&record).expect("rm");

        // Terraform: the secret only as a variable, the client id an HCL
        // string (for `"` and `\` HCL's escapes are JSON's).
        let tf = run("terraform");
        assert!(tf.contains("client_secret") && tf.contains("= var.idp_bridge_client_secret\n"));
        assert_eq!(quoted_value(&tf, "client_id", "="), client_id, "{strategy}");

        // Deploy CLI: `@@KEY@@` is replaced by JSON.stringify(value)
        // (Auth0 docs, "Keyword Replacement"), which is a YAML double-quoted
        // scalar; `##KEY##` would be a literal splice into the quotes.
        let yaml = run("deploy-cli");
        let placeholder = "@@IDP_BRIDGE_CLIENT_SECRET@@";
        assert!(
            yaml.contains(&format!("client_secret: {placeholder}\n")),
            "{yaml}"
        );
        let replaced = yaml.replace(placeholder, &Value::String(secret.to_owned()).to_string());
        assert_eq!(
            quoted_value(&replaced, "client_secret", ":"),
            secret,
            "{strategy}"
        );
        assert_eq!(
            quoted_value(&replaced, "client_id", ":"),
            client_id,
            "{strategy}"
        );
    }
}

/// A stand-in `auth0` that writes its arguments, one per line, to the
/// returned file.
fn fake_auth0() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let record = dir.path().join("args");
    let fake = dir.path().join("auth0");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{}'\n",
            record.display()
        ),
    )
    .expect("write fake auth0");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    (dir, record)
}

#[test]
fn the_terraform_pins_the_provider_version_its_fields_need() {
    for strategy in ["oidc", "oauth2"] {
        let tf = stdout_of(strategy, "terraform");
        assert!(
            tf.starts_with(
                "terraform {\n  required_providers {\n    auth0 = {\n      source  = \"auth0/auth0\"\n      version = \">= 1.47\"\n    }\n  }\n}\n"
            ),
            "{tf}"
        );
    }
}

#[test]
fn an_issuer_auth0_cloud_cannot_reach_is_warned_about() {
    for issuer in [
        "http://bridge.example.com",
        "https://localhost:8443",
        "https://login.localhost",
        "https://127.0.0.1",
        "https://10.1.2.3",
        "https://172.16.0.9",
        "https://192.168.0.10",
        "https://169.254.1.1",
        "https://[::1]:8443",
        "https://[fd00::1]",
    ] {
        let (_dir, config) = temp_config(issuer, "auth0-oidc");
        let out = auth0_on(&config, "auth0-oidc", "oidc", "json");
        assert!(out.status.success(), "{issuer}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("warning: issuer") && stderr.contains("Auth0's cloud cannot reach"),
            "{issuer}: {stderr}"
        );
    }
    let (_dir, config) = temp_config("https://bridge.example.com", "auth0-oidc");
    let out = auth0_on(&config, "auth0-oidc", "oidc", "json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning: issuer"), "{stderr}");
}

/// The one line of `text` that names `id_token_signed_response_algs`.
fn algs_line(text: &str) -> &str {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("id_token_signed_response_algs"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    lines[0].trim()
}

#[test]
fn an_es256_client_gets_an_oidc_connection_accepting_es256_in_every_format() {
    let json: Value =
        serde_json::from_str(&stdout_for("auth0-es256", "oidc", "json")).expect("JSON");
    assert_eq!(
        json["options"]["id_token_signed_response_algs"],
        serde_json::json!(["ES256"])
    );
    assert!(
        stdout_for("auth0-es256", "oidc", "auth0-cli")
            .contains(r#""id_token_signed_response_algs":["ES256"]"#)
    );
    assert_eq!(
        algs_line(&stdout_for("auth0-es256", "oidc", "terraform")),
        r#"id_token_signed_response_algs = ["ES256"]"#
    );
    assert_eq!(
        algs_line(&stdout_for("auth0-es256", "oidc", "deploy-cli")),
        r#"id_token_signed_response_algs: ["ES256"]"#
    );
    let all = stdout_for("auth0-es256", "oidc", "all");
    assert!(!all.contains("RS256"), "{all}");
    assert_eq!(all.matches("ES256").count(), 4, "{all}");
    // The RS256 client's connection accepts RS256 only.
    for format in ["json", "auth0-cli", "terraform", "deploy-cli"] {
        let out = stdout_of("oidc", format);
        assert!(out.contains("RS256") && !out.contains("ES256"), "{out}");
    }
}

#[test]
fn an_oauth2_connection_has_no_id_token_algorithm_and_says_so_for_es256() {
    let out = auth0(&[
        "--client",
        "auth0-es256",
        "--strategy",
        "oauth2",
        "--tenant",
        "example-tenant.us.auth0.com",
        "--format",
        "json",
    ]);
    assert!(out.status.success());
    let body: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let text = body.to_string();
    assert!(
        !text.contains("ES256") && !text.contains("signed_response"),
        "{text}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("takes ES256 ID tokens")
            && stderr.contains("an oauth2 connection has no ID token algorithm"),
        "{stderr}"
    );
    // An RS256 client hears nothing of it.
    let out = vault_client("oauth2", "json", &[]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("ID token algorithm"));
}

#[test]
fn an_algorithm_the_bridge_does_not_sign_with_is_refused_not_printed() {
    let (dir, path) = temp_config("https://bridge.example.com", "legacy");
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("id_token_signed_response_alg = \"HS256\"\n");
    std::fs::write(&path, text).expect("write");
    for strategy in ["oidc", "oauth2"] {
        let out = auth0_on(&path, "legacy", strategy, "all");
        assert_eq!(out.status.code(), Some(2), "{strategy}");
        assert!(out.stdout.is_empty(), "{strategy}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("id_token_signed_response_alg `HS256`")
                && stderr.contains("RS256 or ES256"),
            "{stderr}"
        );
    }
    drop(dir);
}
