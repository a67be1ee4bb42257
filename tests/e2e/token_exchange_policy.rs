//! What a token exchange request may ask and what counts towards the
//! client's policy: `scope` in the request and in the token, `permissions`,
//! the subject token's type and `typ`, where `targets` is written, and the
//! log lines exchanges leave.

use std::process::Command;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::support::TestApp;
use crate::token_exchange::{
    ACCESS, EXCHANGER_SECRET, GRANT, Tenant, bridge, exchange, refusal, signed_in,
};

const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// An exchange by the `exchanger` client with `extra` request parameters.
async fn exchange_with(app: &TestApp, token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", GRANT),
        ("client_id", "exchanger"),
        ("client_secret", EXCHANGER_SECRET),
        ("subject_token", token),
    ];
    if !extra.iter().any(|(k, _)| *k == "subject_token_type") {
        form.push(("subject_token_type", ACCESS));
    }
    form.extend_from_slice(extra);
    app.token(&form).await
}

/// Auth0 puts every permission assigned to the user in `permissions`
/// (with RBAC's "Add Permissions in the Access Token"), whether or not the
/// application asked for them; `scope` holds what the application asked
/// for and the user may have. Only `scope` answers the client's policy.
#[tokio::test]
async fn permissions_do_not_stand_in_for_a_scope_the_token_lacks() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[
        ("scope", json!("openid")),
        ("permissions", json!(["read:orders"])),
    ]);
    let (status, error) = refusal(exchange(&app, &token).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_request"),
        "read:orders only in permissions"
    );
    let token = tenant.token(&[
        ("scope", json!("openid read:orders")),
        ("permissions", json!(["read:orders", "write:orders"])),
    ]);
    assert_eq!(exchange(&app, &token).await.status(), 200, "in scope");
}

/// RFC 8693 §3: `…:token-type:jwt` says the subject token is a JWT, which
/// an Auth0 access token is; it is accepted on purpose and verified exactly
/// as an access token (an ID token sent as a JWT is still refused). Other
/// types are refused.
#[tokio::test]
async fn a_jwt_subject_token_type_is_verified_as_an_access_token() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    let typed = |token: String, kind: &'static str| {
        let app = &app;
        async move { exchange_with(app, &token, &[("subject_token_type", kind)]).await }
    };
    assert_eq!(typed(tenant.token(&[]), JWT).await.status(), 200);
    let (status, error) = refusal(typed(tenant.token(&[("nonce", json!("n"))]), JWT).await).await;
    assert_eq!(
        (status, error.as_str()),
        (400, "invalid_request"),
        "an ID token"
    );
    for kind in [
        "urn:ietf:params:oauth:token-type:id_token",
        "urn:ietf:params:oauth:token-type:refresh_token",
        "urn:ietf:params:oauth:token-type:saml2",
    ] {
        let (status, error) = refusal(typed(tenant.token(&[]), kind).await).await;
        assert_eq!((status, error.as_str()), (400, "invalid_request"), "{kind}");
    }
}

/// RFC 8693 §2.1: `scope` names the scope the client wants. The bridge
/// hands out the user's legacy token verbatim and cannot narrow it, so a
/// `scope` is taken only within the client's policy `scopes` (which the
/// Auth0 token must carry anyway); anything beyond is `invalid_scope`
/// (RFC 6749 §5.2), never silently ignored.
#[tokio::test]
async fn a_scope_beyond_the_client_s_policy_is_invalid_scope() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[("scope", json!("openid read:orders write:orders"))]);
    for scope in ["read:orders", "read:orders  read:orders"] {
        let answer = exchange_with(&app, &token, &[("scope", scope)]).await;
        assert_eq!(answer.status(), 200, "{scope:?} is the client's policy");
    }
    for scope in ["read:orders write:orders", "openid", "READ:ORDERS"] {
        let (status, error) = refusal(exchange_with(&app, &token, &[("scope", scope)]).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_scope"),
            "{scope:?}"
        );
    }
}

