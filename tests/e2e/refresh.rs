//! The token lifecycle: refresh that renews the legacy token, rotation with
//! a grace period and reuse detection, rotation off for Token Vault, every
//! renewal failure of the legacy IdP, revocation and introspection, cleanup.

use std::time::Duration;

use idp_bridge::reference::legacy_idp::{FaultMode, Faults};
use openidconnect::{Nonce, OAuth2TokenResponse, RefreshToken, TokenResponse};
use serde_json::Value;

use crate::support::{
    AUTH0_CALLBACK, OIDC_SECRET, REFRESHER_SECRET, TestApp, VAULT_SECRET, oidc_client, oidc_http,
    oidc_sign_in,
};

/// Logs in for `client` with `scope` and redeems the code; returns the token answer.
async fn tokens(app: &TestApp, client: &str, secret: &str, scope: &str) -> Value {
    let params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), client.into()),
        ("redirect_uri".into(), AUTH0_CALLBACK.into()),
        ("scope".into(), scope.into()),
    ];
    let code = app.login(&params).await.code();
    let response = app.redeem_as(client, secret, &code).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn refresh(
    app: &TestApp,
    client: &str,
    secret: &str,
    token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", client),
        ("client_secret", secret),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    app.token(&form).await
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    (status, body["error"].as_str().unwrap_or("").to_owned())
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one story, told in order
async fn full_lifecycle_with_the_openidconnect_client() {
    let app = TestApp::spawn().await;
    let http = oidc_http();
    let client = oidc_client(&app, "refresher", REFRESHER_SECRET).await;
    let (first, nonce) = oidc_sign_in(&app, &client, &["offline_access"], &[]).await;
    first
        .id_token()
        .expect("id token")
        .claims(&client.id_token_verifier(), &nonce)
        .expect("valid");
    let refresh_token = first
        .refresh_token()
        .expect("a refresh token with offline_access")
        .clone();
    let old_access = first.access_token().secret().clone();

    let second = client
        .exchange_refresh_token(&refresh_token)
        .expect("endpoint")
        .request_async(&http)
        .await
        .expect("refresh");
    let new_access = second.access_token().secret();
    assert_ne!(
        new_access, &old_access,
        "the legacy token was renewed upstream"
    );
    assert!(
        app.legacy.api_accepts(new_access).await,
        "the new legacy token works at the legacy API"
    );
    assert_eq!(
        app.userinfo(new_access).await.status(),
        200,
        "and at userinfo"
    );
    assert!(
        app.legacy.api_accepts(&old_access).await,
        "the old one, per the legacy IdP's rules (LT1: until it expires)"
    );
    assert_eq!(
        app.userinfo(&old_access).await.status(),
        401,
        "userinfo knows only the grant's current token"
    );
    let rotated = second.refresh_token().expect("rotated refresh token");
    assert_ne!(
        rotated.secret(),
        refresh_token.secret(),
        "rotation is on by default"
    );
    let id_token = second.id_token().expect("a fresh ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), |n: Option<&Nonce>| {
            if n.is_none() {
                Ok(())
            } else {
                Err("no nonce on refresh".to_string())
            }
        })
        .expect("valid refreshed ID token");
    assert_eq!(claims.subject().as_str(), "u-1001");
    let expires_in = second.expires_in().expect("expires_in").as_secs();
    assert!((3500..=3600).contains(&expires_in), "{expires_in}");

    let third = client
        .exchange_refresh_token(&RefreshToken::new(rotated.secret().clone()))
        .expect("endpoint")
        .request_async(&http)
        .await;
    assert!(third.is_ok(), "the successor works");
}

#[tokio::test]
async fn a_user_may_hold_many_independent_refresh_tokens() {
    let app = TestApp::spawn().await;
    let a = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    let b = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    let revoked = app
        .revoke(&[
            ("token", str_of(&a, "refresh_token")),
            ("client_id", "refresher"),
            ("client_secret", REFRESHER_SECRET),
        ])
        .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        refresh(
            &app,
            "refresher",
            REFRESHER_SECRET,
            str_of(&b, "refresh_token"),
            None
        )
        .await
        .status(),
        200,
        "the other login is untouched"
    );
}

