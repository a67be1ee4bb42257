//! The JOSE rules of an Auth0 token at token exchange (and so at the
//! gateway, which verifies with the same code): which key verifies which
//! algorithm, critical extensions, duplicate member names, and `gty`.

use jsonwebtoken::Algorithm;
use serde_json::json;

use crate::support::TestApp;
use crate::token_exchange::{Tenant, bridge, exchange, refusal, signed_in};

/// The JOSE header `Tenant::token` writes, with `extra` members (each
/// starting with a comma) before its end.
fn header(tenant: &Tenant, alg: &str, extra: &str) -> String {
    format!(
        r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{}"{extra}}}"#,
        tenant.kid()
    )
}

/// The payload `Tenant::token` writes, with `extra` members (each starting
/// with a comma) before its end.
fn payload(tenant: &Tenant, extra: &str) -> String {
    let claims = tenant.claims(&[]).to_string();
    format!("{}{extra}}}", claims.strip_suffix('}').expect("an object"))
}

/// `token` is refused as an unacceptable token (`what` names the case).
async fn refused(app: &TestApp, token: &str, what: &str) {
    let (status, error) = refusal(exchange(app, token).await).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"), "{what}");
}

/// `token` is exchanged (`what` names the case).
async fn accepted(app: &TestApp, token: &str, what: &str) {
    let answer = exchange(app, token).await;
    let status = answer.status();
    let body = answer.text().await.expect("body");
    assert_eq!(status, 200, "{what}: {body}");
}

/// Auth0 publishes its tenant key with `"alg": "RS256"` and signs an API set
/// to PS256 with that same key (there is one signing key per tenant): a
/// key that names RS256 or no `alg` verifies RS256 and PS256 tokens alike.
/// A key that names PS256 verifies PS256 only (never the PKCS#1 v1.5
/// padding its publisher ruled out).
#[tokio::test]
async fn rs256_and_ps256_tokens_verify_with_a_key_named_rs256_or_unnamed() {
    for published in [Some("RS256"), None, Some("PS256")] {
        let tenant = Tenant::start().await;
        tenant.publish_alg(published);
        let app = bridge(&tenant, "").await;
        let _ = signed_in(&app).await;
        let ps256 = tenant.token_signed(Algorithm::PS256, &[]);
        accepted(&app, &ps256, &format!("PS256, key alg {published:?}")).await;
        let rs256 = tenant.token(&[]);
        if published == Some("PS256") {
            refused(&app, &rs256, "RS256 with a key meant for PS256").await;
        } else {
            accepted(&app, &rs256, &format!("RS256, key alg {published:?}")).await;
        }
        // Neither family opens the door to another one.
        let rs384 = tenant.token_signed(Algorithm::RS384, &[]);
        refused(&app, &rs384, &format!("RS384, key alg {published:?}")).await;
    }
}

/// RFC 7515 §4.1.11: an extension named in `crit` that the recipient does
/// not understand makes the JWS invalid, and `[]` is not a valid `crit`;
/// RFC 7797 §7: a JWT never uses `b64`. The bridge understands no
/// extension, so any `crit` and any `b64` are refused.
#[tokio::test]
async fn critical_extensions_an_empty_crit_and_b64_are_refused() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    let body = payload(&tenant, "");
    let plain = tenant.signed_raw(Algorithm::RS256, &header(&tenant, "RS256", ""), &body);
    accepted(&app, &plain, "the same token without extensions").await;
    for (what, extra) in [
        (
            "crit naming an unknown extension",
            r#","crit":["x-unknown"],"x-unknown":true"#,
        ),
        ("crit naming an absent one", r#","crit":["x-unknown"]"#),
        ("an empty crit", r#","crit":[]"#),
        ("crit naming a registered parameter", r#","crit":["kid"]"#),
        ("crit that is not a list", r#","crit":"x-unknown""#),
        ("b64 false, critical", r#","b64":false,"crit":["b64"]"#),
        ("b64 false alone", r#","b64":false"#),
        ("b64 true", r#","b64":true"#),
    ] {
        let token = tenant.signed_raw(Algorithm::RS256, &header(&tenant, "RS256", extra), &body);
        refused(&app, &token, what).await;
    }
}

/// RFC 7515 §4 and RFC 7519 §4: a JOSE header or claims set with a member
/// name twice is either rejected or read by its last value; the bridge
/// rejects it, whatever the name and however deep, so no claim can read
/// one way here and another way elsewhere.
#[tokio::test]
async fn a_member_name_twice_in_the_header_or_the_payload_is_refused() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    let plain_header = header(&tenant, "RS256", "");
    for (what, extra) in [
        (
            "gty twice, the machine's first",
            r#","gty":"client-credentials","gty":"password""#,
        ),
        (
            "gty twice, once escaped",
            r#","gty":"client-credentials","g\u0074y":"password""#,
        ),
        ("scope twice", r#","scope":"openid read:orders""#),
        ("azp twice", r#","azp":"another-client""#),
        ("sub twice", r#","sub":"oidc|legacy|u-1002""#),
        (
            "a member twice inside a custom claim",
            r#","https://example.com/ctx":{"role":"user","role":"admin"}"#,
        ),
        (
            "a member twice in an object inside a list",
            r#","https://example.com/list":[{"a":1,"a":2}]"#,
        ),
    ] {
        let token = tenant.signed_raw(Algorithm::RS256, &plain_header, &payload(&tenant, extra));
        refused(&app, &token, &format!("payload: {what}")).await;
    }
    let body = payload(&tenant, "");
    for (what, extra) in [
        ("an unknown member twice", r#","x-note":"a","x-note":"b""#),
        ("typ twice", r#","typ":"JWT""#),
        ("kid twice", r#","kid":"k1""#),
        ("alg twice", r#","alg":"RS256""#),
    ] {
        let token = tenant.signed_raw(Algorithm::RS256, &header(&tenant, "RS256", extra), &body);
        refused(&app, &token, &format!("header: {what}")).await;
    }
    let token = tenant.signed_raw(Algorithm::RS256, &plain_header, &body);
    accepted(&app, &token, "the same token, every name once").await;
}

/// Auth0 writes `gty` as `client-credentials`; the machine-to-machine
/// refusal does not depend on its case, and a `gty` that is neither a
/// string nor a list of strings is malformed. A user's grant types pass.
#[tokio::test]
async fn gty_marks_a_machine_token_in_any_case_and_must_be_a_string() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let _ = signed_in(&app).await;
    for gty in [
        json!("Client-Credentials"),
        json!("CLIENT-CREDENTIALS"),
        json!(["password", "client-credentials"]),
        json!(1),
        json!({"type": "client-credentials"}),
        json!([1]),
    ] {
        refused(
            &app,
            &tenant.token(&[("gty", gty.clone())]),
            &format!("gty {gty}"),
        )
        .await;
    }
    for gty in ["password", "refresh_token", "authorization_code"] {
        accepted(&app, &tenant.token(&[("gty", json!(gty))]), gty).await;
    }
}
