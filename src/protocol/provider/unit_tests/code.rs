//! Issuing and redeeming codes (`provider::code`, `provider::token`) on
//! the in-memory store: single use, a replay revokes, PKCE, the exact
//! redirect URI, the client's own code only, expiry; and the refresh
//! grant's rotation and reuse rules (`provider::refresh`).

use super::{REDIRECT_URI, World, legacy_grant};
use crate::domain::store::{GrantStore, LoginOnce};
use crate::protocol::provider::authorize::AuthorizationRequest;
use crate::protocol::provider::code::{IssuedFor, issue_code};
use crate::protocol::provider::error::OAuthError;
use crate::protocol::provider::messages::TokenResponse;
use crate::protocol::provider::refresh;
use crate::protocol::provider::token::{Presented, authorization_code};
use crate::util::clock::now_unix;
use crate::util::crypto::{b64url, sha256};

const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9PJsjFh2-0vL6dBjftJeZ4CVP-mJ92K9PJs";

fn request(client: &str, scopes: &[&str], pkce: bool) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: crate::domain::types::ClientId::new(client).expect("valid"),
        redirect_uri: crate::domain::types::RedirectUri::parse(REDIRECT_URI).expect("valid"),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        state: None,
        nonce: Some("n-1".into()),
        code_challenge: pkce.then(|| b64url(&sha256(VERIFIER.as_bytes()))),
        login_hint: None,
        form_post: false,
        prompt_none: false,
        max_age: None,
        hint_sub: None,
        claims: crate::protocol::provider::claims::RequestedClaims::default(),
        expires_at: crate::domain::types::UnixTime::now().plus(600),
    }
}

/// A code for `client`, for user `alice` with the legacy token `token`.
async fn code_for(world: &World, request: &AuthorizationRequest, token: &str) -> String {
    let now = now_unix();
    let grant = legacy_grant("alice", token, now + 3600, true);
    issue_code(
        &world.code_issuer(),
        request,
        &grant,
        IssuedFor::SignIn(None, None),
        times(now),
    )
    .await
    .expect("stored")
    .expect("issued")
    .code
}

async fn redeem(
    world: &World,
    client: &str,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let presented = Presented {
        code,
        redirect_uri,
        code_verifier: verifier,
    };
    authorization_code(
        &world.token_issuer(),
        world.client(client),
        &presented,
        crate::domain::types::UnixTime::now(),
    )
    .await
}

fn refused(result: Result<TokenResponse, OAuthError>) -> (&'static str, String) {
    match result {
        Ok(_) => panic!("expected a refusal"),
        Err(e) => (e.error.as_str(), e.description),
    }
}

#[tokio::test]
async fn a_code_yields_the_legacy_token_verbatim_and_an_id_token() {
    let world = World::new(&["app"]).await;
    let code = code_for(&world, &request("app", &["openid"], false), "LEGACY-1").await;
    let answer = redeem(&world, "app", &code, REDIRECT_URI, None)
        .await
        .expect("redeemed");
    assert_eq!(answer.access_token.secret(), "LEGACY-1");
    assert!(answer.id_token.is_some(), "openid was granted");
    assert!(answer.refresh_token.is_none(), "offline_access was not");
}

#[tokio::test]
async fn a_code_is_single_use_and_a_replay_revokes_its_grant() {
    let world = World::new(&["app"]).await;
    let code = code_for(&world, &request("app", &["openid"], false), "LEGACY-2").await;
    redeem(&world, "app", &code, REDIRECT_URI, None)
        .await
        .expect("first use");
    let (error, description) = refused(redeem(&world, "app", &code, REDIRECT_URI, None).await);
    assert_eq!(error, "invalid_grant");
    assert!(description.contains("already used"), "{description}");
    let grants = world
        .store
        .grants_by_token_hash(&crate::domain::sealed_grant::token_hash("LEGACY-2"))
        .await
        .expect("read");
    assert!(
        grants.iter().all(|g| g.revoked),
        "the replay revoked the grant"
    );
}

#[tokio::test]
async fn concurrent_redemptions_of_one_code_succeed_once() {
    let world = World::new(&["app"]).await;
    let code = code_for(&world, &request("app", &[], false), "LEGACY-3").await;
    let (a, b) = tokio::join!(
        redeem(&world, "app", &code, REDIRECT_URI, None),
        redeem(&world, "app", &code, REDIRECT_URI, None)
    );
    assert_eq!(u8::from(a.is_ok()) + u8::from(b.is_ok()), 1);
}

