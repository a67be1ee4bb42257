//! Userinfo's Bearer rules (`provider::userinfo`) on the in-memory store.

use super::{World, legacy_grant, sign_in};
use crate::domain::store::GrantStore;
use crate::protocol::provider::userinfo::userinfo;
use crate::util::clock::now_unix;

/// A redeemed sign-in of `alice` holding `token`, expiring at `expires_at`;
/// its grant id.
async fn signed_in(world: &World, token: &str, expires_at: i64) -> String {
    let grant = legacy_grant("alice", token, expires_at, false);
    sign_in(world, &["openid", "email"], &grant)
        .await
        .0
        .grant_id
}

fn description(
    result: Result<serde_json::Value, crate::protocol::provider::error::OAuthError>,
) -> String {
    match result {
        Ok(v) => panic!("answered {v}"),
        Err(e) => {
            assert_eq!(e.error.as_str(), "invalid_token");
            e.description
        }
    }
}

#[tokio::test]
async fn a_live_legacy_token_reads_its_users_claims() {
    let world = World::new(&["app"]).await;
    signed_in(&world, "UI-1", now_unix() + 600).await;
    let claims = userinfo(
        &world.store,
        Some("UI-1".into()),
        crate::domain::types::UnixTime::now(),
    )
    .await
    .expect("claims");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
}

#[tokio::test]
async fn no_token_gets_a_bare_challenge() {
    let world = World::new(&["app"]).await;
    let error = userinfo(&world.store, None, crate::domain::types::UnixTime::now())
        .await
        .expect_err("refused");
    assert_eq!(
        error.challenge.as_deref(),
        Some("Bearer realm=\"idp-bridge\"")
    );
}

#[tokio::test]
async fn unknown_revoked_and_expired_tokens_are_invalid_token() {
    let world = World::new(&["app"]).await;
    let unknown = userinfo(
        &world.store,
        Some("nope".into()),
        crate::domain::types::UnixTime::now(),
    )
    .await;
    assert!(description(unknown).contains("unknown"));
    let grant = signed_in(&world, "UI-2", now_unix() + 600).await;
    world.store.revoke_grant(&grant).await.expect("revoked");
    let revoked = userinfo(
        &world.store,
        Some("UI-2".into()),
        crate::domain::types::UnixTime::now(),
    )
    .await;
    assert!(description(revoked).contains("revoked"));
    signed_in(&world, "UI-3", now_unix() - 1).await;
    let expired = userinfo(
        &world.store,
        Some("UI-3".into()),
        crate::domain::types::UnixTime::now(),
    )
    .await;
    assert!(description(expired).contains("expired"));
}
