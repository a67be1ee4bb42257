//! Attacks on "revoking a user everywhere" (issue 26), kept whether they
//! held or broke: races of sign-ins, redemptions, renewals and `prompt=none`
//! against a user's revocation; a session saved after it; the admin API's
//! credential and bodies; Auth0 event deliveries; subjects that are
//! prefixes or case variants of others; minting after cleanup and restart.
//!
//! A race "holds" when the outcome is one some order of the two requests
//! allows: whatever a request under way when the revocation answered got,
//! it is dead at the bridge afterwards (userinfo 401, refresh refused,
//! exchange refused), and a request started after it gets nothing.

use std::time::{Duration, Instant};

use idp_bridge::crypto::sha256;
use idp_bridge::reference::legacy_idp::{Faults, LegacyIdpOptions};
use idp_bridge::reference::users::{User, hash_password};
use idp_bridge::store::RefreshState;
use serde_json::{Value, json};

use crate::gateway::sections;
use crate::support::{REFRESHER_SECRET, TestApp, VAULT_SECRET, location, query_param};
use crate::token_exchange::{Tenant, exchange, exchanger_client};

const ADMIN_TOKEN: &str = "attack-admin-credential-0123456789abcdef";
const EVENTS_TOKEN: &str = "attack-events-credential-0123456789abcdef";
const ALICE: &str = "u-1001";

/// A PostgreSQL `[store]` section in a fresh schema, and the schema.
fn postgres_store() -> (String, String) {
    let schema = crate::store_suite::fresh_schema();
    (
        format!(
            "\n[store]\nurl = \"{}\"\nschema = \"{schema}\"\n",
            crate::store_suite::pg_url()
        ),
        schema,
    )
}

/// Token exchange, the gateway, the admin API and the Auth0 events webhook
/// (bearer), with `extra` appended and the legacy IdP adjusted.
async fn bridge_full(
    tenant: &Tenant,
    extra: &str,
    adjust: impl FnOnce(&mut LegacyIdpOptions),
) -> TestApp {
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n\n[auth0_events]\ntoken = \"{EVENTS_TOKEN}\"\n{extra}",
        sections(tenant, "", "", "")
    );
    TestApp::spawn_edited(&text, adjust, |t| t + &exchanger_client()).await
}

async fn bridge(tenant: &Tenant, extra: &str) -> TestApp {
    bridge_full(tenant, extra, |_| {}).await
}

/// `username` signs in in `browser` for `client` with `scope`; the code.
async fn sign_in_as(
    app: &TestApp,
    browser: &reqwest::Client,
    (client, scope): (&str, &str),
    (username, password): (&str, &str),
) -> String {
    let mut params = app.params();
    params[1].1 = client.into();
    params[3].1 = scope.into();
    let page = app.authorize(browser, &params).await.text().await.unwrap();
    let answer = app.submit_login(browser, &page, username, password).await;
    assert_eq!(answer.status(), 303, "{username} signs in");
    query_param(&location(&answer), "code").expect("a code")
}

/// alice signs in in `browser` for `auth0-oidc`; the code.
async fn sign_in(app: &TestApp, browser: &reqwest::Client) -> String {
    sign_in_as(
        app,
        browser,
        ("auth0-oidc", "openid"),
        ("alice", "correct-horse"),
    )
    .await
}

/// alice signs in for `refresher` (offline_access) and redeems; the answer.
async fn refresher_tokens(app: &TestApp) -> Value {
    let code = sign_in_as(
        app,
        &TestApp::browser(),
        ("refresher", "openid offline_access"),
        ("alice", "correct-horse"),
    )
    .await;
    let answer = app.redeem_as("refresher", REFRESHER_SECRET, &code).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// Redeems for `auth0-oidc`; the token response.
async fn redeemed(app: &TestApp, code: &str) -> Value {
    let answer = app.redeem(code).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn refresh_as(
    app: &TestApp,
    (client, secret): (&str, &str),
    token: &str,
) -> reqwest::Response {
    app.token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", client),
        ("client_secret", secret),
    ])
    .await
}

/// The status of a token exchange for `sub` (an Auth0 user id).
async fn exchange_status_for(app: &TestApp, tenant: &Tenant, sub: &str) -> u16 {
    exchange(app, &tenant.token(&[("sub", json!(sub))]))
        .await
        .status()
        .as_u16()
}

async fn exchange_status(app: &TestApp, tenant: &Tenant) -> u16 {
    exchange_status_for(app, tenant, "oidc|legacy|u-1001").await
}

async fn admin_post(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(format!(
        "{}{path}",
        app.admin_url.as_deref().expect("an admin listener")
    ));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(body).send().await.unwrap()
}