#[tokio::test]
async fn a_wrong_redirect_uri_is_refused_and_burns_nothing() {
    let world = World::new(&["app"]).await;
    let code = code_for(&world, &request("app", &[], false), "LEGACY-4").await;
    let (error, description) =
        refused(redeem(&world, "app", &code, "https://app.example/other", None).await);
    assert_eq!(error, "invalid_grant");
    assert!(description.contains("redirect_uri"), "{description}");
    assert!(
        redeem(&world, "app", &code, REDIRECT_URI, None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn pkce_needs_the_verifier_of_the_challenge_and_a_miss_burns_nothing() {
    let world = World::new(&["app"]).await;
    let code = code_for(&world, &request("app", &[], true), "LEGACY-5").await;
    let (error, description) = refused(redeem(&world, "app", &code, REDIRECT_URI, None).await);
    assert_eq!(error, "invalid_grant");
    assert!(description.contains("required"), "{description}");
    let wrong = "x".repeat(43);
    let (_, description) = refused(redeem(&world, "app", &code, REDIRECT_URI, Some(&wrong)).await);
    assert!(description.contains("does not match"), "{description}");
    assert!(
        redeem(&world, "app", &code, REDIRECT_URI, Some(VERIFIER))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_verifier_for_a_code_without_a_challenge_is_refused() {
    let world = World::new(&["app"]).await;
    let code = code_for(&world, &request("app", &[], false), "LEGACY-6").await;
    let (error, description) =
        refused(redeem(&world, "app", &code, REDIRECT_URI, Some(VERIFIER)).await);
    assert_eq!(error, "invalid_grant");
    assert!(description.contains("without a challenge"), "{description}");
}

#[tokio::test]
async fn another_clients_code_reads_as_unknown_and_stays_its_owners() {
    let world = World::new(&["app", "other"]).await;
    let code = code_for(&world, &request("app", &[], false), "LEGACY-7").await;
    let (error, description) = refused(redeem(&world, "other", &code, REDIRECT_URI, None).await);
    assert_eq!(error, "invalid_grant");
    assert!(description.contains("invalid"), "{description}");
    let (_, unknown) = refused(redeem(&world, "app", "no-such-code", REDIRECT_URI, None).await);
    assert_eq!(
        description, unknown,
        "another's code answers as an unknown one"
    );
    assert!(
        redeem(&world, "app", &code, REDIRECT_URI, None)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let mut world = World::new(&["app"]).await;
    world.tokens.code_ttl_seconds = -1;
    let code = code_for(&world, &request("app", &[], false), "LEGACY-8").await;
    let (error, description) = refused(redeem(&world, "app", &code, REDIRECT_URI, None).await);
    assert_eq!(error, "invalid_grant");
    assert!(description.contains("expired"), "{description}");
}

#[tokio::test]
async fn a_code_of_a_revoked_grant_yields_nothing() {
    let world = World::new(&["app"]).await;
    let now = now_unix();
    let grant = legacy_grant("alice", "LEGACY-9", now + 3600, false);
    let issued = issue_code(
        &world.code_issuer(),
        &request("app", &[], false),
        &grant,
        IssuedFor::SignIn(None, None),
        times(now),
    )
    .await
    .expect("stored")
    .expect("issued");
    world
        .store
        .revoke_grant(&issued.grant_id)
        .await
        .expect("revoked");
    let (error, _) = refused(redeem(&world, "app", &issued.code, REDIRECT_URI, None).await);
    assert_eq!(error, "invalid_grant");
}

#[tokio::test]
async fn one_login_form_yields_one_code() {
    let world = World::new(&["app"]).await;
    let now = now_unix();
    let grant = legacy_grant("alice", "LEGACY-10", now + 3600, false);
    let login = || LoginOnce {
        id: "form-1".into(),
        expires_at: now + 600,
    };
    let request = request("app", &[], false);
    let first = issue_code(
        &world.code_issuer(),
        &request,
        &grant,
        IssuedFor::SignIn(Some(login()), None),
        times(now),
    )
    .await
    .expect("stored");
    let second = issue_code(
        &world.code_issuer(),
        &request,
        &grant,
        IssuedFor::SignIn(Some(login()), None),
        times(now),
    )
    .await
    .expect("stored");
    assert!(first.is_some());
    assert!(second.is_none(), "the form already yielded a code");
}

#[tokio::test]
async fn offline_access_brings_a_refresh_token_only_when_the_legacy_idp_can_renew() {
    let mut world = World::new(&["app"]).await;
    let scopes = ["openid", "offline_access"];
    let code = code_for(&world, &request("app", &scopes, false), "LEGACY-11").await;
    let answer = redeem(&world, "app", &code, REDIRECT_URI, None)
        .await
        .expect("redeemed");
    assert!(answer.refresh_token.is_some());
    world.idp = super::FakeIdp::new(false);
    let code = code_for(&world, &request("app", &scopes, false), "LEGACY-12").await;
    let answer = redeem(&world, "app", &code, REDIRECT_URI, None)
        .await
        .expect("redeemed");
    assert!(answer.refresh_token.is_none());
}

/// A refresh token from a fresh sign-in with `offline_access`.
async fn refresh_token(world: &World, token: &str) -> String {
    let code = code_for(world, &request("app", &["offline_access"], false), token).await;
    redeem(world, "app", &code, REDIRECT_URI, None)
        .await
        .expect("redeemed")
        .refresh_token
        .expect("a refresh token")
}

#[tokio::test]
async fn a_refresh_renews_the_legacy_token_and_rotates() {
    let world = World::new(&["app"]).await;
    let first = refresh_token(&world, "LEGACY-13").await;
    let answer = refresh::grant(&world.token_issuer(), world.client("app"), &first, None)
        .await
        .expect("refreshed");
    assert_eq!(answer.access_token.secret(), "renewed-1");
    let next = answer.refresh_token.expect("a successor");
    assert_ne!(next, first, "rotation issues a successor");
    assert_eq!(world.idp.renewals(), 1);
}

#[tokio::test]
async fn a_spent_refresh_token_within_grace_gets_the_same_successor_without_renewing() {
    let world = World::new(&["app"]).await;
    let first = refresh_token(&world, "LEGACY-14").await;
    let inputs = world.token_issuer();
    let client = world.client("app");
    let a = refresh::grant(&inputs, client, &first, None)
        .await
        .expect("refreshed");
    let b = refresh::grant(&inputs, client, &first, None)
        .await
        .expect("within grace");
    assert_eq!(a.refresh_token, b.refresh_token);
    assert_eq!(world.idp.renewals(), 1);
}

#[tokio::test]
async fn reuse_after_grace_revokes_the_family() {
    let mut world = World::new(&["app"]).await;
    if let Some(app) = world.clients.get_mut("app") {
        app.refresh.reuse_grace_seconds = 0;
    }
    let first = refresh_token(&world, "LEGACY-15").await;
    let inputs = world.token_issuer();
    let client = world.client("app");
    let next = refresh::grant(&inputs, client, &first, None)
        .await
        .expect("refreshed")
        .refresh_token
        .expect("successor");
    let reuse = refresh::grant(&inputs, client, &first, None).await;
    assert_eq!(refused(reuse).0, "invalid_grant");
    let after = refresh::grant(&inputs, client, &next, None).await;
    assert_eq!(refused(after).0, "invalid_grant", "the family is revoked");
}

#[tokio::test]
async fn another_clients_refresh_token_is_refused() {
    let world = World::new(&["app", "other"]).await;
    let token = refresh_token(&world, "LEGACY-16").await;
    let result = refresh::grant(&world.token_issuer(), world.client("other"), &token, None).await;
    let (error, description) = refused(result);
    assert_eq!(error, "invalid_grant");
    assert!(description.contains("another client"), "{description}");
    assert_eq!(world.idp.renewals(), 0);
}

#[tokio::test]
async fn a_legacy_idp_that_refuses_the_renewal_ends_the_grant() {
    let world = World::new(&["app"]).await;
    let token = refresh_token(&world, "LEGACY-17").await;
    *world.idp.refuse.lock().expect("lock") =
        Some(crate::domain::upstream::UpstreamError::InvalidCredentials);
    let inputs = world.token_issuer();
    let result = refresh::grant(&inputs, world.client("app"), &token, None).await;
    assert_eq!(refused(result).0, "invalid_grant");
    let again = refresh::grant(&inputs, world.client("app"), &token, None).await;
    assert_eq!(refused(again).0, "invalid_grant");
    assert_eq!(
        world.idp.renewals(),
        1,
        "a revoked grant is not renewed again"
    );
}

#[tokio::test]
async fn a_legacy_idp_outage_keeps_the_refresh_token_usable() {
    let world = World::new(&["app"]).await;
    let token = refresh_token(&world, "LEGACY-18").await;
    *world.idp.refuse.lock().expect("lock") = Some(
        crate::domain::upstream::UpstreamError::Unavailable("down".into()),
    );
    let inputs = world.token_issuer();
    let result = refresh::grant(&inputs, world.client("app"), &token, None).await;
    assert_eq!(refused(result).0, "temporarily_unavailable");
    assert!(
        refresh::grant(&inputs, world.client("app"), &token, None)
            .await
            .is_ok(),
        "the claim was given back"
    );
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_not_widen_it() {
    let world = World::new(&["app"]).await;
    let token = refresh_token(&world, "LEGACY-19").await;
    let inputs = world.token_issuer();
    let wider = refresh::grant(
        &inputs,
        world.client("app"),
        &token,
        Some("offline_access email"),
    )
    .await;
    assert_eq!(refused(wider).0, "invalid_scope");
    assert_eq!(world.idp.renewals(), 0);
}

/// A sign-in's code times, both `now` (unix seconds).
fn times(now: i64) -> crate::protocol::provider::code::CodeTimes {
    crate::protocol::provider::code::CodeTimes::signed_in_now(
        crate::domain::types::UnixTime::from_secs(now),
    )
}
