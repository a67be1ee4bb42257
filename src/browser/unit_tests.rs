//! Unit tests of the browser's bodies on their narrow inputs, without HTTP:
//! the in-memory store, a login session kept in another in-memory store,
//! and the inputs built as the handlers would build them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use tower_sessions::Session;

use super::authorize::{Authorize, authorize};
use super::logout::{Logout, logout};
use super::session::{self, SessionBackend};
use crate::domain::config::{Branding, LogoutEnds};
use crate::domain::store::memory::MemoryStore;
use crate::domain::store::{CodeClaim, GrantStore, Redeemed, RevocationStore};
use crate::domain::types::Subject;
use crate::protocol::provider::authorize::{AuthorizationParams, AuthorizationRequest};
use crate::protocol::provider::claims::RequestedClaims;
use crate::protocol::provider::code::{CodeIssuer, IssuedFor, issue_code};
use crate::util::clock::now_unix;
use crate::util::crypto::sha256;

use crate::protocol::provider::unit_tests::{
    ISSUER, REDIRECT_URI, World as ProviderWorld, legacy_grant,
};

/// The provider's fixture (store, storage key, signing keys, lifetimes,
/// the client `app`, counters) and what only the browser adds.
struct World {
    protocol: ProviderWorld,
    branding: Branding,
}

impl std::ops::Deref for World {
    type Target = ProviderWorld;

    fn deref(&self) -> &ProviderWorld {
        &self.protocol
    }
}

impl World {
    async fn new() -> Self {
        Self {
            protocol: ProviderWorld::new(&["app"]).await,
            branding: Branding::default(),
        }
    }

    fn codes(&self) -> CodeIssuer<'_, MemoryStore> {
        self.protocol.code_issuer()
    }

    /// What `/authorize` uses, with the password form (no redirect IdP).
    fn authorize(&self) -> Authorize<'_, MemoryStore> {
        Authorize {
            codes: self.codes(),
            branding: &self.branding,
            secure_cookie: false,
            metrics: &self.metrics,
            redirect: None,
        }
    }

    /// What `/logout` uses, ending the user everywhere.
    fn logout(&self) -> Logout<'_, MemoryStore> {
        Logout {
            keys: &self.keys,
            issuer: ISSUER,
            clients: &self.clients,
            branding: &self.branding,
            logout_ends: LogoutEnds::User,
            store: &self.store,
            metrics: &self.metrics,
            redirect: None,
        }
    }

    /// `subject` signed in at `app`: the grant stored with its code, the
    /// code redeemed, and a login session (kept in a store of its own)
    /// naming the grant.
    async fn signed_in(&self, subject: &str) -> (Session, String) {
        let now = now_unix();
        let request = AuthorizationRequest {
            client_id: crate::domain::types::ClientId::new("app").expect("valid"),
            redirect_uri: crate::domain::types::RedirectUri::parse(REDIRECT_URI).expect("valid"),
            scopes: vec!["openid".into()],
            state: None,
            nonce: None,
            code_challenge: None,
            login_hint: None,
            form_post: false,
            prompt_none: false,
            max_age: None,
            hint_sub: None,
            claims: RequestedClaims::default(),
            expires_at: crate::domain::types::UnixTime::from_secs(now + 600),
        };
        let grant = legacy_grant(subject, "legacy-token", now + 3600, false);
        let sign_in = IssuedFor::SignIn(None, None);
        let issued = issue_code(&self.codes(), &request, &grant, sign_in, times(now))
            .await
            .expect("stored")
            .expect("issued");
        let claim = CodeClaim {
            client_id: "app",
            redirect_uri: REDIRECT_URI,
            challenge: None,
            now,
        };
        let redeemed = self
            .store
            .redeem_code(&sha256(issued.code.as_bytes()), &claim)
            .await
            .expect("redeem");
        assert!(matches!(redeemed, Redeemed::Fresh(_)), "{redeemed:?}");
        let sessions = Arc::new(SessionBackend(Arc::new(MemoryStore::new())));
        let session = Session::new(None, sessions, None);
        let user = session::SessionUser {
            sub: Subject::new(subject).expect("a subject"),
            auth_time: crate::domain::types::UnixTime::from_secs(now),
            grant_id: issued.grant_id.clone(),
        };
        session::start(&session, user).await.expect("session");
        (session, issued.grant_id)
    }
}