/// `POST /users/revoke` with the right credential; the answer's JSON.
async fn revoke_user(app: &TestApp, subject: &str) -> Value {
    let answer = admin_post(
        app,
        "/users/revoke",
        &[
            ("authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ("content-type", "application/json"),
        ],
        json!({ "subject": subject }).to_string(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// `prompt=none` for `auth0-oidc` in `browser`: the code, or the error.
async fn silent(app: &TestApp, browser: &reqwest::Client) -> Result<String, String> {
    let mut params = app.params();
    params.push(("prompt".into(), "none".into()));
    let answer = app.authorize(browser, &params).await;
    let at = location(&answer);
    query_param(&at, "code").ok_or_else(|| query_param(&at, "error").unwrap_or(at))
}

/// Polls the gateway with `token` until it refuses, within `bound`.
async fn gateway_refuses_within(app: &TestApp, token: &str, bound: Duration) {
    let at = Instant::now();
    loop {
        let status = gateway_status(app, token).await;
        if status == 401 {
            return;
        }
        assert!(
            at.elapsed() < bound,
            "still served after {:?}",
            at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn gateway_status(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "{}/orders/list",
            app.gateway_url.as_deref().unwrap()
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A delay spread over `0..window` by round (a race needs no randomness to
/// sweep the window).
fn spread(round: u32, rounds: u32, window: Duration) -> Duration {
    window * round / rounds.max(1)
}

// ---------------------------------------------------------------- races

/// A code redeemed at the moment its user is revoked: either the
/// redemption lost (invalid_grant) or what it handed out is dead once both
/// answered — the legacy token at userinfo, the refresh token, exchange.
async fn redemption_races_revocation(app: &TestApp, tenant: &Tenant, rounds: u32) {
    let mut won = 0;
    for round in 0..rounds {
        let code = sign_in_as(
            app,
            &TestApp::browser(),
            ("refresher", "openid offline_access"),
            ("alice", "correct-horse"),
        )
        .await;
        let delay = spread(round, rounds, Duration::from_millis(30));
        let (answer, _) = tokio::join!(
            async {
                let answer = app.redeem_as("refresher", REFRESHER_SECRET, &code).await;
                let status = answer.status().as_u16();
                (status, answer.json::<Value>().await.unwrap())
            },
            async {
                tokio::time::sleep(delay).await;
                revoke_user(app, ALICE).await
            }
        );
        match answer {
            (200, body) => {
                won += 1;
                let token = body["access_token"].as_str().unwrap();
                assert_eq!(
                    app.userinfo(token).await.status(),
                    401,
                    "round {round}: a token redeemed during the revocation lives on"
                );
                let refresh = body["refresh_token"].as_str().expect("offline_access");
                let again = refresh_as(app, ("refresher", REFRESHER_SECRET), refresh).await;
                assert_eq!(
                    again.status(),
                    400,
                    "round {round}: its refresh token lives on"
                );
            }
            (400, body) => assert_eq!(body["error"], "invalid_grant", "round {round}"),
            other => panic!("round {round}: {other:?}"),
        }
        assert_eq!(exchange_status(app, tenant).await, 400, "round {round}");
    }
    eprintln!("{won} of {rounds} redemptions finished before the revocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_a_code_redeemed_while_its_user_is_revoked() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    redemption_races_revocation(&app, &tenant, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_a_code_redeemed_while_its_user_is_revoked_on_postgresql() {
    let tenant = Tenant::start().await;
    let (store, schema) = postgres_store();
    let app = bridge(&tenant, &store).await;
    redemption_races_revocation(&app, &tenant, 20).await;
    crate::store_suite::drop_schema(&schema).await;
}

/// alice's refresh token for `client`, and the token answer it came with.
async fn refresh_token_of(app: &TestApp, client: (&str, &str)) -> (String, Value) {
    let code = sign_in_as(
        app,
        &TestApp::browser(),
        (client.0, "openid offline_access"),
        ("alice", "correct-horse"),
    )
    .await;
    let first: Value = app
        .redeem_as(client.0, client.1, &code)
        .await
        .json()
        .await
        .unwrap();
    let refresh = first["refresh_token"].as_str().expect("refresh").to_owned();
    (refresh, first)
}

/// A refresh whose renewal upstream is under way when the user is revoked
/// (the legacy IdP answers slowly, so the revocation lands between the
/// claim and `complete_rotation`): the renewal hands nothing out.
async fn lose_a_renewal_to_the_revocation(app: &TestApp, client: (&str, &str), refresh: &str) {
    app.legacy.idp.set_faults(Faults {
        latency_ms: 600,
        ..Faults::default()
    });
    let renewals = app.legacy.idp.renewals();
    let (renewal, ended) = tokio::join!(
        async {
            let answer = refresh_as(app, client, refresh).await;
            (
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap(),
            )
        },
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            revoke_user(app, ALICE).await
        }
    );
    app.legacy.idp.set_faults(Faults::default());
    assert_eq!(app.legacy.idp.renewals() - renewals, 1, "renewed upstream");
    assert_eq!(ended["refresh_tokens_revoked"], 1, "{ended}");
    assert_eq!(
        (renewal.0, renewal.1["error"].as_str()),
        (400, Some("invalid_grant")),
        "a renewal that finished after the revocation hands nothing out: {}",
        renewal.1
    );
}

/// ... and nothing the renewal stored serves: the presented token, the
/// exchange, the gateway, the first legacy token.
async fn refresh_renewal_races_revocation(app: &TestApp, tenant: &Tenant, client: (&str, &str)) {
    let (refresh, first) = refresh_token_of(app, client).await;
    lose_a_renewal_to_the_revocation(app, client, &refresh).await;
    let again = refresh_as(app, client, &refresh).await;
    assert_eq!(again.status(), 400);
    assert_eq!(exchange_status(app, tenant).await, 400);
    assert_eq!(gateway_status(app, &tenant.token(&[])).await, 401);
    let row = app
        .store()
        .refresh(&sha256(refresh.as_bytes()))
        .await
        .unwrap()
        .expect("the row");
    let grant = app
        .store()
        .grant(&row.grant_id)
        .await
        .unwrap()
        .expect("grant");
    assert!(grant.revoked, "the grant stays revoked");
    assert_eq!(
        app.userinfo(first["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_a_rotating_refresh_renewal_finishing_after_the_revocation() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    refresh_renewal_races_revocation(&app, &tenant, ("refresher", REFRESHER_SECRET)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_a_non_rotating_refresh_renewal_finishing_after_the_revocation() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    refresh_renewal_races_revocation(&app, &tenant, ("token-vault", VAULT_SECRET)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_a_refresh_renewal_finishing_after_the_revocation_on_postgresql() {
    let tenant = Tenant::start().await;
    let (store, schema) = postgres_store();
    let app = bridge(&tenant, &store).await;
    refresh_renewal_races_revocation(&app, &tenant, ("refresher", REFRESHER_SECRET)).await;
    refresh_renewal_races_revocation(&app, &tenant, ("token-vault", VAULT_SECRET)).await;
    crate::store_suite::drop_schema(&schema).await;
}

/// After a renewal lost to a revocation, no refresh row of the revoked
/// grant reads as usable: the revocation said "every refresh token", and a
/// usable-looking row keeps the revoked grant from cleanup until the
/// family's end (30 days by default).
async fn no_live_refresh_row_after_a_lost_renewal(client: (&str, &str)) {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let (refresh, _) = refresh_token_of(&app, client).await;
    lose_a_renewal_to_the_revocation(&app, client, &refresh).await;
    let row = app
        .store()
        .refresh(&sha256(refresh.as_bytes()))
        .await
        .unwrap()
        .expect("the row");
    eprintln!("the presented refresh token is now {:?}", row.state);
    // Past every code, form and token, before the family's end: a revoked
    // grant with no live family goes.
    let now = idp_bridge::clock::now_unix();
    let cleaned = app.cleanup_at(now + 7200).await;
    assert_eq!(
        (row.state, cleaned.grants),
        (RefreshState::Revoked, 1),
        "the revoked grant is kept by a refresh row the renewal wrote after the revocation ({cleaned:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotating_renewal_lost_to_the_revocation_leaves_no_live_refresh_row() {
    no_live_refresh_row_after_a_lost_renewal(("refresher", REFRESHER_SECRET)).await;
}

/// Fixed: `KEEP_REFRESH` set the revoked token back to active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_rotating_renewal_lost_to_the_revocation_leaves_no_live_refresh_row() {
    no_live_refresh_row_after_a_lost_renewal(("token-vault", VAULT_SECRET)).await;
}

/// A bridge whose legacy IdP issues one-second tokens and slow renewals:
/// every exchange renews the grant's legacy token.
async fn renewing_bridge(tenant: &Tenant, extra: &str) -> TestApp {
    let text = format!(
        "{}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{ADMIN_TOKEN}\"\n{extra}",
        sections(tenant, "renew_skew_seconds = 0", "", "")
    );
    TestApp::spawn_edited(
        &text,
        |o| {
            o.token_ttl = 1;
            o.renewed_token_ttl = Some(120);
        },
        |t| t + &exchanger_client(),
    )
    .await
}

/// An exchange renewing the user's legacy token (slowly, upstream) while the
/// user is revoked: it hands nothing out, and stores nothing that serves.
async fn exchange_renewal_races_revocation(app: &TestApp, tenant: &Tenant) {
    let tokens = refresher_tokens(app).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.legacy.idp.set_faults(Faults {
        latency_ms: 600,
        ..Faults::default()
    });
    let renewals = app.legacy.idp.renewals();
    let (answer, _) = tokio::join!(
        async {
            let answer = exchange(app, &tenant.token(&[])).await;
            (
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap(),
            )
        },
        async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            revoke_user(app, ALICE).await
        }
    );
    app.legacy.idp.set_faults(Faults::default());
    assert_eq!(
        app.legacy.idp.renewals() - renewals,
        1,
        "the renewal ran upstream"
    );
    assert_eq!(
        answer.0, 400,
        "a renewal finishing after the revocation hands nothing out: {}",
        answer.1
    );
    assert_eq!(exchange_status(app, tenant).await, 400);
    assert_eq!(gateway_status(app, &tenant.token(&[])).await, 401);
    let grants = app
        .store()
        .grants_by_token_hash(&idp_bridge::grant::token_hash(
            tokens["access_token"].as_str().unwrap(),
        ))
        .await
        .unwrap();
    assert!(grants.iter().all(|g| g.revoked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_an_exchange_renewal_finishing_after_the_revocation() {
    let tenant = Tenant::start().await;
    let app = renewing_bridge(&tenant, "").await;
    exchange_renewal_races_revocation(&app, &tenant).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_an_exchange_renewal_finishing_after_the_revocation_on_postgresql() {
    let tenant = Tenant::start().await;
    let (store, schema) = postgres_store();
    let app = renewing_bridge(&tenant, &store).await;
    exchange_renewal_races_revocation(&app, &tenant).await;
    crate::store_suite::drop_schema(&schema).await;
}

/// `prompt=none` answering from a session at the moment its user is
/// revoked: the code it issues (if any) must not redeem into a live token.
/// Returns the rounds where it did, with what the token then reached.
async fn silent_races_revocation(app: &TestApp, tenant: &Tenant, rounds: u32) -> Vec<String> {
    // How long prompt=none takes here: the revocation is swept over it.
    let browser = TestApp::browser();
    redeemed(app, &sign_in(app, &browser).await).await;
    let started = Instant::now();
    silent(app, &browser).await.expect("a code");
    let window = started.elapsed();
    let mut breaches = Vec::new();
    for round in 0..rounds {
        let browser = TestApp::browser();
        redeemed(app, &sign_in(app, &browser).await).await;
        // The grant is read first and written last: the early part of the
        // answer is where a revocation falls between the two.
        let delay = spread(round % 20, 20, window / 2);
        let (code, _) = tokio::join!(silent(app, &browser), async {
            tokio::time::sleep(delay).await;
            revoke_user(app, ALICE).await
        });
        let Ok(code) = code else { continue };
        let answer = app.redeem(&code).await;
        if answer.status() != 200 {
            continue;
        }
        let body: Value = answer.json().await.unwrap();
        let token = body["access_token"].as_str().unwrap();
        breaches.push(format!(
            "round {round} (revoked after {delay:?}): redeemed after the revocation answered; userinfo {}, exchange {}",
            app.userinfo(token).await.status(),
            exchange_status(app, tenant).await
        ));
        if breaches.len() >= 3 {
            break;
        }
        // The next round starts from a clean slate.
        revoke_user(app, ALICE).await;
    }
    eprintln!("prompt=none took {window:?}; breaches: {breaches:#?}");
    breaches
}

const SILENT_RACE: &str = "bug: prompt=none reads the session's grant, then inserts a new unrevoked grant sharing its legacy token; a revocation committed between the two misses the new grant, so its code redeems after the revocation answered and the revoked legacy token serves again at userinfo, exchange and the gateway (src/login/authorize.rs silent; needs the check and the insert serialized with revoke_user)";

/// The race made certain on SQLite: another process holds the database's
/// write lock, so the revocation, sent first, waits for it holding the
/// bridge's writer; prompt=none, sent next, reads the session's grant (not
/// revoked yet: WAL readers do not wait) and queues its insert behind the
/// revocation. The lock goes: the revocation commits, then the new grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_prompt_none_reading_its_grant_before_the_revocation_and_writing_after() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let browser = TestApp::browser();
    redeemed(&app, &sign_in(&app, &browser).await).await;
    let db = rusqlite::Connection::open(app.data_dir.path().join("bridge.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (ended, code, ()) = tokio::join!(
        revoke_user(&app, ALICE),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            silent(&app, &browser).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            db.execute_batch("COMMIT").unwrap();
        }
    );
    assert_eq!(ended["grants_revoked"], 1, "{ended}");
    assert_eq!(ended["sessions_ended"], 1, "{ended}");
    let code = match code {
        Ok(code) => code,
        // The session's grant was revoked before the new grant could be
        // stored: no code at all, which is the fix.
        Err(error) => {
            assert_eq!(error, "login_required");
            assert_eq!(exchange_status(&app, &tenant).await, 400);
            return;
        }
    };
    let answer = app.redeem(&code).await;
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap_or("");
    let userinfo = app.userinfo(token).await.status().as_u16();
    let exchanged = exchange_status(&app, &tenant).await;
    assert_eq!(
        (status, userinfo, exchanged),
        (400, 401, 400),
        "{SILENT_RACE}: a code issued from a session the revocation had ended redeems: {body}"
    );
}

/// The same race against a grant's revocation (RFC 7009 `/revoke` of the
/// session's legacy token): older than issue 26, same cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_prompt_none_reading_its_grant_before_a_grant_revocation_and_writing_after() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let browser = TestApp::browser();
    let signed_in = redeemed(&app, &sign_in(&app, &browser).await).await;
    let token = signed_in["access_token"].as_str().unwrap().to_owned();
    let db = rusqlite::Connection::open(app.data_dir.path().join("bridge.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (revoked, code, ()) = tokio::join!(
        reqwest::Client::new()
            .post(format!("{}/revoke", app.issuer))
            .form(&[
                ("client_id", "auth0-oidc"),
                ("client_secret", crate::support::OIDC_SECRET),
                ("token", token.as_str()),
            ])
            .send(),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            silent(&app, &browser).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            db.execute_batch("COMMIT").unwrap();
        }
    );
    assert_eq!(revoked.unwrap().status(), 200);
    // Even before its code is redeemed, the new grant holds the token live
    // for userinfo (which, unlike exchange, does not ask for a redeemed
    // grant).
    let before = app.userinfo(&token).await.status().as_u16();
    let redeemed = match code {
        Ok(code) => app.redeem(&code).await.status().as_u16(),
        // No code: the session's grant was revoked before the new grant
        // could be stored (the fix); a redemption would be refused too.
        Err(error) => {
            assert_eq!(error, "login_required");
            400
        }
    };
    let after = app.userinfo(&token).await.status().as_u16();
    assert_eq!(
        (before, redeemed, after),
        (401, 400, 401),
        "{SILENT_RACE}: the revoked legacy token serves again (userinfo before the code's redemption, the redemption, userinfo after)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_prompt_none_while_its_user_is_revoked_on_postgresql() {
    let tenant = Tenant::start().await;
    let (store, schema) = postgres_store();
    let app = bridge(&tenant, &store).await;
    let breaches = silent_races_revocation(&app, &tenant, 80).await;
    crate::store_suite::drop_schema(&schema).await;
    assert!(breaches.is_empty(), "{SILENT_RACE}: {breaches:#?}");
}

/// A gateway lookup (a cache miss) at the moment the user is revoked: once
/// the revocation answered, a new token is refused at once and the raced
/// one within a poll, whichever finished first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_a_gateway_lookup_while_its_user_is_revoked() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let rounds = 10;
    for round in 0..rounds {
        redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
        let raced = tenant.token(&[("jti", json!(idp_bridge::crypto::random_token()))]);
        let delay = spread(round, rounds, Duration::from_millis(20));
        let (status, _) = tokio::join!(gateway_status(&app, &raced), async {
            tokio::time::sleep(delay).await;
            revoke_user(&app, ALICE).await
        });
        assert!(status == 200 || status == 401, "round {round}: {status}");
        let fresh = tenant.token(&[("jti", json!(idp_bridge::crypto::random_token()))]);
        assert_eq!(gateway_status(&app, &fresh).await, 401, "round {round}");
        gateway_refuses_within(&app, &raced, Duration::from_millis(200 + 1500)).await;
    }
}

// ------------------------------------------------- sessions and prompt=none

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
    let now = idp_bridge::clock::now_unix();
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

// ------------------------------------------------------------- admin API

async fn admin_status(app: &TestApp, headers: &[(&str, &str)], body: &str) -> u16 {
    admin_post(app, "/users/revoke", headers, body.to_owned())
        .await
        .status()
        .as_u16()
}

/// The admin credential's header, every odd way: only the right credential
/// after the `Bearer` scheme (case-insensitive, RFC 7235 §2.1) opens it.
#[tokio::test]
async fn the_admin_credential_is_checked_whatever_the_header_looks_like() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    let json_type = ("content-type", "application/json");
    // A subject nobody has: a 200 revokes nothing, and alice stays.
    let body = json!({"subject": "nobody-at-all"}).to_string();
    let long = "x".repeat(20_000);
    let refused = [
        String::new(),
        "Bearer".into(),
        "Bearer ".into(),
        ADMIN_TOKEN.into(),
        format!("Basic {ADMIN_TOKEN}"),
        format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("admin:{ADMIN_TOKEN}")
            )
        ),
        format!("Bearer{ADMIN_TOKEN}"),
        format!("Bearer\t{ADMIN_TOKEN}"),
        format!("Bearer {ADMIN_TOKEN}x"),
        format!("Bearer {}", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]),
        format!("Bearer x{ADMIN_TOKEN}"),
        format!("Bearer {}", ADMIN_TOKEN.to_uppercase()),
        format!("Bearer {ADMIN_TOKEN} {ADMIN_TOKEN}"),
        format!("Bearer {long}"),
        format!("Token {ADMIN_TOKEN}"),
    ];
    for value in &refused {
        let mut headers = vec![json_type];
        if !value.is_empty() {
            headers.push(("authorization", value.as_str()));
        }
        let answer = admin_post(&app, "/users/revoke", &headers, body.clone()).await;
        assert_eq!(answer.status(), 401, "{value:.60}");
        assert!(
            answer.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
    // Bytes that are no text.
    let opaque = reqwest::Client::new()
        .post(format!(
            "{}/users/revoke",
            app.admin_url.as_deref().unwrap()
        ))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opaque.status(), 401);
    // Two Authorization headers: the first is the one read, so a wrong one
    // first is refused.
    let two = reqwest::Client::new()
        .post(format!(
            "{}/users/revoke",
            app.admin_url.as_deref().unwrap()
        ))
        .header("authorization", "Bearer wrong-credential")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(two.status(), 401);
    assert_eq!(exchange_status(&app, &tenant).await, 200, "alice untouched");
    // The scheme in any case, and more than one space (RFC 7235 §2.1:
    // `credentials = auth-scheme [ 1*SP token68 ]`).
    for value in [
        format!("Bearer {ADMIN_TOKEN}"),
        format!("bearer {ADMIN_TOKEN}"),
        format!("BEARER {ADMIN_TOKEN}"),
        format!("Bearer   {ADMIN_TOKEN}"),
        format!("Bearer {ADMIN_TOKEN}   "),
    ] {
        let status = admin_status(&app, &[json_type, ("authorization", &value)], &body).await;
        assert_eq!(status, 200, "{value}");
    }
}

/// The credential is compared as SHA-256 digests in constant time, so
/// neither its length nor a right prefix answers faster. Over HTTP only a
/// gross difference could show; this checks there is none.
#[tokio::test]
async fn a_wrong_admin_credential_costs_the_same_whatever_its_length_or_prefix() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    let body = json!({"subject": "nobody-at-all"}).to_string();
    let candidates = [
        "x".to_owned(),
        "y".repeat(ADMIN_TOKEN.len()),
        format!("{}!", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]),
        "z".repeat(4000),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); candidates.len()];
    for _ in 0..60 {
        for (i, candidate) in candidates.iter().enumerate() {
            let value = format!("Bearer {candidate}");
            let started = Instant::now();
            let status = admin_status(
                &app,
                &[
                    ("content-type", "application/json"),
                    ("authorization", &value),
                ],
                &body,
            )
            .await;
            samples[i].push(started.elapsed());
            assert_eq!(status, 401);
        }
    }
    let medians: Vec<Duration> = samples
        .iter_mut()
        .map(|s| {
            s.sort();
            s[s.len() / 2]
        })
        .collect();
    eprintln!("median answer per candidate (short, same length, right prefix, long): {medians:?}");
    let (low, high) = (medians.iter().min().unwrap(), medians.iter().max().unwrap());
    assert!(
        high.saturating_sub(*low) < Duration::from_millis(5),
        "a candidate answers measurably differently: {medians:?}"
    );
}

/// Bodies an operator's script gets wrong: each is refused before anything
/// is revoked, and no refusal echoes what was sent.
#[tokio::test]
async fn admin_bodies_that_are_not_the_expected_json_revoke_nothing() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let auth = ("authorization", bearer.as_str());
    let json_type = ("content-type", "application/json");
    let alice = json!({"subject": ALICE}).to_string();
    // Content types.
    for (content_type, expected) in [
        (None, 415),
        (Some("text/plain"), 415),
        (Some("application/x-www-form-urlencoded"), 415),
        (Some("APPLICATION/JSON"), 415),
        (Some("multipart/form-data; boundary=x"), 415),
    ] {
        let mut headers = vec![auth];
        if let Some(t) = content_type {
            headers.push(("content-type", t));
        }
        assert_eq!(
            admin_status(&app, &headers, &alice).await,
            expected,
            "{content_type:?}"
        );
    }
    // JSON that is not the request.
    let secret = "SECRET-VALUE-NEVER-ECHOED";
    for body in [
        String::new(),
        "not json".into(),
        "null".into(),
        "[]".into(),
        format!("[\"nobody\", \"{ALICE}\"]"),
        "{}".into(),
        json!({"subject": null}).to_string(),
        json!({"subject": 1001}).to_string(),
        json!({"subject": [ALICE]}).to_string(),
        json!({"subject": {"eq": ALICE}}).to_string(),
        json!({"subject": ALICE, "extra": secret}).to_string(),
        json!({"user": ALICE}).to_string(),
        // Duplicate keys: refused rather than one of them chosen.
        format!("{{\"subject\": \"nobody\", \"subject\": \"{ALICE}\"}}"),
        format!("{{\"subject\": \"{ALICE}\", \"subject\": \"nobody\"}}"),
        format!("{{\"subject\": \"{ALICE}\"}} trailing"),
        format!("{{\"subject\": \"{ALICE}\"}}{{\"subject\": \"{ALICE}\"}}"),
        format!("{{\"subject\": \"{secret}"),
        json!({"subject": ""}).to_string(),
    ] {
        let answer = admin_post(&app, "/users/revoke", &[auth, json_type], body.clone()).await;
        assert_eq!(answer.status(), 400, "{body}");
        let text = answer.text().await.unwrap();
        assert!(!text.contains(secret), "{text}");
    }
    // serde reads a struct from the array of its fields too: `["x"]` is
    // `{"subject": "x"}`, the same meaning (and nothing more fits in).
    let answer = admin_post(
        &app,
        "/users/revoke",
        &[auth, json_type],
        "[\"nobody-at-all\"]".to_owned(),
    )
    .await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["subject"], "nobody-at-all");
    // A grant request naming a token in the wrong shape does not echo it.
    let answer = admin_post(
        &app,
        "/grants/revoke",
        &[auth, json_type],
        json!({"token": [secret]}).to_string(),
    )
    .await;
    assert_eq!(answer.status(), 400);
    assert!(!answer.text().await.unwrap().contains(secret));
    // Bodies past the limit (64 KiB): 413, nothing read.
    let padded = json!({"subject": ALICE, "pad": "p".repeat(70 * 1024)}).to_string();
    assert_eq!(admin_status(&app, &[auth, json_type], &padded).await, 413);
    let huge = json!({"subject": "q".repeat(2 * 1024 * 1024)}).to_string();
    assert_eq!(admin_status(&app, &[auth, json_type], &huge).await, 413);
    // A media type parameter is fine.
    assert_eq!(exchange_status(&app, &tenant).await, 200, "alice untouched");
    let answer = admin_post(
        &app,
        "/users/revoke",
        &[auth, ("content-type", "application/json; charset=utf-8")],
        alice,
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(exchange_status(&app, &tenant).await, 400);
}

/// Subjects with characters SQL or a log could mistake: each is a subject
/// of its own, revoking nobody else, and answered as it was sent.
async fn odd_subjects_revoke_only_themselves(app: &TestApp, tenant: &Tenant) {
    redeemed(app, &sign_in(app, &TestApp::browser()).await).await;
    for subject in [
        "%".to_owned(),
        "u-100%".into(),
        "u-100_".into(),
        "_-1001".into(),
        "*".into(),
        "u-1001'".into(),
        "' OR '1'='1".into(),
        "u-1001' OR subject LIKE '%".into(),
        "u-1001\"; DROP TABLE grants; --".into(),
        "u-1001\\".into(),
        "ü-1001".into(),
        "u\u{2010}1001".into(),
        "u-1001\u{200b}".into(),
        "u-1001\n".into(),
        " u-1001".into(),
        "u-1001 ".into(),
        "U-1001".into(),
        "u-100".into(),
        "u-10011".into(),
        "🙂".repeat(2000),
        "s".repeat(60_000),
    ] {
        let ended = revoke_user(app, &subject).await;
        assert_eq!(ended["subject"], subject.as_str(), "answered as sent");
        assert_eq!(ended["grants_revoked"], 0, "{subject:.40}: {ended}");
        assert_eq!(
            exchange_status(app, tenant).await,
            200,
            "{subject:.40} touched alice"
        );
    }
}

#[tokio::test]
async fn odd_subjects_revoke_only_themselves_on_sqlite() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    odd_subjects_revoke_only_themselves(&app, &tenant).await;
    // A NUL is a subject too for SQLite.
    assert_eq!(revoke_user(&app, "u-1001\u{0}").await["grants_revoked"], 0);
    assert_eq!(exchange_status(&app, &tenant).await, 200);
}

#[tokio::test]
async fn odd_subjects_revoke_only_themselves_on_postgresql() {
    let tenant = Tenant::start().await;
    let (store, schema) = postgres_store();
    let app = bridge(&tenant, &store).await;
    odd_subjects_revoke_only_themselves(&app, &tenant).await;
    // PostgreSQL text holds no NUL: the store refuses, nothing changed (no
    // grant could have such a subject either).
    let answer = admin_post(
        &app,
        "/users/revoke",
        &[
            ("authorization", &format!("Bearer {ADMIN_TOKEN}")),
            ("content-type", "application/json"),
        ],
        json!({"subject": "u-1001\u{0}"}).to_string(),
    )
    .await;
    let status = answer.status().as_u16();
    eprintln!(
        "a NUL subject on PostgreSQL: {status} {}",
        answer.text().await.unwrap()
    );
    assert!(status == 503 || status == 400, "{status}");
    assert_eq!(exchange_status(&app, &tenant).await, 200);
    crate::store_suite::drop_schema(&schema).await;
}

// ---------------------------------------------------------- Auth0 events

async fn deliver_raw(app: &TestApp, authorization: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}/events/auth0", app.issuer))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

/// Delivers with the bearer credential; the status and the answer.
async fn deliver(app: &TestApp, event: &Value) -> (u16, Value) {
    let answer = deliver_raw(
        app,
        Some(&format!("Bearer {EVENTS_TOKEN}")),
        &event.to_string(),
    )
    .await;
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

fn cloud_event(id: &Value, kind: &str, object: &Value) -> Value {
    json!({
        "specversion": "1.0",
        "type": kind,
        "source": "urn:auth0:example-tenant.us.auth0.com:users",
        "id": id,
        "time": "2026-12-06T10:00:00Z",
        "data": { "object": object.clone() },
    })
}

fn deleted(id: &Value, user_id: &str) -> Value {
    cloud_event(id, "user.deleted", &json!({ "user_id": user_id }))
}

/// alice and bob signed in, each exchangeable.
async fn alice_and_bob(app: &TestApp, tenant: &Tenant) {
    redeemed(app, &sign_in(app, &TestApp::browser()).await).await;
    redeemed(
        app,
        &sign_in_as(
            app,
            &TestApp::browser(),
            ("auth0-oidc", "openid"),
            ("bob", "battery-staple"),
        )
        .await,
    )
    .await;
    assert_eq!(exchange_status(app, tenant).await, 200);
    assert_eq!(
        exchange_status_for(app, tenant, "oidc|legacy|u-1002").await,
        200
    );
}

/// An event id is acted on once, whatever the second delivery names: a
/// replay carrying another user revokes nobody (Auth0 never reuses an id;
/// whoever holds the webhook credential can revoke anyone anyway). A
/// number and a string of the same digits are one id.
#[tokio::test]
async fn auth0_event_ids_are_acted_on_once_whatever_the_replay_carries() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    alice_and_bob(&app, &tenant).await;
    let (status, body) = deliver(&app, &deleted(&json!("evt-x"), "oidc|legacy|u-1001")).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("revoked")));
    let (status, body) = deliver(&app, &deleted(&json!("evt-x"), "oidc|legacy|u-1002")).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("duplicate")));
    assert_eq!(
        exchange_status_for(&app, &tenant, "oidc|legacy|u-1002").await,
        200,
        "bob untouched by a replayed id"
    );
    // 1 and "1".
    let (_, body) = deliver(&app, &deleted(&json!(1), "oidc|legacy|u-1002")).await;
    assert_eq!(body["outcome"], "revoked");
    redeemed(
        &app,
        &sign_in_as(
            &app,
            &TestApp::browser(),
            ("auth0-oidc", "openid"),
            ("bob", "battery-staple"),
        )
        .await,
    )
    .await;
    let (_, body) = deliver(&app, &deleted(&json!("1"), "oidc|legacy|u-1002")).await;
    assert_eq!(body["outcome"], "duplicate", "1 and \"1\" are one id");
    assert_eq!(
        exchange_status_for(&app, &tenant, "oidc|legacy|u-1002").await,
        200
    );
    // An ignored event does not spend its id: the same id revoking later
    // acts.
    let unblocked = cloud_event(
        &json!("evt-y"),
        "user.updated",
        &json!({"user_id": "oidc|legacy|u-1002", "blocked": false}),
    );
    assert_eq!(deliver(&app, &unblocked).await.1["outcome"], "ignored");
    let (_, body) = deliver(&app, &deleted(&json!("evt-y"), "oidc|legacy|u-1002")).await;
    assert_eq!(body["outcome"], "revoked");
}

/// Ids and bodies Auth0 would never send: refused (400) or acknowledged
/// without revoking; none panics, none revokes alice.
#[tokio::test]
#[allow(clippy::too_many_lines)] // one odd delivery after another
async fn odd_auth0_deliveries_are_refused_or_ignored() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    let bearer = format!("Bearer {EVENTS_TOKEN}");
    let alice = "oidc|legacy|u-1001";
    for (what, body) in [
        ("not JSON", "user.deleted u-1001".to_owned()),
        ("empty", String::new()),
        ("an array", json!([deleted(&json!("a"), alice)]).to_string()),
        (
            "no id",
            json!({"type": "user.deleted", "data": {"object": {"user_id": alice}}}).to_string(),
        ),
        (
            "no type",
            json!({"id": "b", "data": {"object": {"user_id": alice}}}).to_string(),
        ),
        ("an empty id", deleted(&json!(""), alice).to_string()),
        ("a null id", deleted(&Value::Null, alice).to_string()),
        (
            "an object id",
            deleted(&json!({"id": "c"}), alice).to_string(),
        ),
        (
            "a 257-byte id",
            deleted(&json!("i".repeat(257)), alice).to_string(),
        ),
        (
            "a 65-character id of 4-byte characters",
            deleted(&json!("🙂".repeat(65)), alice).to_string(),
        ),
        (
            "a number out of range",
            format!(
                "{{\"id\": 1e400, \"type\": \"user.deleted\", \"data\": {{\"object\": {{\"user_id\": \"{alice}\"}}}}}}"
            ),
        ),
    ] {
        let answer = deliver_raw(&app, Some(&bearer), &body).await;
        assert_eq!(answer.status(), 400, "{what}");
    }
    assert_eq!(exchange_status(&app, &tenant).await, 200);
    // Acknowledged, revoking nobody.
    for (what, event) in [
        ("data missing", json!({"id": "d1", "type": "user.deleted"})),
        (
            "object missing",
            json!({"id": "d2", "type": "user.deleted", "data": {}}),
        ),
        (
            "blocked as a string",
            cloud_event(
                &json!("d3"),
                "user.updated",
                &json!({"user_id": alice, "blocked": "true"}),
            ),
        ),
        (
            "blocked as 1",
            cloud_event(
                &json!("d4"),
                "user.updated",
                &json!({"user_id": alice, "blocked": 1}),
            ),
        ),
        (
            "another connection",
            cloud_event(
                &json!("d5"),
                "user.updated",
                &json!({"user_id": "oidc|other|u-1001", "blocked": true}),
            ),
        ),
        ("a database user", deleted(&json!("d6"), "auth0|u-1001")),
        (
            "an upper-case strategy",
            deleted(&json!("d7"), "OIDC|legacy|u-1001"),
        ),
        (
            "another case of the connection",
            deleted(&json!("d8"), "oidc|Legacy|u-1001"),
        ),
        ("an empty id part", deleted(&json!("d9"), "oidc|legacy|")),
        ("two parts", deleted(&json!("d10"), "oidc|legacy")),
        (
            "an empty connection",
            deleted(&json!("d11"), "oidc||u-1001"),
        ),
        (
            "a user_id number",
            cloud_event(&json!("d12"), "user.deleted", &json!({"user_id": 1001})),
        ),
        (
            "another type",
            cloud_event(&json!("d13"), "user.blocked", &json!({"user_id": alice})),
        ),
        (
            "a type with a suffix",
            cloud_event(&json!("d14"), "user.deleted.v2", &json!({"user_id": alice})),
        ),
        (
            "a linked identity of another connection",
            cloud_event(
                &json!("d15"),
                "user.deleted",
                &json!({"user_id": "auth0|1", "identities": [{"provider": "oidc", "connection": "other", "user_id": ALICE}]}),
            ),
        ),
        (
            "a linked identity of a database connection named like ours",
            cloud_event(
                &json!("d16"),
                "user.deleted",
                &json!({"user_id": "auth0|1", "identities": [{"provider": "auth0", "connection": "legacy", "user_id": ALICE}]}),
            ),
        ),
        (
            "a linked identity with a float id",
            cloud_event(
                &json!("d17"),
                "user.deleted",
                &json!({"user_id": "auth0|1", "identities": [{"provider": "oidc", "connection": "legacy", "user_id": 1001.5}]}),
            ),
        ),
    ] {
        let (status, body) = deliver(&app, &event).await;
        assert_eq!(status, 200, "{what}");
        assert_ne!(body["outcome"], "revoked", "{what}: {body}");
    }
    assert_eq!(exchange_status(&app, &tenant).await, 200, "alice untouched");
    // A user id with more `|`: the legacy subject is everything after the
    // connection, so it names another subject, not alice.
    let (_, body) = deliver(&app, &deleted(&json!("e1"), "oidc|legacy|u-1001|evil")).await;
    assert_eq!(
        (body["outcome"].as_str(), body["subject"].as_str()),
        (Some("revoked"), Some("u-1001|evil"))
    );
    assert_eq!(exchange_status(&app, &tenant).await, 200, "alice untouched");
    // 256 bytes is the longest id.
    let (status, body) = deliver(&app, &deleted(&json!("i".repeat(256)), alice)).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("revoked")));
    assert_eq!(exchange_status(&app, &tenant).await, 400);
}

