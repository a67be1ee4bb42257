//! `idp-bridge auth0 token-exchange` as an operator runs it: the two
//! Management API bodies, Terraform, and the mistakes it refuses.

use std::process::Command;

use serde_json::Value;

use super::{CTE, lt1_bridge};

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

fn printer(config: &std::path::Path, extra: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(["auth0", "token-exchange", "--config"])
        .arg(config)
        .args(extra)
        .output()
        .expect("runs")
}

#[tokio::test]
async fn the_printer_gives_the_action_and_profile_auth0_documents() {
    let app = lt1_bridge().await;
    let out = printer(
        &app.config_path(),
        &[
            "--client",
            CTE,
            "--subject-token-type",
            "urn:acme:legacy-token",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("json");
    let action = &body["action"];
    assert_eq!(
        action["supported_triggers"][0]["id"],
        "custom-token-exchange"
    );
    assert_eq!(action["supported_triggers"][0]["version"], "v1");
    assert_eq!(action["runtime"], "node22");
    assert_eq!(action["secrets"][0]["value"], CTE);
    assert_eq!(action["secrets"][1]["value"], "${IDP_BRIDGE_CLIENT_SECRET}");
    let code = action["code"].as_str().expect("code");
    assert!(code.contains("exports.onExecuteCustomTokenExchange = async (event, api)"));
    assert!(code.contains(&format!("{}/legacy/introspect", app.issuer)));
    assert!(!code.contains(super::CTE_SECRET), "no secret in the code");
    let profile = &body["token_exchange_profile"];
    assert_eq!(profile["type"], "custom_authentication");
    assert_eq!(profile["subject_token_type"], "urn:acme:legacy-token");
    let names: Vec<&String> = profile.as_object().expect("object").keys().collect();
    assert_eq!(names, ["name", "subject_token_type", "action_id", "type"]);

    let tf = printer(
        &app.config_path(),
        &["--client", CTE, "--format", "terraform"],
    );
    assert!(tf.status.success());
    let tf = String::from_utf8(tf.stdout).expect("utf8");
    assert!(tf.contains("resource \"auth0_token_exchange_profile\" \"legacy_token\""));
    assert!(
        tf.contains("action_id          = auth0_action.legacy_token_exchange.id"),
        "{tf}"
    );
    assert!(tf.contains("value = var.idp_bridge_client_secret"));
}

#[tokio::test]
async fn the_printer_refuses_what_auth0_or_the_bridge_would_refuse() {
    let app = lt1_bridge().await;
    let path = app.config_path();
    for (what, extra) in [
        ("a client not allowed", vec!["--client", "bystander"]),
        ("an unknown client", vec!["--client", "nobody"]),
        (
            "a reserved token type",
            vec![
                "--client",
                CTE,
                "--subject-token-type",
                "urn:ietf:params:oauth:token-type:jwt",
            ],
        ),
        ("the Deploy CLI", vec!["--client", CTE, "--format", "yaml"]),
    ] {
        let out = printer(&path, &extra);
        assert_eq!(out.status.code(), Some(2), "{what}");
        assert!(out.stdout.is_empty(), "{what}: nothing half-printed");
    }
}
