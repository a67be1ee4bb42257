//! Subjects that are prefixes or case variants of others; minting after
//! cleanup and restart.

use super::events::{deleted, deliver_raw};
#[allow(clippy::wildcard_imports)]
use super::*;

/// alice's look-alikes: a case variant, an extension, a prefix, a trailing
/// space of her subject.
const LOOK_ALIKES: [(&str, &str); 4] = [
    ("alice-upper", "U-1001"),
    ("alice-longer", "u-10011"),
    ("alice-prefix", "u-100"),
    ("alice-space", "u-1001 "),
];
const LOOK_ALIKE_PASSWORD: &str = "look-alike-password";

fn with_look_alikes(options: &mut LegacyIdpOptions) {
    let hash = hash_password(LOOK_ALIKE_PASSWORD).unwrap();
    for (username, sub) in LOOK_ALIKES {
        options.users.insert(User {
            username: username.into(),
            password_hash: hash.clone(),
            sub: sub.into(),
            name: None,
            email: None,
            attributes: std::collections::BTreeMap::new(),
            locked: false,
        });
    }
}

/// The legacy subject is case-sensitive and whole, as the legacy IdP
/// issued it: revoking `u-1001` leaves `U-1001`, `u-10011`, `u-100` and
/// `u-1001 ` alone, and revoking each of those leaves alice alone.
async fn look_alikes_are_other_users(extra: &str) {
    let tenant = Tenant::start().await;
    let app = bridge_full(&tenant, extra, with_look_alikes).await;
    redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    for (username, _) in LOOK_ALIKES {
        let code = sign_in_as(
            &app,
            &TestApp::browser(),
            ("auth0-oidc", "openid"),
            (username, LOOK_ALIKE_PASSWORD),
        )
        .await;
        redeemed(&app, &code).await;
    }
    let status_of = |sub: &str| {
        let auth0 = format!("oidc|legacy|{sub}");
        let (app, tenant) = (&app, &tenant);
        async move { exchange_status_for(app, tenant, &auth0).await }
    };
    for (_, sub) in LOOK_ALIKES {
        assert_eq!(status_of(sub).await, 200, "{sub:?} signed in");
    }
    let ended = revoke_user(&app, ALICE).await;
    assert_eq!(ended["grants_revoked"], 1, "{ended}");
    assert_eq!(ended["sessions_ended"], 1, "{ended}");
    assert_eq!(status_of(ALICE).await, 400);
    for (_, sub) in LOOK_ALIKES {
        assert_eq!(status_of(sub).await, 200, "{sub:?} untouched by u-1001");
    }
    // And the other way round.
    redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    for (_, sub) in LOOK_ALIKES {
        let ended = revoke_user(&app, sub).await;
        assert_eq!(ended["grants_revoked"], 1, "{sub:?}: {ended}");
        assert_eq!(status_of(sub).await, 400, "{sub:?}");
        assert_eq!(status_of(ALICE).await, 200, "alice untouched by {sub:?}");
    }
}

#[tokio::test]
async fn look_alike_subjects_are_other_users_on_sqlite() {
    look_alikes_are_other_users("").await;
}

#[tokio::test]
async fn look_alike_subjects_are_other_users_on_postgresql() {
    let (store, schema) = postgres_store();
    look_alikes_are_other_users(&store).await;
    crate::store_suite::drop_schema(&schema).await;
}

// ------------------------------------------- minting, cleanup and restart

const LT1_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A bridge that mints LT1 tokens for users without a live grant.
async fn minting_bridge(tenant: &Tenant, extra: &str) -> TestApp {
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n\n[legacy_token.keys]\nk1 = \"{LT1_KEY}\"\n{extra}",
        sections(
            tenant,
            "[token_exchange.mint_lt1]\nttl_seconds = 300\n",
            "",
            ""
        )
    );
    TestApp::spawn_edited(&text, |_| {}, |t| t + &exchanger_client()).await
}

/// Far enough ahead that every grant of today is past cleanup.
const FAR_AHEAD: i64 = 400 * 86_400;

