//! Revocation (RFC 7009) and introspection (RFC 7662) on the in-memory
//! store: a client acts only on its own tokens, an unknown token is not an
//! error, and revoking either kind of token ends the grant.

use axum::http::{HeaderMap, HeaderValue, header};

use super::{World, legacy_grant, sign_in};
use crate::protocol::provider::introspection::introspect;
use crate::protocol::provider::revocation::revoke;
use crate::util::clock::now_unix;

/// `app`'s tokens for a sign-in of alice holding `legacy`: the legacy
/// access token and the refresh token.
async fn tokens(world: &World, legacy: &str) -> (String, String) {
    let grant = legacy_grant("alice", legacy, now_unix() + 600, true);
    let (_, answer) = sign_in(world, &["offline_access"], &grant).await;
    let refresh = answer.refresh_token.expect("a refresh token");
    (answer.access_token.secret().to_owned(), refresh)
}

/// A form body of `client`'s credentials and `token`.
fn body(client: &str, token: &str) -> (HeaderMap, String) {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client)
        .append_pair("client_secret", &format!("secret-{client}"))
        .append_pair("token", token)
        .finish();
    (headers, body)
}

async fn active(world: &World, client: &str, token: &str) -> bool {
    let (headers, body) = body(client, token);
    introspect(&world.client_auth(), &headers, body.as_bytes())
        .await
        .expect("introspected")
        .active
}

#[tokio::test]
async fn a_client_sees_only_its_own_tokens_as_active() {
    let world = World::new(&["app", "other"]).await;
    let (access, refresh) = tokens(&world, "RV-1").await;
    assert!(active(&world, "app", &access).await);
    assert!(active(&world, "app", &refresh).await);
    assert!(!active(&world, "other", &access).await);
    assert!(!active(&world, "other", &refresh).await);
    assert!(!active(&world, "app", "no-such-token").await);
}

#[tokio::test]
async fn another_clients_token_is_not_revoked_and_stays_active() {
    let world = World::new(&["app", "other"]).await;
    let (access, _) = tokens(&world, "RV-2").await;
    let (headers, body) = body("other", &access);
    let refused = revoke(
        &world.client_auth(),
        &world.metrics,
        &headers,
        body.as_bytes(),
    )
    .await;
    assert_eq!(
        refused.err().map(|e| e.error.as_str()),
        Some("unauthorized_client")
    );
    assert!(active(&world, "app", &access).await);
}

#[tokio::test]
async fn an_unknown_token_is_not_an_error() {
    let world = World::new(&["app"]).await;
    let (headers, body) = body("app", "never-issued");
    assert!(
        revoke(
            &world.client_auth(),
            &world.metrics,
            &headers,
            body.as_bytes()
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn revoking_the_refresh_token_ends_the_access_token_too() {
    let world = World::new(&["app"]).await;
    let (access, refresh) = tokens(&world, "RV-3").await;
    let (headers, body) = body("app", &refresh);
    revoke(
        &world.client_auth(),
        &world.metrics,
        &headers,
        body.as_bytes(),
    )
    .await
    .expect("revoked");
    assert!(!active(&world, "app", &refresh).await);
    assert!(!active(&world, "app", &access).await);
}

#[tokio::test]
async fn revocation_needs_client_authentication() {
    let world = World::new(&["app"]).await;
    let (access, _) = tokens(&world, "RV-4").await;
    let (headers, _) = body("app", &access);
    let unauthenticated = format!("client_id=app&token={access}");
    let refused = revoke(
        &world.client_auth(),
        &world.metrics,
        &headers,
        unauthenticated.as_bytes(),
    )
    .await;
    assert_eq!(
        refused.err().map(|e| e.error.as_str()),
        Some("invalid_client")
    );
    assert!(active(&world, "app", &access).await);
}
