//! Lazy migration: the custom database scripts `idp-bridge auth0 migration`
//! prints, run under Node (`harness.js` stands in for Auth0's sandbox)
//! against a live bridge in front of the reference legacy IdP — a good
//! password, a wrong one, a throttled user (the same on the login page), a
//! legacy IdP that is down, a wrong or missing credential, an address off
//! the allow-list; `get_user` and hostile input in [`get_user`]; the audit
//! lines and the logs in [`audit`]; a user locked at the legacy IdP in
//! [`locked`]; the `auth0|` mapping as an attacker tries it in [`mapping`];
//! tokens passed through and minted in [`journey_metrics`]. The journey's
//! last step, retirement, is in [`retirement`].

mod audit;
mod get_user;
mod journey_metrics;
mod locked;
mod mapping;
mod retirement;

use serde_json::{Value, json};

use crate::support::TestApp;
use idp_bridge::cli::auth0::{MigrationFormat, migration_output};

/// The `[migration]` credential of the tests.
pub const TOKEN: &str = "migration-token-for-the-tests-0123456789";

/// `[migration]` with the tests' credential and `extra` lines.
pub fn section(extra: &str) -> String {
    format!("[migration]\ntoken = \"{TOKEN}\"\n{extra}\n")
}

/// The connection `auth0 migration --format json` prints for `app`, its
/// credential filled in as jq would: the scripts and `configuration` Auth0
/// would run them with.
pub fn printed(app: &TestApp, token: &str) -> (String, String, Value) {
    let body: Value = serde_json::from_str(&migration_output(&app.issuer, MigrationFormat::Json))
        .expect("the printed connection is JSON");
    let options = &body["options"];
    assert_eq!(body["strategy"], "auth0");
    assert_eq!(options["import_mode"], true);
    assert_eq!(options["enabledDatabaseCustomization"], true);
    let mut configuration = options["configuration"].clone();
    assert_eq!(
        configuration["BRIDGE_TOKEN"], "${IDP_BRIDGE_MIGRATION_TOKEN}",
        "the credential is a placeholder, never resolved by the printer"
    );
    configuration["BRIDGE_TOKEN"] = json!(token);
    let script = |name: &str| {
        options["customScripts"][name]
            .as_str()
            .expect("a script")
            .to_owned()
    };
    (script("login"), script("get_user"), configuration)
}

/// Runs `function(args…, callback)` of `script` under Node with Auth0's
/// globals; the callback's arguments as `harness.js` prints them.
pub async fn run_script(script: &str, function: &str, args: Value, configuration: &Value) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(format!("{function}.js"));
    std::fs::write(&file, script).expect("write the script");
    let harness = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/e2e/migration/harness.js"
    );
    let output = tokio::process::Command::new("node")
        .arg(harness)
        .arg(&file)
        .arg(function)
        .arg(args.to_string())
        .arg(configuration.to_string())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `node` ({e}): install Node.js (18 or later) to run the printed Auth0 scripts"
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the script failed under Node ({}): {}{}",
        output.status,
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("the harness prints JSON")
}

/// `login(username, password, callback)` through the printed script.
pub async fn script_login(app: &TestApp, username: &str, password: &str) -> Value {
    let (login, _, configuration) = printed(app, TOKEN);
    run_script(&login, "login", json!([username, password]), &configuration).await
}

pub fn error_kind(answer: &Value) -> &str {
    answer["error"]["kind"].as_str().unwrap_or("none")
}

