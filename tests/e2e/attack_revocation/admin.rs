//! The admin API: its credential, its bodies, odd subjects.

#[allow(clippy::wildcard_imports)]
use super::*;

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
        // Media types compare case-insensitively (RFC 9110 §8.3.1), so
        // `APPLICATION/JSON` is JSON; a longer type is not.
        (Some("application/jsonx"), 415),
        (Some("application/json-seq"), 415),
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
    // serde reads a struct from the array of its fields too (`["x"]` as
    // `{"subject": "x"}`): only the documented object is taken.
    let answer = admin_post(
        &app,
        "/users/revoke",
        &[auth, json_type],
        "[\"nobody-at-all\"]".to_owned(),
    )
    .await;
    assert_eq!(answer.status(), 400);
    assert!(answer.text().await.unwrap().contains("JSON object"));
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