/// The webhook credential, every odd way; a bridge with basic credentials
/// whose password holds colons.
#[tokio::test]
async fn the_auth0_webhook_credential_is_checked_whatever_the_header_looks_like() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    let event = deleted(&json!("w1"), "oidc|legacy|u-1001").to_string();
    for value in [
        None,
        Some(EVENTS_TOKEN.to_owned()),
        Some(format!("Bearer {ADMIN_TOKEN}")),
        Some(format!("Bearer {EVENTS_TOKEN}x")),
        Some(format!("Bearer {}", &EVENTS_TOKEN[1..])),
        Some(format!("Basic {EVENTS_TOKEN}")),
        Some(format!("Bearer\t{EVENTS_TOKEN}")),
    ] {
        let answer = deliver_raw(&app, value.as_deref(), &event).await;
        assert_eq!(answer.status(), 401, "{value:?}");
    }
    assert_eq!(exchange_status(&app, &tenant).await, 200);
    let answer = deliver_raw(&app, Some(&format!("bearer {EVENTS_TOKEN}")), &event).await;
    assert_eq!(answer.status(), 200, "the scheme is case-insensitive");
    assert_eq!(exchange_status(&app, &tenant).await, 400);

    let password = "pass:word:0123456789abcdef0123456789";
    let basic = format!(
        "{}\n[auth0_events]\nusername = \"auth0\"\npassword = \"{password}\"\n",
        sections(&tenant, "", "", "")
    );
    let app = TestApp::spawn_edited(&basic, |_| {}, |t| t + &exchanger_client()).await;
    redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    let encode =
        |text: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, text);
    for (what, value) in [
        (
            "the password up to its first colon",
            format!("Basic {}", encode("auth0:pass")),
        ),
        ("no user name", format!("Basic {}", encode(password))),
        (
            "another user name",
            format!("Basic {}", encode(&format!("auth1:{password}"))),
        ),
        ("not base64", format!("Basic auth0:{password}")),
        ("the bearer form", format!("Bearer {password}")),
    ] {
        let answer = deliver_raw(&app, Some(&value), &event).await;
        assert_eq!(answer.status(), 401, "{what}");
        assert!(
            answer.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
    }
    assert_eq!(exchange_status(&app, &tenant).await, 200);
    // The decoded `user:password` is compared whole: a colon in the
    // password is just a character of it.
    let answer = deliver_raw(
        &app,
        Some(&format!("Basic {}", encode(&format!("auth0:{password}")))),
        &event,
    )
    .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(exchange_status(&app, &tenant).await, 400);
}

