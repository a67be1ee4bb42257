//! The authorization request's rules (`provider::authorize::validate`):
//! which failures are pages and which are redirects, and what a valid
//! request becomes.

use super::{REDIRECT_URI, client, registry};
use crate::protocol::provider::authorize::{
    AuthorizationParams, AuthorizationRequest, AuthorizeError, validate,
};

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn params() -> AuthorizationParams {
    AuthorizationParams {
        client_id: Some("app".into()),
        redirect_uri: Some(REDIRECT_URI.into()),
        response_type: Some("code".into()),
        scope: Some("openid profile".into()),
        state: Some("st-1".into()),
        ..AuthorizationParams::default()
    }
}

fn run(params: &AuthorizationParams) -> Result<AuthorizationRequest, AuthorizeError> {
    let mut pkce = client("pkce");
    pkce.require_pkce = true;
    validate(
        params,
        &registry([client("app"), pkce]),
        crate::domain::types::UnixTime::from_secs(1_000),
        600,
    )
}

/// The redirect's error code and echoed state, or a panic naming what came.
fn redirected(params: &AuthorizationParams) -> (&'static str, Option<String>) {
    match run(params) {
        Err(AuthorizeError::Redirect {
            error,
            state,
            redirect_uri,
            ..
        }) => {
            assert_eq!(redirect_uri, REDIRECT_URI);
            (error, state)
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
}

fn is_page(result: &Result<AuthorizationRequest, AuthorizeError>) -> bool {
    matches!(result, Err(AuthorizeError::Page { .. }))
}

#[test]
fn a_valid_request_keeps_what_was_asked_and_expires_after_the_form_ttl() {
    let request = run(&params()).expect("valid");
    assert_eq!(request.client_id, "app");
    assert_eq!(request.redirect_uri, REDIRECT_URI);
    assert_eq!(request.scopes, vec!["openid", "profile"]);
    assert_eq!(request.state.as_deref(), Some("st-1"));
    assert_eq!(request.expires_at.as_secs(), 1_600);
    assert!(!request.prompt_none && !request.form_post);
}

#[test]
fn an_unknown_or_missing_client_is_a_page_never_a_redirect() {
    let mut p = params();
    p.client_id = Some("nobody".into());
    assert!(is_page(&run(&p)));
    p.client_id = None;
    assert!(is_page(&run(&p)));
    p.client_id = Some(String::new());
    assert!(is_page(&run(&p)));
}

#[test]
fn an_unregistered_redirect_uri_is_a_page_never_a_redirect() {
    let mut p = params();
    p.redirect_uri = Some("https://evil.example/callback".into());
    assert!(is_page(&run(&p)));
    // Not a prefix match either.
    p.redirect_uri = Some(format!("{REDIRECT_URI}/more"));
    assert!(is_page(&run(&p)));
    p.redirect_uri = None;
    assert!(is_page(&run(&p)));
}

#[test]
fn response_type_must_be_code() {
    let mut p = params();
    p.response_type = None;
    assert_eq!(redirected(&p).0, "invalid_request");
    p.response_type = Some("token".into());
    assert_eq!(
        redirected(&p),
        ("unsupported_response_type", Some("st-1".into()))
    );
    p.response_type = Some("code id_token".into());
    assert_eq!(redirected(&p).0, "unsupported_response_type");
}

#[test]
fn only_query_and_form_post_response_modes() {
    let mut p = params();
    p.response_mode = Some("fragment".into());
    assert_eq!(redirected(&p).0, "invalid_request");
    p.response_mode = Some("form_post".into());
    assert!(run(&p).expect("form_post").form_post);
}

#[test]
fn request_objects_are_refused_by_value_and_by_reference() {
    let mut p = params();
    p.request = Some("eyJhbGciOiJub25lIn0.e30.".into());
    assert_eq!(redirected(&p).0, "request_not_supported");
    let mut p = params();
    p.request_uri = Some("https://app.example/request.jwt".into());
    assert_eq!(redirected(&p).0, "request_uri_not_supported");
}

#[test]
fn pkce_is_s256_only_and_well_formed() {
    let mut p = params();
    p.code_challenge = Some(CHALLENGE.into());
    // No method means plain (RFC 7636 §4.3): refused.
    assert_eq!(redirected(&p).0, "invalid_request");
    p.code_challenge_method = Some("plain".into());
    assert_eq!(redirected(&p).0, "invalid_request");
    p.code_challenge_method = Some("S256".into());
    assert_eq!(
        run(&p).expect("S256").code_challenge.as_deref(),
        Some(CHALLENGE)
    );
    p.code_challenge = Some("short".into());
    assert_eq!(redirected(&p).0, "invalid_request");
    let mut p = params();
    p.code_challenge_method = Some("S256".into());
    assert_eq!(redirected(&p).0, "invalid_request");
}

#[test]
fn a_client_that_requires_pkce_gets_no_code_without_it() {
    let mut p = params();
    p.client_id = Some("pkce".into());
    assert_eq!(redirected(&p).0, "invalid_request");
    p.code_challenge = Some(CHALLENGE.into());
    p.code_challenge_method = Some("S256".into());
    assert!(run(&p).is_ok());
}

#[test]
fn prompt_none_stands_alone() {
    let mut p = params();
    p.prompt = Some("none login".into());
    assert_eq!(redirected(&p).0, "invalid_request");
    p.prompt = Some("none".into());
    assert!(run(&p).expect("prompt=none").prompt_none);
}

#[test]
fn max_age_is_a_non_negative_integer() {
    let mut p = params();
    p.max_age = Some("-1".into());
    assert_eq!(redirected(&p).0, "invalid_request");
    p.max_age = Some("soon".into());
    assert_eq!(redirected(&p).0, "invalid_request");
    p.max_age = Some("0".into());
    assert_eq!(run(&p).expect("max_age=0").max_age, Some(0));
}

#[test]
fn scopes_the_client_may_not_have_are_dropped_not_refused() {
    let mut p = params();
    p.scope = Some("openid admin,email".into());
    assert_eq!(run(&p).expect("valid").scopes, vec!["openid", "email"]);
}

#[test]
fn a_state_that_is_not_utf8_is_refused_without_echoing_it() {
    let mut p = params();
    p.state_not_utf8 = true;
    assert_eq!(redirected(&p), ("invalid_request", None));
}

#[test]
fn an_essential_acr_is_access_denied_before_any_password() {
    let mut p = params();
    p.claims = Some(r#"{"id_token":{"acr":{"essential":true,"values":["urn:mfa"]}}}"#.into());
    assert_eq!(redirected(&p).0, "access_denied");
    // Essential but with no value to meet: nothing the bridge cannot do.
    p.claims = Some(r#"{"id_token":{"acr":{"essential":true}}}"#.into());
    assert!(run(&p).is_ok());
    p.claims = Some("{not json".into());
    assert_eq!(redirected(&p).0, "invalid_request");
}

#[test]
fn a_request_seals_with_its_values_bare_and_reads_back_through_their_rules() {
    // The pending form carries the request sealed as JSON: the typed
    // values serialize as the strings and numbers they were before the
    // types existed, so a form sealed earlier still opens.
    let request = run(&params()).expect("valid");
    let json = serde_json::to_value(&request).expect("serializes");
    assert_eq!(json["client_id"], "app");
    assert_eq!(json["redirect_uri"], REDIRECT_URI);
    assert_eq!(json["expires_at"], 1_600);
    let back: AuthorizationRequest = serde_json::from_value(json.clone()).expect("reads back");
    assert_eq!(back.redirect_uri, request.redirect_uri);
    // A tampered value does not become a request (the seal stops it first;
    // the types stop it too).
    let mut bad = json;
    bad["redirect_uri"] = "https://a.example/cb#fragment".into();
    assert!(serde_json::from_value::<AuthorizationRequest>(bad).is_err());
}
