//! Login abuse, in Auth0's manner: growing delays and a temporary lockout
//! per username from one client address, per address, and per username
//! across addresses at a higher ceiling; the same answer whether or not the
//! account exists; no password check reaching the legacy IdP while locked.
//! Here every attempt comes from one address; [`addresses`] plays several.

pub(crate) mod addresses;

use std::time::{Duration, Instant};

use idp_bridge::reference::legacy_idp::{FaultMode, Faults};

use crate::support::{TestApp, submit_login_at};

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
async fn repeated_failures_lock_the_username_at_the_address_and_spare_the_legacy_idp() {
    let app = TestApp::spawn_with(
        "[throttle]\nbase_delay_ms = 100\nmax_failures_per_user_and_address = 3\n",
    )
    .await;
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
    let app = TestApp::spawn_with(
        "[throttle]\nbase_delay_ms = 0\nmax_failures_per_user_and_address = 2\n",
    )
    .await;
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

/// A page per browser, fetched one after another, so the burst that follows
/// is only the form submissions.
async fn forms(app: &TestApp, n: usize) -> Vec<(reqwest::Client, String)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let browser = TestApp::browser();
        let page = app
            .authorize(&browser, &app.params())
            .await
            .text()
            .await
            .expect("html");
        out.push((browser, page));
    }
    out
}

/// Submits every form at once (one task each) with `user(i)` and
/// `password`; the statuses, in order.
async fn burst(
    app: &TestApp,
    forms: Vec<(reqwest::Client, String)>,
    user: impl Fn(usize) -> String,
    password: &str,
) -> Vec<u16> {
    let tasks: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(i, (browser, page))| {
            let (issuer, user, password) = (app.issuer.clone(), user(i), password.to_owned());
            tokio::spawn(async move {
                submit_login_at(&issuer, &browser, &page, &user, &password)
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("submission"));
    }
    statuses
}

const SLOW_THROTTLE: &str = "[throttle]\nbase_delay_ms = 10\nmax_delay_ms = 40\nmax_failures_per_user_and_address = 5\nmax_failures_per_address = 50\n";

fn slow(app: &TestApp, latency_ms: u64) {
    app.legacy.idp.set_faults(Faults {
        latency_ms,
        ..Faults::default()
    });
}

#[tokio::test]
async fn a_hundred_parallel_guesses_reach_the_legacy_idp_at_most_the_limit() {
    let app = TestApp::spawn_with(SLOW_THROTTLE).await;
    slow(&app, 500);
    let forms = forms(&app, 100).await;
    let before = app.legacy.idp.login_attempts();
    let statuses = burst(&app, forms, |_| "alice".into(), "wrong-password").await;
    let checks = app.legacy.idp.login_attempts() - before;
    assert!(
        checks <= 5,
        "{checks} password checks reached the legacy IdP (limit 5)"
    );
    assert!(checks >= 1, "the first guesses were checked");
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count()
            + statuses.iter().filter(|s| **s == 429).count(),
        100,
        "every guess is a wrong password or throttled: {statuses:?}"
    );
}

#[tokio::test]
async fn the_right_password_inside_a_burst_past_the_limit_does_not_sign_in() {
    let app = TestApp::spawn_with(SLOW_THROTTLE).await;
    slow(&app, 600);
    let guesses = forms(&app, 39).await;
    let right = forms(&app, 1).await;
    let before = app.legacy.idp.login_attempts();
    let issuer = app.issuer.clone();
    let wrong = tokio::spawn({
        let app_issuer = issuer.clone();
        async move {
            let tasks: Vec<_> = guesses
                .into_iter()
                .map(|(browser, page)| {
                    let issuer = app_issuer.clone();
                    tokio::spawn(async move {
                        submit_login_at(&issuer, &browser, &page, "alice", "wrong")
                            .await
                            .status()
                            .as_u16()
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.expect("guess"));
            }
            out
        }
    });
    // The guesses are out (the legacy IdP takes 600 ms to answer them).
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (browser, page) = &right[0];
    let answer = submit_login_at(&issuer, browser, page, "alice", "correct-horse").await;
    assert_eq!(
        answer.status(),
        429,
        "the right password past the limit is throttled, not signed in"
    );
    let statuses = wrong.await.expect("guesses");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let checks = app.legacy.idp.login_attempts() - before;
    assert!(checks <= 5, "{checks} checks reached the legacy IdP");
}

#[tokio::test]
async fn many_usernames_from_one_address_stop_at_the_address_limit() {
    let app = TestApp::spawn_with(
        "[throttle]\nbase_delay_ms = 10\nmax_delay_ms = 40\nmax_failures_per_address = 10\n",
    )
    .await;
    slow(&app, 400);
    let forms = forms(&app, 40).await;
    let before = app.legacy.idp.login_attempts();
    let statuses = burst(&app, forms, |i| format!("user-{i}"), "wrong").await;
    let checks = app.legacy.idp.login_attempts() - before;
    assert!(
        checks <= 10,
        "{checks} checks from one address (limit 10): {statuses:?}"
    );
    assert!(statuses.iter().filter(|s| **s == 429).count() >= 30);
}

#[tokio::test]
async fn an_outage_does_not_count_against_the_user() {
    let app = TestApp::spawn_with(
        "[throttle]\nbase_delay_ms = 0\nmax_failures_per_user_and_address = 2\n",
    )
    .await;
    app.legacy.idp.set_faults(Faults {
        latency_ms: 0,
        mode: FaultMode::Status(503),
    });
    for _ in 0..4 {
        assert_eq!(attempt(&app, "alice", "correct-horse").await.0, 503);
    }
    app.legacy.idp.set_faults(Faults::default());
    assert_eq!(
        attempt(&app, "alice", "correct-horse").await.0,
        303,
        "reservations were given back during the outage"
    );
}

#[tokio::test]
async fn a_locked_account_and_a_wrong_password_take_the_same_time() {
    let app = TestApp::spawn_with("[throttle]\nbase_delay_ms = 300\n").await;
    // mallory is locked at the legacy IdP; nobody is unknown.
    let (locked, _, t_locked) = attempt(&app, "mallory", "locked-out").await;
    let (wrong, _, t_wrong) = attempt(&app, "nobody", "x").await;
    assert_eq!((locked, wrong), (403, 401));
    assert!(
        t_locked >= Duration::from_millis(300) && t_wrong >= Duration::from_millis(300),
        "both wait the first delay: locked {t_locked:?}, wrong {t_wrong:?}"
    );
}
