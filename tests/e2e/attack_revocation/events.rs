//! Auth0 Event Streams deliveries: credentials, replays, odd bodies, size.

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) async fn deliver_raw(
    app: &TestApp,
    authorization: Option<&str>,
    body: &str,
) -> reqwest::Response {
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
pub(super) async fn deliver(app: &TestApp, event: &Value) -> (u16, Value) {
    let answer = deliver_raw(
        app,
        Some(&format!("Bearer {EVENTS_TOKEN}")),
        &event.to_string(),
    )
    .await;
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

pub(super) fn cloud_event(id: &Value, kind: &str, object: &Value) -> Value {
    json!({
        "specversion": "1.0",
        "type": kind,
        "source": "urn:auth0:example-tenant.us.auth0.com:users",
        "id": id,
        "time": "2026-12-06T10:00:00Z",
        "data": { "object": object.clone() },
    })
}

pub(super) fn deleted(id: &Value, user_id: &str) -> Value {
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