/// A counter's value in the metrics text (0 when absent).
pub fn counter(app: &TestApp, series: &str) -> u64 {
    app.metrics_text()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// A POST of `body` as JSON to the bridge, with `token` as the bearer.
pub async fn post(app: &TestApp, path: &str, token: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", app.issuer))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("bridge reachable")
}

#[tokio::test]
async fn a_good_password_migrates_the_user_with_the_legacy_subject_as_a_stable_user_id() {
    let app = TestApp::spawn_with(&section("")).await;
    let first = script_login(&app, "alice", "correct-horse").await;
    assert_eq!(first["error"], Value::Null, "{first}");
    assert_eq!(first["arguments"], 2);
    let profile = &first["profile"];
    assert_eq!(profile["user_id"], "u-1001");
    assert_eq!(profile["email"], "alice@example.com");
    assert_eq!(profile["name"], "Alice Example");
    assert_eq!(profile["username"], "alice");
    assert_eq!(profile["email_verified"], false);
    assert_eq!(profile["app_metadata"]["legacy_subject"], "u-1001");
    assert_eq!(
        profile["app_metadata"]["legacy_attributes"]["roles"], "orders.read,orders.write",
        "the adapter's mapped attributes: {profile}"
    );
    // Auth0 may run the script again (a password reset, a retry): the same
    // user_id, or Auth0 would make a second user.
    let again = script_login(&app, "alice", "correct-horse").await;
    assert_eq!(again["profile"]["user_id"], "u-1001");
    assert_eq!(counter(&app, "idp_bridge_users_migrated_total"), 2);
    assert_eq!(
        counter(
            &app,
            "idp_bridge_legacy_sign_ins_total{path=\"migration_script\",outcome=\"ok\"}"
        ),
        2
    );
}

#[tokio::test]
async fn a_wrong_password_is_wrong_username_or_password() {
    let app = TestApp::spawn_with(&section("")).await;
    let answer = script_login(&app, "alice", "not-her-password").await;
    assert_eq!(
        error_kind(&answer),
        "WrongUsernameOrPasswordError",
        "{answer}"
    );
    assert_eq!(answer["error"]["user"], "alice");
    assert_eq!(answer["profile"], Value::Null);
    let unknown = script_login(&app, "nobody", "whatever").await;
    assert_eq!(error_kind(&unknown), "WrongUsernameOrPasswordError");
    assert_eq!(counter(&app, "idp_bridge_users_migrated_total"), 0);
}

#[tokio::test]
async fn a_user_locked_by_the_throttle_is_refused_by_the_script_and_the_login_page_alike() {
    let app = TestApp::spawn_with(&format!(
        "{}[throttle]\nbase_delay_ms = 0\nmax_failures_per_user_and_address = 1\nmax_failures_per_user = 2\n",
        section("")
    ))
    .await;
    // Through the script every counter locks at the username's ceiling.
    for _ in 0..2 {
        let wrong = script_login(&app, "alice", "guess").await;
        assert_eq!(error_kind(&wrong), "WrongUsernameOrPasswordError");
    }
    let before = app.legacy.idp.login_attempts();
    // The right password, but the pair is locked: the legacy IdP is not
    // asked, and Auth0 is told no, never an outage.
    let locked = script_login(&app, "alice", "correct-horse").await;
    assert_eq!(
        error_kind(&locked),
        "WrongUsernameOrPasswordError",
        "{locked}"
    );
    assert!(
        locked["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("too many"),
        "{locked}"
    );
    assert_eq!(
        app.legacy.idp.login_attempts(),
        before,
        "a locked user never reaches the legacy IdP"
    );
    // The login page counts the same attempts: locked there too.
    let page = app
        .attempt_login(&TestApp::browser(), "alice", "correct-horse")
        .await;
    assert_eq!(page.status(), 429, "the login page shares the lockout");
    let raw = post(
        &app,
        "/migration/login",
        Some(TOKEN),
        r#"{"username":"alice","password":"correct-horse"}"#,
    )
    .await;
    assert_eq!(raw.status(), 429);
    assert!(raw.headers().contains_key("retry-after"));
    let body: Value = raw.json().await.expect("json");
    assert_eq!(body["error"], "too_many_attempts");
}

#[tokio::test]
async fn a_legacy_idp_that_is_down_is_an_error_and_never_a_wrong_password() {
    let mut app = TestApp::spawn_with(&section("")).await;
    retirement::stop_legacy_idp(&mut app).await;
    let answer = script_login(&app, "alice", "correct-horse").await;
    assert_eq!(error_kind(&answer), "Error", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("503"),
        "{answer}"
    );
    assert_eq!(
        counter(
            &app,
            "idp_bridge_legacy_sign_ins_total{path=\"migration_script\",outcome=\"unavailable\"}"
        ),
        1
    );
}

#[tokio::test]
async fn a_wrong_or_missing_credential_is_refused_and_the_script_reports_an_error() {
    let app = TestApp::spawn_with(&section("")).await;
    let (login, get_user, configuration) =
        printed(&app, "a-wrong-token-of-forty-characters-000000");
    let answer = run_script(
        &login,
        "login",
        json!(["alice", "correct-horse"]),
        &configuration,
    )
    .await;
    assert_eq!(
        error_kind(&answer),
        "Error",
        "a misconfiguration is not a wrong password: {answer}"
    );
    let lookup = run_script(
        &get_user,
        "getUser",
        json!(["alice@example.com"]),
        &configuration,
    )
    .await;
    assert_eq!(
        error_kind(&lookup),
        "Error",
        "nor a user not found: {lookup}"
    );
    let body = r#"{"username":"alice","password":"correct-horse"}"#;
    for token in [
        None,
        Some("migration-token-for-the-tests-012345678"),
        Some(""),
    ] {
        let response = post(&app, "/migration/login", token, body).await;
        assert_eq!(response.status(), 401, "{token:?}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .expect("ascii")
                .starts_with("Bearer")
        );
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"], "invalid_token");
    }
    assert_eq!(
        app.legacy.idp.login_attempts(),
        0,
        "nothing reached the legacy IdP"
    );
}

#[tokio::test]
async fn an_address_off_the_allow_list_is_refused_before_the_credential() {
    let app = TestApp::spawn_with(&section("allowed_addresses = [\"192.0.2.0/24\"]")).await;
    let answer = script_login(&app, "alice", "correct-horse").await;
    assert_eq!(error_kind(&answer), "Error", "{answer}");
    let response = post(
        &app,
        "/migration/login",
        Some(TOKEN),
        r#"{"username":"alice","password":"correct-horse"}"#,
    )
    .await;
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"], "access_denied");
    // A forwarding header from an untrusted peer is not believed.
    let forged = reqwest::Client::new()
        .post(format!("{}/migration/login", app.issuer))
        .header("x-forwarded-for", "192.0.2.7")
        .bearer_auth(TOKEN)
        .json(&json!({"username": "alice", "password": "correct-horse"}))
        .send()
        .await
        .expect("reachable");
    assert_eq!(forged.status(), 403);
    assert_eq!(app.legacy.idp.login_attempts(), 0);
    // On the list: served.
    let allowed = TestApp::spawn_with(&section("allowed_addresses = [\"127.0.0.0/8\"]")).await;
    let served = script_login(&allowed, "alice", "correct-horse").await;
    assert_eq!(served["profile"]["user_id"], "u-1001");
}

#[tokio::test]
async fn the_endpoints_exist_only_when_configured() {
    let app = TestApp::spawn().await;
    let response = post(
        &app,
        "/migration/login",
        Some(TOKEN),
        r#"{"username":"alice","password":"correct-horse"}"#,
    )
    .await;
    assert!(
        response.status() == 404 || response.status() == 405,
        "{}",
        response.status()
    );
}

#[tokio::test]
async fn the_command_prints_the_scripts_the_tests_run() {
    let app = TestApp::spawn_with(&section("script_timeout_ms = 8000")).await;
    let run = |format: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
            .args(["auth0", "migration", "--format", format, "--config"])
            .arg(app.config_path())
            .output()
            .expect("idp-bridge runs");
        assert!(output.status.success(), "{format}: {output:?}");
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let (login, get_user, _) = printed(&app, TOKEN);
    assert_eq!(run("login-script"), login);
    assert_eq!(run("get-user-script"), get_user);
    let json: Value = serde_json::from_str(&run("json")).expect("JSON");
    assert_eq!(json["options"]["customScripts"]["login"], login.as_str());
    assert_eq!(
        json["options"]["configuration"]["BRIDGE_TIMEOUT_MS"],
        "8000"
    );
    assert_eq!(
        json["options"]["configuration"]["BRIDGE_URL"],
        app.issuer.as_str()
    );
    let printed = run("all");
    assert!(
        !printed.contains(TOKEN),
        "the printer never resolves the credential"
    );
    assert!(printed.contains("databases:"));
}

#[tokio::test]
async fn concurrent_guesses_through_the_script_endpoint_reach_the_legacy_idp_at_most_the_limit() {
    // The script's limit is the username's ceiling (`for_script`).
    let app = TestApp::spawn_with(&format!(
        "{}[throttle]\nbase_delay_ms = 0\nmax_failures_per_user_and_address = 2\nmax_failures_per_user = 3\n",
        section("")
    ))
    .await;
    let url = format!("{}/migration/login", app.issuer);
    let guesses: Vec<_> = (0..16)
        .map(|i| {
            let url = url.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"username": "alice", "password": format!("guess-{i}")}))
                    .send()
                    .await
                    .expect("reachable")
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.expect("task"));
    }
    assert!(
        statuses.iter().all(|s| *s == 403 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        app.legacy.idp.login_attempts() <= 3,
        "{} guesses reached the legacy IdP",
        app.legacy.idp.login_attempts()
    );
    assert!(statuses.iter().filter(|s| **s == 429).count() >= 13);
}

