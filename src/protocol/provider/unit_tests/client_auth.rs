//! Client authentication (`provider::client_auth`): `client_secret_basic`,
//! `client_secret_post` and `private_key_jwt`'s refusals, one method per
//! request, every failure `invalid_client` (with a Basic challenge when
//! Basic was used).

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;

use super::World;
use crate::domain::config::{AuthMethod, Client};
use crate::protocol::provider::client_auth::authenticate_client;
use crate::protocol::provider::error::OAuthError;
use crate::protocol::provider::form::FormParams;

fn form(pairs: &[(&str, &str)]) -> FormParams {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    FormParams::parse(&headers, body.as_bytes()).expect("a form")
}

fn basic(id: &str, secret: &str) -> HeaderMap {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        encode(id),
        encode(secret)
    ));
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {credentials}")).expect("ascii"),
    );
    headers
}

async fn authenticate(
    world: &World,
    headers: &HeaderMap,
    form: &FormParams,
) -> Result<String, OAuthError> {
    authenticate_client(
        &world.client_auth(),
        headers,
        form,
        crate::domain::types::UnixTime::now(),
    )
    .await
    .map(|c: &Client| c.id.to_string())
}

/// The refusal's code and whether it challenges with Basic.
fn refusal(result: Result<String, OAuthError>) -> (&'static str, bool) {
    match result {
        Ok(id) => panic!("client {id} was authenticated"),
        Err(e) => (
            e.error.as_str(),
            e.challenge.is_some_and(|c| c.starts_with("Basic")),
        ),
    }
}