/// Auth0 allows up to 16 MB of metadata per user (16 KB advised), and a
/// `user.updated` event carries the whole user. The bridge reads at most
/// 64 KiB of any body: a larger delivery is 413, Auth0 retries it until it
/// gives up (and counts it toward disabling the stream), and the blocked
/// user is never revoked.
#[tokio::test]
async fn a_blocked_user_with_large_metadata_is_revoked() {
    let tenant = Tenant::start().await;
    let app = bridge(&tenant, "").await;
    redeemed(&app, &sign_in(&app, &TestApp::browser()).await).await;
    let blocked = cloud_event(
        &json!("big-1"),
        "user.updated",
        &json!({
            "user_id": "oidc|legacy|u-1001",
            "blocked": true,
            "app_metadata": { "roles": vec!["a-role-name-of-some-length"; 4000] },
        }),
    );
    assert!(blocked.to_string().len() > 64 * 1024);
    let (status, _) = deliver(&app, &blocked).await;
    assert_eq!(status, 200, "an Auth0 delivery of a blocked user");
    assert_eq!(exchange_status(&app, &tenant).await, 400);
}

// ------------------------------------------------------ subject confusion

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
    let now = idp_bridge::clock::now_unix();
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
    let now = idp_bridge::clock::now_unix();
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
