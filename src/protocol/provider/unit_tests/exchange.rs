//! The token exchange policy (`provider::exchange`): the request's own
//! rules, checked before the subject token is looked at, and the grant
//! refused outright where token exchange is not configured.

use super::{World, client};
use crate::domain::config::ExchangePolicy;
use crate::protocol::provider::exchange::{
    ACCESS_TOKEN_TYPE, ExchangeRequest, Exchanger, JWT_TOKEN_TYPE, check_request, exchange,
};

fn policy() -> ExchangePolicy {
    ExchangePolicy {
        audiences: vec!["https://api.example".into()],
        scopes: vec!["read".into(), "write".into()],
        targets: vec!["https://legacy.example".into()],
    }
}

fn request() -> ExchangeRequest<'static> {
    ExchangeRequest {
        subject_token: "eyJ.auth0.token",
        subject_token_type: ACCESS_TOKEN_TYPE,
        requested_token_type: None,
        actor_token: false,
        targets: Vec::new(),
        scope: None,
    }
}

/// The refusal's audit class and error code.
fn refused(request: &ExchangeRequest<'_>) -> (&'static str, &'static str) {
    match check_request(&policy(), request) {
        Ok(()) => panic!("accepted"),
        Err((class, error)) => (class, error.error.as_str()),
    }
}

#[test]
fn a_plain_request_passes_and_a_jwt_subject_type_is_taken_as_an_access_token() {
    assert!(check_request(&policy(), &request()).is_ok());
    let jwt = ExchangeRequest {
        subject_token_type: JWT_TOKEN_TYPE,
        requested_token_type: Some(ACCESS_TOKEN_TYPE),
        ..request()
    };
    assert!(check_request(&policy(), &jwt).is_ok());
}

#[test]
fn delegation_is_refused() {
    let actor = ExchangeRequest {
        actor_token: true,
        ..request()
    };
    assert_eq!(refused(&actor), ("request", "invalid_request"));
}

#[test]
fn only_access_tokens_in_and_out() {
    let id_token = ExchangeRequest {
        subject_token_type: "urn:ietf:params:oauth:token-type:id_token",
        ..request()
    };
    assert_eq!(refused(&id_token), ("request", "invalid_request"));
    let refresh_out = ExchangeRequest {
        requested_token_type: Some("urn:ietf:params:oauth:token-type:refresh_token"),
        ..request()
    };
    assert_eq!(refused(&refresh_out), ("request", "invalid_request"));
}

#[test]
fn a_target_outside_the_policy_is_invalid_target_naming_it_in_the_log_only() {
    let mut other = request();
    other.targets = vec!["https://legacy.example", "https://elsewhere.example"];
    match check_request(&policy(), &other) {
        Err(("target", error)) => {
            assert_eq!(error.error.as_str(), "invalid_target");
            assert!(error.cause.is_some_and(|c| c.contains("elsewhere")));
            assert!(!error.description.contains("elsewhere"));
        }
        other => panic!("expected invalid_target, got {other:?}"),
    }
    let mut listed = request();
    listed.targets = vec!["https://legacy.example"];
    assert!(check_request(&policy(), &listed).is_ok());
}

#[test]
fn scope_may_name_only_the_policys_scopes() {
    let beyond = ExchangeRequest {
        scope: Some("read admin"),
        ..request()
    };
    assert_eq!(refused(&beyond), ("requested_scope", "invalid_scope"));
    let within = ExchangeRequest {
        scope: Some("write read"),
        ..request()
    };
    assert!(check_request(&policy(), &within).is_ok());
}

#[tokio::test]
async fn without_token_exchange_configured_the_grant_is_unsupported() {
    let world = World::new(&[]).await;
    let mut allowed = client("app");
    allowed.exchange = Some(policy());
    let exchanger = Exchanger {
        verifier: None,
        source: None,
        metrics: &world.metrics,
    };
    let error = exchange(&exchanger, &allowed, &request())
        .await
        .err()
        .map(|e| e.error.as_str());
    assert_eq!(error, Some("unsupported_grant_type"));
}