#[tokio::test]
async fn the_login_page_and_the_script_guessing_at_once_share_the_username_ceiling() {
    // Alone, the page could reach the legacy IdP three times (its pair
    // locks at 3) and the script four: together, still four.
    let app = std::sync::Arc::new(
        TestApp::spawn_with(&format!(
            "{}[throttle]\nbase_delay_ms = 0\nmax_failures_per_user_and_address = 3\nmax_failures_per_user = 4\nmax_failures_per_address = 100\n",
            section("")
        ))
        .await,
    );
    let url = format!("{}/migration/login", app.issuer);
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..12 {
        let url = url.clone();
        guesses.spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(TOKEN)
                .json(&json!({"username": "alice", "password": format!("script-{i}")}))
                .send()
                .await
                .expect("reachable")
                .status()
                .as_u16()
        });
        let app = app.clone();
        guesses.spawn(async move {
            app.attempt_login(&TestApp::browser(), "alice", &format!("page-{i}"))
                .await
                .status()
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = guesses.join_next().await {
        statuses.push(status.expect("task"));
    }
    assert!(
        app.legacy.idp.login_attempts() <= 4,
        "{} guesses reached the legacy IdP: {statuses:?}",
        app.legacy.idp.login_attempts()
    );
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 20,
        "{statuses:?}"
    );
    // Locked on both paths, whichever path's guesses did it.
    let locked = script_login(&app, "alice", "correct-horse").await;
    assert!(
        locked["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("too many"),
        "{locked}"
    );
    let page = app
        .attempt_login(&TestApp::browser(), "alice", "correct-horse")
        .await;
    assert_eq!(page.status(), 429);
}

#[test]
fn a_redirect_adapter_cannot_serve_the_login_script() {
    let file = tempfile::NamedTempFile::new().expect("temp");
    let text = format!(
        "issuer = \"https://bridge.example.com\"\n{}\n[[clients]]\nid = \"a\"\nsecret = \"a-client-secret-of-some-length-0123\"\nredirect_uris = [\"https://t.auth0.com/login/callback\"]\n{}",
        section(""),
        idp_bridge::reference::legacy_idp::redirect_upstream_toml(
            "https://legacy.example.com",
            "oidc",
            1000
        )
    );
    std::fs::write(file.path(), text).expect("write");
    let raw: idp_bridge::domain::config::BridgeConfig =
        idp_bridge::domain::config::load_raw(Some(file.path()), &[]).expect("parses");
    let problems = idp_bridge::domain::config::Settings::validate(raw)
        .expect_err("refused")
        .problems;
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("migration: the redirect adapters")),
        "{problems:?}"
    );
}