/// The mark that stops minting outlives the user's grants (cleanup) and the
/// process (restart); a new sign-in lifts it.
async fn no_minting_after_cleanup_and_restart(extra: &str) {
    let tenant = Tenant::start().await;
    let mut app = minting_bridge(&tenant, extra).await;
    let signed_in = redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    let answer: Value = exchange(&app, &tenant.token(&[]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["access_token"], signed_in["access_token"],
        "the grant's"
    );
    revoke_user(&app, ALICE).await;
    assert_eq!(exchange_status(&app, &tenant).await, 400);
    let now = idp_bridge::util::clock::now_unix();
    let cleaned = app.cleanup_at(now + FAR_AHEAD).await;
    assert_eq!(cleaned.grants, 1, "{cleaned:?}");
    assert_eq!(
        exchange_status(&app, &tenant).await,
        400,
        "no grant left, and still not minted for"
    );
    app.restart().await;
    assert_eq!(exchange_status(&app, &tenant).await, 400, "after a restart");
    assert_eq!(gateway_status(&app, &tenant.token(&[])).await, 401);
    let again = redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    let answer: Value = exchange(&app, &tenant.token(&[]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["access_token"], again["access_token"]);
}

#[tokio::test]
async fn a_revoked_user_is_not_minted_for_after_cleanup_and_restart_on_sqlite() {
    no_minting_after_cleanup_and_restart("").await;
}

#[tokio::test]
async fn a_revoked_user_is_not_minted_for_after_cleanup_and_restart_on_postgresql() {
    let (store, schema) = postgres_store();
    no_minting_after_cleanup_and_restart(&store).await;
    crate::store_suite::drop_schema(&schema).await;
}

/// "Until they sign in again": a user who did sign in again is minted for
/// once that sign-in's grant is gone (expired and cleaned up), as a user
/// never revoked is. The mark compares with the newest grant, and cleanup
/// takes the grant, not the mark.
#[tokio::test]
async fn a_user_who_signed_in_again_is_minted_for_after_cleanup() {
    let tenant = Tenant::start().await;
    let app = minting_bridge(&tenant, "").await;
    revoke_user(&app, ALICE).await;
    // A later second: the new sign-in is after the revocation by any clock.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    assert_eq!(exchange_status(&app, &tenant).await, 200, "from the grant");
    let now = idp_bridge::util::clock::now_unix();
    assert_eq!(app.cleanup_at(now + FAR_AHEAD).await.grants, 1);
    assert_eq!(
        exchange_status(&app, &tenant).await,
        200,
        "signed in again since the revocation: minted for"
    );
}

// ------------------------------------------------------------------ logs

/// Every revocation surface, right and wrong, against a real process
/// logging JSON at debug: the credentials (and near misses of them) and the
/// tokens named never reach the log; the audit lines do.
#[tokio::test]
#[allow(clippy::too_many_lines)] // every surface, right and wrong, then the log
async fn logs_of_revocations_hold_no_credential_or_token() {
    let tenant = Tenant::start().await;
    let mut app = bridge(&tenant, "").await;
    let tokens = refresher_tokens(&app).await;
    let legacy = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let other = refresher_tokens(&app).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.stop().await;
    let admin_port = crate::cluster::free_port();
    let admin_url = format!("http://127.0.0.1:{admin_port}");
    let config = app.data_dir.path().join("logged.toml");
    std::fs::write(
        &config,
        app.config_text.replace(
            "[admin]\nlisten = \"127.0.0.1:0\"",
            &format!("[admin]\nlisten = \"127.0.0.1:{admin_port}\""),
        ),
    )
    .unwrap();
    let log_path = app.data_dir.path().join("revocations.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let _child = crate::cluster::Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("IDP_BRIDGE_LOG", "debug")
            .env("IDP_BRIDGE_LOG_FORMAT", "json")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    crate::cluster::wait_ready(&app.issuer).await;
    let near_admin = format!("{}Q", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]);
    let near_events = format!("{}Q", &EVENTS_TOKEN[..EVENTS_TOKEN.len() - 1]);
    let call = |path: &str, credential: &str, body: Value| {
        reqwest::Client::new()
            .post(format!("{admin_url}{path}"))
            .bearer_auth(credential)
            .json(&body)
            .send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(
            call("/users/revoke", &near_admin, json!({"subject": ALICE}))
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            call("/grants/revoke", &near_admin, json!({"token": legacy}))
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            call("/grants/revoke", ADMIN_TOKEN, json!({"token": [refresh]}))
                .await
                .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            call(
                "/grants/revoke",
                ADMIN_TOKEN,
                json!({"token": refresh, "and": legacy})
            )
            .await
            .unwrap()
        ),
        400
    );
    assert_eq!(
        status(
            call("/grants/revoke", ADMIN_TOKEN, json!({"token": refresh}))
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            call("/grants/revoke", ADMIN_TOKEN, json!({"token": other}))
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            call(
                "/grants/revoke",
                ADMIN_TOKEN,
                json!({"token": "unknown-token-VALUE"})
            )
            .await
            .unwrap()
        ),
        404
    );
    assert_eq!(
        status(
            call("/users/revoke", ADMIN_TOKEN, json!({"subject": ALICE}))
                .await
                .unwrap()
        ),
        200
    );
    let event = deleted(&json!("log-1"), "oidc|legacy|u-1001").to_string();
    let wrong = deliver_raw(&app, Some(&format!("Bearer {near_events}")), &event).await;
    assert_eq!(wrong.status(), 401);
    let right = deliver_raw(&app, Some(&format!("Bearer {EVENTS_TOKEN}")), &event).await;
    assert_eq!(right.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let logs = std::fs::read_to_string(&log_path).unwrap();
    for (what, secret) in [
        ("admin credential", ADMIN_TOKEN),
        ("near miss of the admin credential", near_admin.as_str()),
        ("events credential", EVENTS_TOKEN),
        ("near miss of the events credential", near_events.as_str()),
        ("legacy token", legacy.as_str()),
        ("other legacy token", other.as_str()),
        ("refresh token", refresh.as_str()),
        ("unknown token", "unknown-token-VALUE"),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
    let audit: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "audit")
        .collect();
    let reasons = |event: &str| -> Vec<String> {
        audit
            .iter()
            .filter(|e| e["fields"]["event"] == event)
            .map(|e| e["fields"]["reason"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        reasons("grant_revoked"),
        ["admin_api", "admin_api"],
        "{logs}"
    );
    assert_eq!(
        reasons("user_revoked"),
        ["admin_api", "auth0_event"],
        "{logs}"
    );
}