#[tokio::test]
async fn basic_and_post_authenticate_with_the_right_secret() {
    let world = World::new(&["app"]).await;
    let by_basic = authenticate(&world, &basic("app", "secret-app"), &form(&[])).await;
    assert_eq!(by_basic.expect("basic"), "app");
    let post = form(&[("client_id", "app"), ("client_secret", "secret-app")]);
    assert_eq!(
        authenticate(&world, &HeaderMap::new(), &post)
            .await
            .expect("post"),
        "app"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_invalid_client_with_a_basic_challenge_only_for_basic() {
    let world = World::new(&["app"]).await;
    let by_basic = authenticate(&world, &basic("app", "wrong"), &form(&[])).await;
    assert_eq!(refusal(by_basic), ("invalid_client", true));
    let post = form(&[("client_id", "app"), ("client_secret", "wrong")]);
    assert_eq!(
        refusal(authenticate(&world, &HeaderMap::new(), &post).await),
        ("invalid_client", false)
    );
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    let mut world = World::new(&[]).await;
    // A client id cannot hold `:` (`ClientId`, the config's rule); the
    // secret here does, and the id has what form-urlencoding changes.
    let mut odd = super::client("a+b c%");
    odd.secret_sha256 = Some(crate::util::crypto::sha256("p%ss:w rd".as_bytes()));
    world.clients.insert(odd.id.to_string(), odd);
    let result = authenticate(&world, &basic("a+b c%", "p%ss:w rd"), &form(&[])).await;
    assert_eq!(result.expect("decoded"), "a+b c%");
}

#[tokio::test]
async fn a_method_the_client_may_not_use_is_refused_even_with_the_right_secret() {
    let mut world = World::new(&["app"]).await;
    if let Some(app) = world.clients.get_mut("app") {
        app.auth_methods = vec![AuthMethod::ClientSecretBasic];
    }
    let post = form(&[("client_id", "app"), ("client_secret", "secret-app")]);
    assert_eq!(
        refusal(authenticate(&world, &HeaderMap::new(), &post).await).0,
        "invalid_client"
    );
    assert!(
        authenticate(&world, &basic("app", "secret-app"), &form(&[]))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn different_credentials_in_header_and_form_are_refused() {
    let world = World::new(&["app", "other"]).await;
    let both = form(&[("client_id", "other"), ("client_secret", "secret-other")]);
    let result = authenticate(&world, &basic("app", "secret-app"), &both).await;
    assert_eq!(refusal(result), ("invalid_client", true));
    // The same credentials in both places are accepted.
    let same = form(&[("client_id", "app"), ("client_secret", "secret-app")]);
    assert!(
        authenticate(&world, &basic("app", "secret-app"), &same)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_form_client_id_that_is_not_the_basic_one_is_refused() {
    let world = World::new(&["app", "other"]).await;
    let result = authenticate(
        &world,
        &basic("app", "secret-app"),
        &form(&[("client_id", "other")]),
    )
    .await;
    assert_eq!(refusal(result), ("invalid_client", true));
}

#[tokio::test]
async fn no_credentials_and_unknown_clients_are_refused() {
    let world = World::new(&["app"]).await;
    let none = authenticate(&world, &HeaderMap::new(), &form(&[("client_id", "app")])).await;
    assert_eq!(refusal(none), ("invalid_client", false));
    let unknown = form(&[("client_id", "nobody"), ("client_secret", "secret-nobody")]);
    assert_eq!(
        refusal(authenticate(&world, &HeaderMap::new(), &unknown).await).0,
        "invalid_client"
    );
}

#[tokio::test]
async fn malformed_basic_credentials_are_refused() {
    let world = World::new(&["app"]).await;
    for value in ["Basic !!!not-base64", "Basic YXBw"] {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        let result = authenticate(&world, &headers, &form(&[])).await;
        assert_eq!(refusal(result), ("invalid_client", true), "{value}");
    }
}

#[tokio::test]
async fn an_assertion_and_a_secret_in_one_request_are_refused() {
    let world = World::new(&["app"]).await;
    let both = form(&[
        ("client_id", "app"),
        ("client_secret", "secret-app"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", "a.b.c"),
    ]);
    assert_eq!(
        refusal(authenticate(&world, &HeaderMap::new(), &both).await).0,
        "invalid_client"
    );
    let with_basic = form(&[("client_assertion", "a.b.c")]);
    let result = authenticate(&world, &basic("app", "secret-app"), &with_basic).await;
    assert_eq!(refusal(result).0, "invalid_client");
}

#[tokio::test]
async fn private_key_jwt_refuses_a_wrong_type_a_non_jwt_and_a_client_not_allowed() {
    let mut world = World::new(&["app", "jwt"]).await;
    if let Some(jwt) = world.clients.get_mut("jwt") {
        jwt.auth_methods = vec![AuthMethod::PrivateKeyJwt];
    }
    let assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let wrong_type = form(&[
        ("client_id", "jwt"),
        ("client_assertion_type", "urn:example:other"),
        ("client_assertion", "a.b.c"),
    ]);
    assert_eq!(
        refusal(authenticate(&world, &HeaderMap::new(), &wrong_type).await).0,
        "invalid_client"
    );
    let not_jwt = form(&[
        ("client_id", "jwt"),
        ("client_assertion_type", assertion_type),
        ("client_assertion", "not a jwt"),
    ]);
    assert_eq!(
        refusal(authenticate(&world, &HeaderMap::new(), &not_jwt).await).0,
        "invalid_client"
    );
    // A well-formed JWT for a client that may only use secrets.
    let header = crate::util::crypto::b64url(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = crate::util::crypto::b64url(br#"{"iss":"app","sub":"app"}"#);
    let jwt = format!("{header}.{claims}.c2ln");
    let not_allowed = form(&[
        ("client_assertion_type", assertion_type),
        ("client_assertion", &jwt),
    ]);
    assert_eq!(
        refusal(authenticate(&world, &HeaderMap::new(), &not_allowed).await).0,
        "invalid_client"
    );
    // And the secret-only client cannot slip in through the form either.
    let unsigned = format!(
        "{}.{claims}.",
        crate::util::crypto::b64url(br#"{"alg":"none"}"#)
    );
    let none_alg = form(&[
        ("client_id", "jwt"),
        ("client_assertion_type", assertion_type),
        ("client_assertion", &unsigned),
    ]);
    assert_eq!(
        refusal(authenticate(&world, &HeaderMap::new(), &none_alg).await).0,
        "invalid_client"
    );
}