#[tokio::test]
async fn renewals_at_the_legacy_idp_count_on_the_renewal_path() {
    use crate::support::{AUTH0_CALLBACK, REFRESHER_SECRET};
    let app = TestApp::spawn().await;
    let params: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), "refresher".into()),
        ("redirect_uri".into(), AUTH0_CALLBACK.into()),
        ("scope".into(), "openid offline_access".into()),
    ];
    let code = app.login(&params).await.code();
    let answer: Value = app
        .redeem_as("refresher", REFRESHER_SECRET, &code)
        .await
        .json()
        .await
        .expect("json");
    let refresh_token = answer["refresh_token"].as_str().expect("a refresh token");
    let before = app.legacy.idp.renewals();
    let refreshed = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "refresher"),
            ("client_secret", REFRESHER_SECRET),
        ])
        .await;
    assert_eq!(refreshed.status(), 200);
    let renewals = app.legacy.idp.renewals() - before;
    assert!(renewals >= 1, "the refresh renewed at the legacy IdP");
    assert_eq!(
        counter(
            &app,
            "idp_bridge_legacy_sign_ins_total{path=\"renewal\",outcome=\"ok\"}"
        ),
        renewals
    );
}

/// Every script call comes from Auth0's few servers, never the person's
/// address: counting the script's failures per client address would let
/// `max_failures_per_address` typos, by anyone, anywhere, stop every
/// migration for the lockout (a denial of service by a handful of wrong
/// passwords). The script's attempts are counted per username; the login
/// page's address counter is untouched.
#[tokio::test]
async fn wrong_passwords_of_many_people_through_the_script_do_not_lock_auth0s_address() {
    let app = TestApp::spawn_with(&format!(
        "{}[throttle]\nbase_delay_ms = 0\nmax_failures_per_address = 3\n",
        section("")
    ))
    .await;
    for n in 0..5 {
        let wrong = post(
            &app,
            "/migration/login",
            Some(TOKEN),
            &json!({"username": format!("someone-{n}"), "password": "typo"}).to_string(),
        )
        .await;
        assert_eq!(wrong.status(), 403, "a wrong password, not a lockout");
    }
    let alice = post(
        &app,
        "/migration/login",
        Some(TOKEN),
        &json!({"username": "alice", "password": "correct-horse"}).to_string(),
    )
    .await;
    assert_eq!(
        alice.status(),
        200,
        "other people's typos must not lock alice's migration: {}",
        alice.text().await.unwrap_or_default()
    );
    // The login page still counts per address: three failures from one
    // browser address lock it out (the third begins the lockout).
    let mut statuses = Vec::new();
    for n in 0..3 {
        let page = app
            .attempt_login(&TestApp::browser(), &format!("someone-{n}"), "typo")
            .await;
        statuses.push(page.status().as_u16());
    }
    assert!(statuses[..2].iter().all(|s| *s != 429), "{statuses:?}");
    assert_eq!(statuses[2], 429, "the login page's address counter holds");
}