/// Auth0 sets `typ` on every access token: `JWT` under its own token
/// profile, `at+jwt` under the RFC 9068 profile (Auth0's "Access Token
/// Profiles" page). A token without `typ` is therefore not Auth0's access
/// token and is refused; `typ` is compared without case and with or without
/// `application/` (RFC 7515 §4.1.9).
#[tokio::test]
async fn tokens_without_typ_are_refused_and_each_auth0_typ_is_accepted() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    let payload = tenant.claims(&[]).to_string();
    let with_typ = |typ: Option<&str>| {
        let typ = typ.map_or(String::new(), |t| format!(r#","typ":"{t}""#));
        let header = format!(r#"{{"alg":"RS256","kid":"{}"{typ}}}"#, tenant.kid());
        tenant.signed_raw(Algorithm::RS256, &header, &payload)
    };
    for typ in [
        "JWT",
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "application/jwt",
    ] {
        let answer = exchange(&app, &with_typ(Some(typ))).await;
        assert_eq!(answer.status(), 200, "typ {typ}");
    }
    for typ in [None, Some("logout+jwt"), Some("id_token+jwt"), Some("")] {
        let (status, error) = refusal(exchange(&app, &with_typ(typ)).await).await;
        assert_eq!(
            (status, error.as_str()),
            (400, "invalid_request"),
            "typ {typ:?}"
        );
    }
}

/// The client example of docs/token-exchange.md, with its commented
/// `targets` line switched on, is a configuration `check-config` accepts:
/// `targets` belongs inside the client's `token_exchange` policy.
#[test]
fn the_documented_targets_line_is_where_check_config_takes_it() {
    let root = env!("CARGO_MANIFEST_DIR");
    let page = std::fs::read_to_string(format!("{root}/docs/token-exchange.md")).expect("page");
    let block = page
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML example");
    assert!(
        block.contains("# targets = "),
        "the example shows targets:\n{block}"
    );
    let switched_on = block.replace("# targets = ", "targets = ");
    let example = std::fs::read_to_string(format!("{root}/config.example.toml")).expect("example");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, format!("{example}\n{switched_on}")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env(
            "IDP_BRIDGE_STORAGE_KEY",
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        )
        .env("AUTH0_OIDC_CLIENT_SECRET", "a-long-enough-client-secret")
        .env("ORDERS_BACKEND_SECRET", "a-long-enough-orders-secret")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Lines of a JSON log on the `audit` target whose event is `event`.
fn audit_lines(logs: &str, event: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "audit" && l["fields"]["event"] == event)
        .collect()
}

/// At the default level a successful exchange writes no line of its own
/// (at 20,000 a second the log would be nothing else): it is counted in
/// `idp_bridge_events_total{event="token_exchanged"}` and logged at debug
/// on the `audit` target, which `IDP_BRIDGE_LOG=info,audit=debug` shows.
/// Each refusal keeps its line.
#[tokio::test]
async fn a_burst_of_exchanges_writes_no_info_line_per_success_and_one_per_refusal() {
    let tenant = Tenant::start().await;
    let mut app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    let token = tenant.token(&[]);
    for _ in 0..3 {
        assert_eq!(exchange(&app, &token).await.status(), 200);
    }
    assert!(
        app.metrics_text()
            .contains("idp_bridge_events_total{event=\"token_exchanged\",reason=\"grant\"} 3"),
        "every success is counted:\n{}",
        app.metrics_text()
    );
    app.stop().await;
    for (level, burst, expected) in [("info", 200, 0), ("info,audit=debug", 5, 5)] {
        let log = app.data_dir.path().join("exchanges.log");
        let child = crate::restart::serve_logging_json(&app.config_path(), &log, level);
        crate::cluster::wait_ready(&app.issuer).await;
        let tasks: Vec<_> = (0..8)
            .map(|worker| {
                let (issuer, token) = (app.issuer.clone(), token.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    for _ in (worker..burst).step_by(8) {
                        let answer = client
                            .post(format!("{issuer}/token"))
                            .form(&[
                                ("grant_type", GRANT),
                                ("client_id", "exchanger"),
                                ("client_secret", EXCHANGER_SECRET),
                                ("subject_token", token.as_str()),
                                ("subject_token_type", ACCESS),
                            ])
                            .send()
                            .await
                            .expect("exchange");
                        assert_eq!(answer.status(), 200);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("worker");
        }
        let expired = tenant.token(&[("exp", json!(idp_bridge::util::clock::now_unix() - 600))]);
        let (status, _) = refusal(exchange(&app, &expired).await).await;
        assert_eq!(status, 400);
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(child);
        let logs = std::fs::read_to_string(&log).expect("logs");
        let failures = audit_lines(&logs, "token_exchange_failure");
        assert_eq!(failures.len(), 1, "[{level}] one line for the refusal");
        assert_eq!(failures[0]["fields"]["reason"], "expired");
        let successes = audit_lines(&logs, "token_exchanged");
        assert_eq!(
            successes.len(),
            expected,
            "[{level}] lines for {burst} successes"
        );
        assert!(
            successes
                .iter()
                .all(|l| l["level"] == "DEBUG" && l["fields"]["client_id"] == "exchanger"),
            "[{level}] {successes:?}"
        );
    }
}