#[tokio::test]
async fn no_refresh_token_without_offline_access_or_for_a_client_without_it() {
    let app = TestApp::spawn().await;
    let without = tokens(&app, "refresher", REFRESHER_SECRET, "openid").await;
    assert!(without.get("refresh_token").is_none());
    let not_allowed = tokens(&app, "auth0-oidc", OIDC_SECRET, "openid offline_access").await;
    assert!(not_allowed.get("refresh_token").is_none());
}

#[tokio::test]
async fn concurrent_refreshes_inside_the_grace_period_all_succeed_consistently() {
    let app = TestApp::spawn().await;
    let t = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    let rt = str_of(&t, "refresh_token");
    let before = app.legacy.idp.renewals();
    let (a, b, c) = tokio::join!(
        refresh(&app, "refresher", REFRESHER_SECRET, rt, None),
        refresh(&app, "refresher", REFRESHER_SECRET, rt, None),
        refresh(&app, "refresher", REFRESHER_SECRET, rt, None),
    );
    let mut answers = Vec::new();
    for r in [a, b, c] {
        assert_eq!(r.status(), 200);
        answers.push(r.json::<Value>().await.expect("json"));
    }
    assert_eq!(
        app.legacy.idp.renewals() - before,
        1,
        "one renewal upstream"
    );
    for other in &answers[1..] {
        assert_eq!(
            other["refresh_token"], answers[0]["refresh_token"],
            "the same successor"
        );
        assert_eq!(
            other["access_token"], answers[0]["access_token"],
            "the same legacy token"
        );
    }
}

#[tokio::test]
async fn reuse_after_the_grace_period_revokes_the_family_and_its_legacy_grant() {
    let app = TestApp::spawn().await;
    let t = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    let rt1 = str_of(&t, "refresh_token").to_owned();
    let second: Value = refresh(&app, "refresher", REFRESHER_SECRET, &rt1, None)
        .await
        .json()
        .await
        .expect("json");
    let rt2 = str_of(&second, "refresh_token").to_owned();
    let access = str_of(&second, "access_token").to_owned();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        error_of(refresh(&app, "refresher", REFRESHER_SECRET, &rt1, None).await).await,
        (400, "invalid_grant".into())
    );
    assert_eq!(
        error_of(refresh(&app, "refresher", REFRESHER_SECRET, &rt2, None).await).await,
        (400, "invalid_grant".into()),
        "the newest is revoked too"
    );
    assert_eq!(
        app.userinfo(&access).await.status(),
        401,
        "and the legacy grant"
    );
}

#[tokio::test]
async fn rotation_off_keeps_one_refresh_token() {
    let app = TestApp::spawn().await;
    let t = tokens(&app, "token-vault", VAULT_SECRET, "openid offline_access").await;
    let rt = str_of(&t, "refresh_token").to_owned();
    let mut access = str_of(&t, "access_token").to_owned();
    for round in 0..2 {
        if round == 1 {
            // Past the grace period, the next use renews again.
            tokio::time::sleep(Duration::from_millis(5100)).await;
        }
        let r: Value = refresh(&app, "token-vault", VAULT_SECRET, &rt, None)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(str_of(&r, "refresh_token"), rt, "the same refresh token");
        assert_ne!(str_of(&r, "access_token"), access, "a renewed legacy token");
        access = str_of(&r, "access_token").to_owned();
        assert!(app.legacy.api_accepts(&access).await);
    }
}