/// Every script call comes from Auth0's address, so a username-and-address
/// counter there is the username's: at `max_failures_per_user_and_address`
/// (5 by default) anyone typing wrong passwords for alice at Auth0 would lock
/// alice out of migration. Through the script, the username locks only at its
/// ceiling, `max_failures_per_user`, as it does everywhere.
#[tokio::test]
async fn wrong_passwords_typed_at_auth0_below_the_username_ceiling_do_not_lock_its_migration() {
    let app = TestApp::spawn_with(&format!(
        "{}[throttle]\nbase_delay_ms = 0\nmax_failures_per_user_and_address = 2\nmax_failures_per_user = 8\n",
        section("")
    ))
    .await;
    for n in 0..5 {
        let wrong = script_login(&app, "alice", &format!("guess-{n}")).await;
        assert_eq!(error_kind(&wrong), "WrongUsernameOrPasswordError");
        assert!(
            !wrong["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("too many"),
            "failure {n} is a wrong password, not a lockout: {wrong}"
        );
    }
    let alice = script_login(&app, "alice", "correct-horse").await;
    assert!(
        alice["error"].is_null() && alice["profile"]["user_id"].is_string(),
        "five strangers' guesses at Auth0 must not lock alice's migration: {alice}"
    );
    // The ceiling still holds: eight failures lock the username on both paths.
    for n in 0..8 {
        let _ = script_login(&app, "alice", &format!("again-{n}")).await;
    }
    let before = app.legacy.idp.login_attempts();
    let locked = script_login(&app, "alice", "correct-horse").await;
    assert!(
        locked["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("too many"),
        "{locked}"
    );
    assert_eq!(app.legacy.idp.login_attempts(), before);
    let page = app
        .attempt_login(&TestApp::browser(), "alice", "correct-horse")
        .await;
    assert_eq!(page.status(), 429, "the username's ceiling is shared");
}

/// The script's narrow counters are its own, not the login page's: a login
/// page reached from the address the script calls from (here both are
/// 127.0.0.1, as behind a proxy not in `trusted_proxies`) locks the page at
/// `max_failures_per_user_and_address`, not the script. Once the username's
/// ceiling locks both, `idp-bridge unlock` clears the script's counters too.
#[tokio::test]
async fn the_login_page_s_lockout_at_one_address_does_not_lock_the_script_and_unlock_frees_both() {
    let app = TestApp::spawn_with(&format!(
        "{}[throttle]\nbase_delay_ms = 0\nmax_failures_per_user_and_address = 2\nmax_failures_per_user = 4\n",
        section("")
    ))
    .await;
    let browser = TestApp::browser();
    let page: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..2 {
            let answer = app.attempt_login(&browser, "alice", "guess").await;
            statuses.push(answer.status().as_u16());
        }
        statuses
    };
    assert_eq!(page[1], 429, "the page's pair is locked: {page:?}");
    let script = script_login(&app, "alice", "correct-horse").await;
    assert!(
        script["error"].is_null(),
        "the page's lockout at this address is not the script's: {script}"
    );
    // Two more wrong passwords reach the username's ceiling (4).
    for n in 0..2 {
        let _ = script_login(&app, "alice", &format!("again-{n}")).await;
    }
    let locked = script_login(&app, "alice", "correct-horse").await;
    assert!(
        locked["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("too many"),
        "{locked}"
    );
    let config = app.config_path();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
            .args(["unlock", "--user", "alice", "--config"])
            .arg(&config)
            .env("IDP_BRIDGE_LOG", "warn")
            .output()
            .expect("runs")
    })
    .await
    .expect("unlock");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let freed = script_login(&app, "alice", "correct-horse").await;
    assert!(
        freed["error"].is_null(),
        "unlock clears the script's counters too: {freed} ({})",
        String::from_utf8_lossy(&out.stdout)
    );
    let page = app
        .attempt_login(&TestApp::browser(), "alice", "correct-horse")
        .await;
    assert_eq!(page.status(), 303, "and the page's");
}

