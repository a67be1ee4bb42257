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
    [
        "--client",
        "auth0-vault",
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
    let mut args = golden_args(strategy);
    args.extend(["--format".to_owned(), format.to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = auth0(&args);
    assert!(
        out.status.success(),
        "{strategy} {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn the_output_matches_the_golden_files_byte_for_byte() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for strategy in ["oidc", "oauth2"] {
        for (format, ext) in [
            ("json", "json"),
            ("auth0-cli", "sh"),
            ("terraform", "tf"),
            ("deploy-cli", "yaml"),
            ("all", "txt"),
        ] {
            let path = golden_dir().join(format!("{strategy}-{format}.{ext}"));
            let actual = stdout_of(strategy, format);
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
    assert_eq!(
        options["federated_connections_access_tokens"]["active"],
        true
    );
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
    assert_eq!(oauth2["connected_accounts"]["active"], true);
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

#[test]
fn token_vault_settings_appear_only_for_a_client_with_refresh() {
    for (strategy, path) in [
        ("oidc", "/options/federated_connections_access_tokens"),
        ("oauth2", "/connected_accounts"),
    ] {
        let out = auth0(&[
            "--client",
            "auth0-oidc",
            "--strategy",
            strategy,
            "--tenant",
            "example-tenant.us.auth0.com",
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert!(body.pointer(path).is_none(), "{strategy}: {body}");
        assert_eq!(body["options"]["scope"], "openid profile email");
    }
}

#[test]
fn the_auth0_cli_command_sends_the_json_through_a_real_shell() {
    // A stand-in `auth0` on PATH writes the arguments it gets, one per line
    // (NUL-free, so the JSON comes back exactly as the shell passed it).
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
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for strategy in ["oidc", "oauth2"] {
        let script = stdout_of(strategy, "auth0-cli");
        // A secret with characters a shell or JSON would trip on... that a
        // generated secret does not have, but an operator's might.
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
            "has no client `nobody` (its clients: auth0-oidc, auth0-vault, basic-only)",
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
