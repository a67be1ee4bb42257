//! Login sessions saved around a user's revocation, and `prompt=none`.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A browser whose cookies the test can read.
fn jar_browser() -> (reqwest::Client, std::sync::Arc<reqwest::cookie::Jar>) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (browser, jar)
}

/// The id of the login session `jar` holds for `app`.
fn session_id(app: &TestApp, jar: &reqwest::cookie::Jar) -> String {
    use reqwest::cookie::CookieStore as _;
    let url: url::Url = app.issuer.parse().unwrap();
    let cookies = jar.cookies(&url).expect("cookies");
    cookies
        .to_str()
        .unwrap()
        .split("; ")
        .find_map(|c| c.strip_prefix("idp_bridge_session="))
        .expect("a session cookie")
        .to_owned()
}

/// tower-sessions saves a session at the end of its request: a login
/// answering while the user is revoked may write its session row after
/// `DELETE FROM sessions WHERE subject`. The row is back, but its grant is
/// revoked, so prompt=none still asks for a login.
#[tokio::test]
async fn a_session_row_saved_after_the_revocation_does_not_serve_prompt_none() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let (browser, jar) = jar_browser();
    redeemed(&app, &sign_in(&app, &browser).await).await;
    let id = session_id(&app, &jar);
    let now = idp_bridge::util::clock::now_unix();
    let data = app
        .store()
        .load_session(&id, now)
        .await
        .unwrap()
        .expect("the login saved its session");
    let ended = revoke_user(&app, ALICE).await;
    assert_eq!(ended["sessions_ended"], 1, "{ended}");
    assert!(app.store().load_session(&id, now).await.unwrap().is_none());
    // The late save of a request that was under way.
    app.store()
        .save_session(&id, &data, Some(ALICE), now + 3600)
        .await
        .unwrap();
    assert_eq!(silent(&app, &browser).await, Err("login_required".into()));
    assert_eq!(exchange_status(&app, &tenant).await, 400);
}

/// A session written before sessions named their user (subject NULL, as
/// every session of a bridge upgraded in place) survives the user's
/// revocation, but serves no prompt=none: its grant is revoked.
#[tokio::test]
async fn a_session_without_a_subject_survives_the_revocation_but_serves_nothing() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let (browser, jar) = jar_browser();
    redeemed(&app, &sign_in(&app, &browser).await).await;
    let id = session_id(&app, &jar);
    let db = rusqlite::Connection::open(app.data_dir.path().join("bridge.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let changed = db
        .execute("UPDATE sessions SET subject = NULL WHERE id = ?1", [&id])
        .unwrap();
    assert_eq!(changed, 1);
    let ended = revoke_user(&app, ALICE).await;
    assert_eq!(ended["sessions_ended"], 0, "{ended}");
    assert_eq!(silent(&app, &browser).await, Err("login_required".into()));
}

/// A password login answering at the moment its user is revoked: either it
/// signed in after the revocation (its code redeems, prompt=none works), or
/// its grant was revoked and its session — even one saved after the
/// revocation's delete — gives no code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_a_login_saving_its_session_while_its_user_is_revoked() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    // How long a (warm) login's answer takes here, to sweep the revocation
    // over it.
    let mut window = Duration::ZERO;
    for _ in 0..2 {
        let browser = TestApp::browser();
        let page = app
            .authorize(&browser, &app.params())
            .await
            .text()
            .await
            .unwrap();
        let started = Instant::now();
        let answer = app
            .submit_login(&browser, &page, "alice", "correct-horse")
            .await;
        assert_eq!(answer.status(), 303);
        window = started.elapsed();
    }
    let rounds = 16;
    let (mut after, mut before) = (0, 0);
    for round in 0..rounds {
        let browser = TestApp::browser();
        let page = app
            .authorize(&browser, &app.params())
            .await
            .text()
            .await
            .unwrap();
        // From the revocation well ahead of the login to well behind it.
        let offset = spread(round, rounds, window * 2);
        let (login_delay, revoke_delay) = if offset < window {
            (window.saturating_sub(offset), Duration::ZERO)
        } else {
            (Duration::ZERO, offset.saturating_sub(window))
        };
        let (answer, _) = tokio::join!(
            async {
                tokio::time::sleep(login_delay).await;
                app.submit_login(&browser, &page, "alice", "correct-horse")
                    .await
            },
            async {
                tokio::time::sleep(revoke_delay).await;
                revoke_user(&app, ALICE).await
            }
        );
        assert_eq!(answer.status(), 303, "round {round}");
        let code = query_param(&location(&answer), "code").expect("a code");
        let redeemed = app.redeem(&code).await.status();
        let again = silent(&app, &browser).await;
        if redeemed == 200 {
            after += 1;
        } else {
            before += 1;
            assert_eq!(
                again,
                Err("login_required".into()),
                "round {round}: a revoked sign-in's session serves prompt=none"
            );
        }
        revoke_user(&app, ALICE).await;
    }
    eprintln!("login took {window:?}: {after} signed in after the revocation, {before} before");
}