fn location(response: &Response) -> &str {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A browser without a login session.
fn no_session() -> Session {
    Session::new(
        None,
        Arc::new(SessionBackend(Arc::new(MemoryStore::new()))),
        None,
    )
}

fn query(params: &str) -> AuthorizationParams {
    AuthorizationParams::from_raw(params.as_bytes())
}

#[tokio::test]
async fn a_valid_request_gets_the_form_and_a_csrf_cookie() {
    let world = World::new().await;
    let session = no_session();
    let params = query(&format!(
        "response_type=code&client_id=app&redirect_uri={REDIRECT_URI}&scope=openid&state=s1"
    ));
    let answer = authorize(&world.authorize(), &session, &HeaderMap::new(), params).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let cookie = answer
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        cookie.contains("csrf"),
        "the CSRF cookie is set: {cookie:?}"
    );
}

#[tokio::test]
async fn a_redirect_uri_not_registered_gets_a_page_not_a_redirect() {
    let world = World::new().await;
    let session = no_session();
    let params =
        query("response_type=code&client_id=app&redirect_uri=https://evil.example/cb&scope=openid");
    let answer = authorize(&world.authorize(), &session, &HeaderMap::new(), params).await;
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    assert!(answer.headers().get(header::LOCATION).is_none());
}

#[tokio::test]
async fn prompt_none_answers_from_the_session_or_asks_for_a_login() {
    let world = World::new().await;
    let silent = format!(
        "response_type=code&client_id=app&redirect_uri={REDIRECT_URI}&scope=openid&state=s2&prompt=none"
    );
    // No session: login_required, at the client.
    let empty = no_session();
    let answer = authorize(
        &world.authorize(),
        &empty,
        &HeaderMap::new(),
        query(&silent),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let to = location(&answer);
    assert!(
        to.starts_with(REDIRECT_URI) && to.contains("error=login_required"),
        "{to}"
    );
    // A live session: a code for a new grant sharing its legacy token.
    let (session, grant) = world.signed_in("alice").await;
    let answer = authorize(
        &world.authorize(),
        &session,
        &HeaderMap::new(),
        query(&silent),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let to = location(&answer);
    assert!(to.contains("code=") && to.contains("state=s2"), "{to}");
    assert!(!to.contains("error="), "{to}");
    // The session's grant revoked: login_required again.
    world.store.revoke_grant(&grant).await.expect("revoke");
    let answer = authorize(
        &world.authorize(),
        &session,
        &HeaderMap::new(),
        query(&silent),
    )
    .await;
    assert!(location(&answer).contains("error=login_required"));
}

#[tokio::test]
async fn a_posted_logout_with_logout_ends_user_revokes_the_user() {
    let world = World::new().await;
    let (session, grant_id) = world.signed_in("alice").await;
    let answer = logout(
        &world.logout(),
        session,
        &HeaderMap::new(),
        &HashMap::new(),
        true,
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK, "the signed-out page");
    let grant = world
        .store
        .grant(&grant_id)
        .await
        .expect("read")
        .expect("kept");
    assert!(grant.revoked, "the user's grant is revoked");
    assert!(
        world
            .store
            .user_revoked_at("alice")
            .await
            .expect("read")
            .is_some()
    );
}

#[tokio::test]
async fn a_logout_from_another_site_changes_nothing() {
    let world = World::new().await;
    let (session, grant_id) = world.signed_in("alice").await;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ORIGIN,
        "https://evil.example".parse().expect("value"),
    );
    let answer = logout(&world.logout(), session, &headers, &HashMap::new(), true).await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let grant = world
        .store
        .grant(&grant_id)
        .await
        .expect("read")
        .expect("kept");
    assert!(!grant.revoked);
}

/// A sign-in's code times, both `now` (unix seconds).
fn times(now: i64) -> crate::protocol::provider::code::CodeTimes {
    crate::protocol::provider::code::CodeTimes::signed_in_now(
        crate::domain::types::UnixTime::from_secs(now),
    )
}
