//! Login abuse: growing delays and a temporary lockout per username and per
//! client address, the same answer whether or not the account exists, and
//! no password check reaching the legacy IdP while locked.

use std::time::{Duration, Instant};

use crate::support::TestApp;

async fn attempt(app: &TestApp, user: &str, password: &str) -> (u16, String, Duration) {
    let browser = TestApp::browser();
    let page = app
        .authorize(&browser, &app.params())
        .await
        .text()
        .await
        .expect("html");
    let started = Instant::now();
    let response = app.submit_login(&browser, &page, user, password).await;
    let elapsed = started.elapsed();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
        elapsed,
    )
}

#[tokio::test]
async fn repeated_failures_lock_the_username_and_spare_the_legacy_idp() {
    let app =
        TestApp::spawn_with("[throttle]\nbase_delay_ms = 100\nmax_failures_per_user = 3\n").await;
    let (first, _, t1) = attempt(&app, "alice", "wrong-1").await;
    assert_eq!(first, 401);
    let (_, _, _) = attempt(&app, "alice", "wrong-2").await;
    let (third, page, t3) = attempt(&app, "alice", "wrong-3").await;
    assert!(
        t3 >= Duration::from_millis(400),
        "delays grow: {t1:?} then {t3:?}"
    );
    assert_eq!(third, 429, "the third failure locks");
    assert!(page.contains("Too many failed sign-in attempts"));
    let checks = app.legacy.idp.login_attempts();
    let (locked, page, _) = attempt(&app, "alice", "correct-horse").await;
    assert_eq!(locked, 429, "even the right password waits out the lockout");
    assert!(page.contains("Try again in 15 minutes"));
    assert_eq!(
        app.legacy.idp.login_attempts(),
        checks,
        "the legacy IdP was not asked"
    );
    assert_eq!(
        attempt(&app, "ALICE", "correct-horse").await.0,
        429,
        "usernames are case-folded"
    );
    assert_eq!(
        attempt(&app, "bob", "battery-staple").await.0,
        303,
        "other users are not affected"
    );
}

#[tokio::test]
async fn an_unknown_username_gets_exactly_the_same_answers() {
    let app =
        TestApp::spawn_with("[throttle]\nbase_delay_ms = 0\nmax_failures_per_user = 2\n").await;
    let known: Vec<(u16, String)> = vec![
        attempt(&app, "alice", "x").await,
        attempt(&app, "alice", "x").await,
        attempt(&app, "alice", "x").await,
    ]
    .into_iter()
    .map(|(s, p, _)| (s, p.replace("value=\"alice\"", "")))
    .collect();
    let unknown: Vec<(u16, String)> = vec![
        attempt(&app, "nobody", "x").await,
        attempt(&app, "nobody", "x").await,
        attempt(&app, "nobody", "x").await,
    ]
    .into_iter()
    .map(|(s, p, _)| (s, p.replace("value=\"nobody\"", "")))
    .collect();
    let strip = |p: &str| p.split("name=\"request\"").next().unwrap_or("").to_owned();
    for (k, u) in known.iter().zip(&unknown) {
        assert_eq!(k.0, u.0);
        assert_eq!(
            strip(&k.1),
            strip(&u.1),
            "same page whether or not the account exists"
        );
    }
    assert_eq!(known[2].0, 429);
}

#[tokio::test]
async fn one_address_trying_many_usernames_is_locked_too() {
    let app =
        TestApp::spawn_with("[throttle]\nbase_delay_ms = 0\nmax_failures_per_address = 3\n").await;
    for user in ["u1", "u2"] {
        assert_eq!(attempt(&app, user, "x").await.0, 401);
    }
    assert_eq!(
        attempt(&app, "u3", "x").await.0,
        429,
        "the address hit its limit"
    );
    assert_eq!(
        attempt(&app, "bob", "battery-staple").await.0,
        429,
        "from this address, nobody gets through for now"
    );
}
