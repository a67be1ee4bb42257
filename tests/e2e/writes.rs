//! What a login costs the store: the writes a complete password login
//! commits, counted by the SQLite store itself. Each write is one commit
//! (one statement, or one transaction): the login throttle's reservation
//! before the legacy IdP is asked; the grant with its code, which also
//! settles that reservation; the login session (a fresh browser's session
//! is created, not cycled); the code's redemption.

use crate::support::*;

/// Logins measured after a warm-up one.
const LOGINS: u64 = 5;

#[tokio::test]
async fn a_password_login_and_its_redemption_commit_four_writes_and_userinfo_none() {
    // No cleanup pass during the count.
    let app = TestApp::spawn_with("[store]\ncleanup_interval_seconds = 3600").await;
    let warm = app.login(&app.params()).await;
    assert_eq!(app.redeem(&warm.code()).await.status(), 200);

    let before = app.store_commits();
    let mut tokens = Vec::new();
    for _ in 0..LOGINS {
        let callback = app.login(&app.params()).await;
        let answer = app.redeem(&callback.code()).await;
        assert_eq!(answer.status(), 200);
        let body: serde_json::Value = answer.json().await.unwrap();
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        app.store_commits() - before,
        4 * LOGINS,
        "per login: reservation, grant and code with the settlement, session, redemption"
    );

    let before = app.store_commits();
    for token in &tokens {
        assert_eq!(app.userinfo(token).await.status(), 200);
    }
    assert_eq!(app.store_commits(), before, "userinfo only reads");
}

#[tokio::test]
async fn a_wrong_password_keeps_its_reservation_and_a_success_after_it_forgets_it() {
    // The settlement now rides on the grant's write: a success after a
    // failure must still clear the username-and-address count, or failures
    // would add up across successful logins.
    let app =
        TestApp::spawn_with("[throttle]\nmax_failures_per_user_and_address = 2\nbase_delay_ms = 0")
            .await;
    for _ in 0..3 {
        let page = app
            .attempt_login(&TestApp::browser(), "alice", "wrong")
            .await;
        assert_eq!(page.status(), 401, "one wrong password, never two in a row");
        let callback = app.login(&app.params()).await;
        assert!(
            callback.param("code").is_some(),
            "the success after one failure signs in"
        );
    }
}
