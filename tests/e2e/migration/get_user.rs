//! `get_user` through the printed script (not found without a lookup, the
//! legacy user with `[upstream.http.lookup]`, an outage as an error), and
//! the endpoints' answers to hostile input.

use serde_json::{Value, json};

use super::{TOKEN, error_kind, post, printed, retirement, run_script, script_login, section};
use crate::support::TestApp;

#[tokio::test]
async fn get_user_answers_not_found_and_hostile_input_gets_a_400_in_json() {
    let app = TestApp::spawn_with(&section("")).await;
    let (_, get_user, configuration) = printed(&app, TOKEN);
    let lookup = run_script(
        &get_user,
        "getUser",
        json!(["alice@example.com"]),
        &configuration,
    )
    .await;
    assert_eq!(lookup["error"], Value::Null, "{lookup}");
    assert_eq!(lookup["profile"], Value::Null);
    assert_eq!(lookup["arguments"], 1, "callback(null): not found");
    let long_password = format!(
        r#"{{"username":"alice","password":"{}"}}"#,
        "p".repeat(2000)
    );
    let cases: [(&str, &str, u16); 9] = [
        ("/migration/login", "not json", 400),
        ("/migration/login", "{}", 400),
        ("/migration/login", r#"{"username":"alice"}"#, 400),
        ("/migration/login", r#"{"username":"","password":"x"}"#, 400),
        (
            "/migration/login",
            r#"{"username":"al\nice","password":"x"}"#,
            400,
        ),
        (
            "/migration/login",
            r#"{"username":"alice","password":"x","admin":true}"#,
            400,
        ),
        ("/migration/login", &long_password, 400),
        ("/migration/get_user", r#"{"email":""}"#, 400),
        ("/migration/get_user", r"[1,2]", 400),
    ];
    for (path, body, status) in cases {
        let response = post(&app, path, Some(TOKEN), body).await;
        assert_eq!(response.status(), status, "{path} {body:.60}");
        let error: Value = response.json().await.expect("a JSON error");
        assert_eq!(error["error"], "invalid_request", "{body:.60}");
        let text = error.to_string();
        assert!(!text.contains("panicked") && !text.contains("correct-horse"));
    }
    let huge = format!(
        r#"{{"username":"alice","password":"{}"}}"#,
        "p".repeat(20_000)
    );
    let response = post(&app, "/migration/login", Some(TOKEN), &huge).await;
    assert_eq!(response.status(), 413);
    assert_eq!(
        app.legacy.idp.login_attempts(),
        0,
        "no bad input reached the legacy IdP"
    );
}

#[tokio::test]
async fn get_user_finds_a_legacy_user_when_the_adapter_can_look_users_up() {
    let mut app = TestApp::spawn_with(&section("")).await;
    let lookup = format!(
        "\n[upstream.http.lookup]\nurl = \"{}/api/v1/users/lookup\"\nheaders = {{ \"X-Api-Key\" = \"{}\" }}\n",
        app.legacy.idp_url(),
        idp_bridge::reference::legacy_idp::MINT_API_KEY
    );
    app.config_text.push_str(&lookup);
    app.restart().await;
    let (_, get_user, configuration) = printed(&app, TOKEN);
    let found = run_script(
        &get_user,
        "getUser",
        json!(["Alice@Example.com"]),
        &configuration,
    )
    .await;
    assert_eq!(found["error"], Value::Null, "{found}");
    assert_eq!(found["arguments"], 2);
    assert_eq!(found["profile"]["user_id"], "u-1001");
    assert_eq!(found["profile"]["email"], "alice@example.com");
    // Auth0 requires get_user and login to agree on the user_id.
    let login = script_login(&app, "alice", "correct-horse").await;
    assert_eq!(login["profile"]["user_id"], found["profile"]["user_id"]);
    let missing = run_script(
        &get_user,
        "getUser",
        json!(["nobody@example.com"]),
        &configuration,
    )
    .await;
    assert_eq!(missing["error"], Value::Null, "{missing}");
    assert_eq!(missing["arguments"], 1, "callback(null): not found");
    // Down is an outage, never "not found" (Auth0 would let someone sign
    // up over the user).
    retirement::stop_legacy_idp(&mut app).await;
    let down = run_script(
        &get_user,
        "getUser",
        json!(["alice@example.com"]),
        &configuration,
    )
    .await;
    assert_eq!(error_kind(&down), "Error", "{down}");
}

/// Held attacks, kept: a duplicate key (the second `password` must not win
/// past the first, nor the second `username`), a content type that is not
/// JSON, JSON that is not an object: each a 400 or 415 in JSON, never the
/// legacy IdP, never the password echoed.
#[tokio::test]
async fn duplicate_keys_and_wrong_content_types_never_reach_the_legacy_idp() {
    let app = TestApp::spawn_with(&section("")).await;
    for body in [
        r#"{"username":"alice","password":"guess-SECRET","password":"correct-horse"}"#,
        r#"{"username":"bob","username":"alice","password":"correct-horse"}"#,
        r#"["alice","correct-horse"]"#,
        r#"{"username":"alice","password":["correct-horse"]}"#,
        r#"{"username":"alice","password":"correct-horse""#,
    ] {
        let response = post(&app, "/migration/login", Some(TOKEN), body).await;
        assert_eq!(response.status(), 400, "{body}");
        let text = response.text().await.unwrap_or_default();
        assert!(
            !text.contains("correct-horse") && !text.contains("SECRET"),
            "{text}"
        );
    }
    let form = reqwest::Client::new()
        .post(format!("{}/migration/login", app.issuer))
        .bearer_auth(TOKEN)
        .form(&[("username", "alice"), ("password", "correct-horse")])
        .send()
        .await
        .expect("reachable");
    assert_eq!(form.status(), 415);
    // A byte-order mark, a media type that only starts like JSON's, and
    // a nested value: refused too.
    let send = |content_type: &'static str, body: &'static str| {
        reqwest::Client::new()
            .post(format!("{}/migration/login", app.issuer))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (content_type, body, status) in [
        (
            "application/json",
            "\u{feff}{\"username\":\"alice\",\"password\":\"correct-horse\"}",
            400,
        ),
        (
            "application/jsonx",
            r#"{"username":"alice","password":"correct-horse"}"#,
            415,
        ),
        (
            "application/json-seq",
            r#"{"username":"alice","password":"correct-horse"}"#,
            415,
        ),
        (
            "application/json",
            r#"{"username":{"username":"alice"},"password":"correct-horse"}"#,
            400,
        ),
        (
            "application/json",
            r#"{"username":"alice","password":"correct-horse"} {"x":1}"#,
            400,
        ),
        ("application/json", " \r\n\t", 400),
    ] {
        let response = send(content_type, body).await.expect("reachable");
        assert_eq!(response.status(), status, "{content_type}: {body:?}");
        let text = response.text().await.unwrap_or_default();
        assert!(!text.contains("correct-horse"), "{text}");
    }
    assert_eq!(app.legacy.idp.login_attempts(), 0);
    // The media type's case and parameters, and whitespace before the
    // object, are JSON's own: taken.
    let taken = send(
        "Application/JSON ; charset=utf-8",
        " \r\n{\"username\":\"alice\",\"password\":\"correct-horse\"}\n",
    )
    .await
    .expect("reachable");
    assert_eq!(taken.status(), 200);
    assert_eq!(app.legacy.idp.login_attempts(), 1);
}