/// A username in another Unicode form — full-width letters, a decomposed
/// accent — is the same person to a legacy IdP that compares names as
/// LDAP does (RFC 4518: NFKC and case folding), so it must be counted under
/// the same counters: locked everywhere on the login page as `alice` (from
/// two addresses, up to the username's ceiling), the script's `ＡＬＩＣＥ` is
/// locked too and never reaches the legacy IdP.
#[tokio::test]
async fn another_unicode_form_of_a_locked_username_is_locked_too() {
    let app = TestApp::spawn_with(&format!(
        "{}[throttle]\nbase_delay_ms = 0\ntrusted_proxies = [\"127.0.0.1\"]\nmax_failures_per_user_and_address = 2\nmax_failures_per_user = 3\n",
        section("")
    ))
    .await;
    for from in ["203.0.113.1", "203.0.113.1", "198.51.100.2"] {
        let _ = crate::throttle::addresses::attempt_from(&app, from, "alice", "guess").await;
    }
    let before = app.legacy.idp.login_attempts();
    for form in ["ＡＬＩＣＥ", "ａlice", "Alice"] {
        let answer = post(
            &app,
            "/migration/login",
            Some(TOKEN),
            &json!({"username": form, "password": "guess-again"}).to_string(),
        )
        .await;
        assert_eq!(answer.status(), 429, "{form} is alice, and alice is locked");
    }
    assert_eq!(
        app.legacy.idp.login_attempts(),
        before,
        "no other form of a locked username reaches the legacy IdP"
    );
}