#[tokio::test]
async fn scope_may_narrow_but_never_widen() {
    let app = TestApp::spawn().await;
    let t = tokens(
        &app,
        "refresher",
        REFRESHER_SECRET,
        "openid profile offline_access",
    )
    .await;
    let rt = str_of(&t, "refresh_token").to_owned();
    let wider = refresh(
        &app,
        "refresher",
        REFRESHER_SECRET,
        &rt,
        Some("openid profile email"),
    )
    .await;
    assert_eq!(error_of(wider).await, (400, "invalid_scope".into()));
    let narrower: Value = refresh(&app, "refresher", REFRESHER_SECRET, &rt, Some("openid"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(narrower["scope"], "openid");
}

#[tokio::test]
async fn the_legacy_idp_refusing_the_renewal_ends_the_grant() {
    let app = TestApp::spawn().await;
    let t = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    app.legacy.idp.revoke_all_refresh_tokens();
    let rt = str_of(&t, "refresh_token");
    assert_eq!(
        error_of(refresh(&app, "refresher", REFRESHER_SECRET, rt, None).await).await,
        (400, "invalid_grant".into())
    );
    assert_eq!(
        app.userinfo(str_of(&t, "access_token")).await.status(),
        401,
        "the grant ended"
    );
    assert_eq!(
        error_of(refresh(&app, "refresher", REFRESHER_SECRET, rt, None).await)
            .await
            .1,
        "invalid_grant"
    );
}

#[tokio::test]
async fn outages_answer_temporarily_unavailable_and_lose_nothing() {
    let app = TestApp::spawn().await;
    let t = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    let rt = str_of(&t, "refresh_token").to_owned();
    for faults in [
        Faults {
            mode: FaultMode::Status(503),
            ..Faults::default()
        },
        Faults {
            latency_ms: 3000,
            ..Faults::default()
        },
        Faults {
            mode: FaultMode::Garbage,
            ..Faults::default()
        },
        Faults {
            mode: FaultMode::Oversize,
            ..Faults::default()
        },
    ] {
        app.legacy.idp.set_faults(faults.clone());
        let response = refresh(&app, "refresher", REFRESHER_SECRET, &rt, None).await;
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(
            error_of(response).await,
            (503, "temporarily_unavailable".into()),
            "{faults:?}"
        );
    }
    app.legacy.idp.set_faults(Faults::default());
    assert_eq!(
        app.userinfo(str_of(&t, "access_token")).await.status(),
        200,
        "the grant is intact"
    );
    let ok = refresh(&app, "refresher", REFRESHER_SECRET, &rt, None).await;
    assert_eq!(
        ok.status(),
        200,
        "the refresh token stayed valid through the outage"
    );
}

#[tokio::test]
async fn without_a_renew_path_no_refresh_token_is_issued() {
    let app = TestApp::spawn_edited(
        "",
        |_| {},
        |text| {
            let start = text.find("[upstream.http.renew]").expect("renew section");
            let end = text[start..]
                .find("[upstream.http.claims]")
                .expect("claims")
                + start;
            format!("{}{}", &text[..start], &text[end..])
        },
    )
    .await;
    let t = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    assert!(
        t.get("refresh_token").is_none(),
        "documented: no renew path, no refresh token"
    );
}

#[tokio::test]
async fn introspection_answers_for_both_token_kinds_and_only_to_their_client() {
    let app = TestApp::spawn().await;
    let t = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    let ask = |token: String, client: &'static str, secret: &'static str| {
        let app = &app;
        async move {
            let r = app
                .introspect(&[
                    ("token", &token),
                    ("client_id", client),
                    ("client_secret", secret),
                ])
                .await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.expect("json")
        }
    };
    let rt = str_of(&t, "refresh_token").to_owned();
    let at = str_of(&t, "access_token").to_owned();
    let r = ask(rt.clone(), "refresher", REFRESHER_SECRET).await;
    assert_eq!(
        (
            r["active"].clone(),
            r["token_type"].clone(),
            r["sub"].clone(),
            r["client_id"].clone()
        ),
        (
            true.into(),
            "refresh_token".into(),
            "u-1001".into(),
            "refresher".into()
        )
    );
    assert!(r["exp"].as_i64().is_some() && r["scope"] == "openid offline_access");
    let a = ask(at.clone(), "refresher", REFRESHER_SECRET).await;
    assert_eq!(
        (
            a["active"].clone(),
            a["token_type"].clone(),
            a["sub"].clone()
        ),
        (true.into(), "Bearer".into(), "u-1001".into())
    );
    assert_eq!(
        ask(rt.clone(), "auth0-oidc", OIDC_SECRET).await,
        serde_json::json!({"active": false}),
        "not the caller's"
    );
    assert_eq!(
        ask(at.clone(), "auth0-oidc", OIDC_SECRET).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        ask("unknown".into(), "refresher", REFRESHER_SECRET).await,
        serde_json::json!({"active": false})
    );
    let unauthenticated = app.introspect(&[("token", &rt)]).await;
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn revocation_of_either_token_ends_the_grant_and_only_the_owner_may_revoke() {
    let app = TestApp::spawn().await;
    let creds = [
        ("client_id", "refresher"),
        ("client_secret", REFRESHER_SECRET),
    ];
    // Revoking the legacy access token.
    let t = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    let mut form = creds.to_vec();
    form.push(("token", str_of(&t, "access_token")));
    form.push(("token_type_hint", "access_token"));
    assert_eq!(app.revoke(&form).await.status(), 200);
    assert_eq!(app.userinfo(str_of(&t, "access_token")).await.status(), 401);
    assert_eq!(
        error_of(
            refresh(
                &app,
                "refresher",
                REFRESHER_SECRET,
                str_of(&t, "refresh_token"),
                None
            )
            .await
        )
        .await
        .1,
        "invalid_grant"
    );
    // Revoking a refresh token.
    let t = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    let mut form = creds.to_vec();
    form.push(("token", str_of(&t, "refresh_token")));
    assert_eq!(app.revoke(&form).await.status(), 200);
    assert_eq!(
        app.userinfo(str_of(&t, "access_token")).await.status(),
        401,
        "its legacy grant ends too"
    );
    // Another client's token: refused, and the token keeps working.
    let t = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    let other = app
        .revoke(&[
            ("token", str_of(&t, "refresh_token")),
            ("client_id", "auth0-oidc"),
            ("client_secret", OIDC_SECRET),
        ])
        .await;
    assert_eq!(error_of(other).await, (400, "unauthorized_client".into()));
    assert_eq!(
        refresh(
            &app,
            "refresher",
            REFRESHER_SECRET,
            str_of(&t, "refresh_token"),
            None
        )
        .await
        .status(),
        200
    );
    // Unknown tokens are not an error (RFC 7009 §2.2).
    let mut form = creds.to_vec();
    form.push(("token", "never-issued"));
    assert_eq!(app.revoke(&form).await.status(), 200);
}

#[tokio::test]
async fn cleanup_removes_what_expired_and_nothing_else() {
    let app = TestApp::spawn_full(
        "[store]\ncleanup_interval_seconds = 1\n[tokens]\ncode_ttl_seconds = 1\nlogin_ttl_seconds = 2\n[session]\nidle_timeout_seconds = 1\n",
        |o| o.token_ttl = 1,
    )
    .await;
    // Expires entirely: a code never redeemed, a legacy token of 1 s.
    let _abandoned = app.login(&app.params()).await.code();
    // Stays: its refresh family lives for 30 days.
    let kept = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    let db = app.data_dir.path().join("bridge.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .expect("open the real file");
    let count = |table: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    assert_eq!(count("grants").await, 2);
    assert!(count("sessions").await >= 1);
    let mut waited = 0;
    while (count("grants").await != 1 || count("sessions").await != 0) && waited < 80 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(
        count("grants").await,
        1,
        "the expired grant is gone, the one with a live family stays"
    );
    assert_eq!(count("refresh_tokens").await, 1);
    assert_eq!(count("sessions").await, 0);
    let still = refresh(
        &app,
        "refresher",
        REFRESHER_SECRET,
        str_of(&kept, "refresh_token"),
        None,
    )
    .await;
    assert_eq!(still.status(), 200, "nothing live was removed");
}

#[tokio::test]
async fn a_renewal_abandoned_by_a_crash_does_not_strand_the_refresh_token() {
    let app = TestApp::spawn().await;
    let t = tokens(&app, "refresher", REFRESHER_SECRET, "openid offline_access").await;
    // The state a kill -9 in the middle of a renewal leaves behind: the
    // token claimed (state 1) long ago, no successor.
    let db = app.data_dir.path().join("bridge.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open the real file");
    let stale =
        idp_bridge::util::clock::now_unix() - idp_bridge::domain::store::STALE_CLAIM_SECONDS - 5;
    let changed = sqlx::query("UPDATE refresh_tokens SET state = 1, last_used_at = ?")
        .bind(stale)
        .execute(&pool)
        .await
        .expect("update");
    assert_eq!(changed.rows_affected(), 1);
    pool.close().await;
    let r = refresh(
        &app,
        "refresher",
        REFRESHER_SECRET,
        str_of(&t, "refresh_token"),
        None,
    )
    .await;
    assert_eq!(r.status(), 200, "the abandoned claim is taken over");
}
