//! The `http` adapter, configured for two differently shaped legacy APIs of
//! the reference legacy IdP, over real HTTP; and every failure class.

use std::time::Duration;

use idp_bridge::domain::upstream::UpstreamError;
use idp_bridge::reference::legacy_idp::{FaultMode, Faults};
use idp_bridge::util::clock::now_unix;
use idp_bridge::util::secret::{LegacyRefreshToken, Password};

use crate::support::{LegacyStack, adapter, closed_port_url};

/// Shape A: JSON body in, token, expiry, refresh token and profile in the JSON answer.
fn json_shape(idp: &str) -> String {
    format!(
        r#"
[upstream]
adapter = "http"
[upstream.http]
timeout_ms = 2000
[upstream.http.login]
url = "{idp}/api/v1/login"
headers = {{ "X-Client" = "idp-bridge-tests" }}
[upstream.http.renew]
url = "{idp}/api/v1/renew"
[upstream.http.claims]
subject = "/user/id"
email = "/user/email"
name = "/user/name"
extra = {{ roles = "/user/roles" }}
"#
    )
}

/// Shape B: form body with a static realm (read from a file), the token in a
/// response header, the profile from a second endpoint under a custom scheme.
fn form_shape(idp: &str, realm_file: &std::path::Path) -> String {
    format!(
        r#"
[upstream]
adapter = "http"
[upstream.http.login]
url = "{idp}/legacy/login.do"
body = "form"
username_field = "j_username"
password_field = "j_password"
extra_fields = {{ realm = {{ file = "{}" }} }}
[upstream.http.response]
token = {{ header = "X-Legacy-Token" }}
expires_at_header = "X-Legacy-Expires"
[upstream.http.profile]
url = "{idp}/legacy/profile"
token_scheme = "Legacy"
[upstream.http.claims]
subject = "/uid"
email = "/mail"
name = "/displayName"
extra = {{ groups = "/groups" }}
"#,
        realm_file.display()
    )
}

fn password(p: &str) -> Password {
    Password::new(p)
}

#[tokio::test]
async fn json_shaped_api_logs_in_and_the_token_works_at_the_legacy_api() {
    let stack = LegacyStack::spawn().await;
    let idp = adapter(&json_shape(&stack.idp_url()));
    let grant = idp
        .authenticate("alice", &password("correct-horse"))
        .await
        .expect("login");
    assert_eq!(grant.profile.subject, "u-1001");
    assert_eq!(grant.profile.email.as_deref(), Some("alice@example.com"));
    assert_eq!(grant.profile.name.as_deref(), Some("Alice Example"));
    assert_eq!(
        grant.profile.attributes["roles"],
        "orders.read,orders.write"
    );
    let ttl = grant.expires_at - now_unix();
    assert!(
        (3590..=3600).contains(&ttl),
        "expires_in read from the answer: {ttl}"
    );
    assert!(grant.refresh_token.is_some());
    assert!(stack.api_accepts(grant.access_token.secret()).await);
}

#[tokio::test]
async fn json_shaped_api_renews_with_the_refresh_token() {
    let stack = LegacyStack::spawn().await;
    let idp = adapter(&json_shape(&stack.idp_url()));
    assert!(idp.can_renew());
    let grant = idp
        .authenticate("alice", &password("correct-horse"))
        .await
        .expect("login");
    let refresh = grant.refresh_token.expect("refresh token");
    let renewed = idp
        .renew(&refresh, Some(&grant.profile))
        .await
        .expect("renew");
    assert!(
        !renewed.access_token.ct_eq(&grant.access_token),
        "a new token"
    );
    assert!(stack.api_accepts(renewed.access_token.secret()).await);
    assert_eq!(renewed.profile.expect("profile").subject, "u-1001");

    stack.idp.revoke_all_refresh_tokens();
    assert_eq!(
        idp.renew(&refresh, None).await.unwrap_err(),
        UpstreamError::InvalidCredentials
    );
    assert_eq!(
        idp.renew(&LegacyRefreshToken::new("made-up"), None)
            .await
            .unwrap_err(),
        UpstreamError::InvalidCredentials
    );
}

#[tokio::test]
async fn form_shaped_api_with_header_token_and_profile_endpoint() {
    let stack = LegacyStack::spawn().await;
    let realm = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(realm.path(), "corp\n").expect("write");
    let idp = adapter(&form_shape(&stack.idp_url(), realm.path()));
    let grant = idp
        .authenticate("bob", &password("battery-staple"))
        .await
        .expect("login");
    assert_eq!(grant.profile.subject, "u-1002");
    assert_eq!(grant.profile.name.as_deref(), Some("Bob Ünïcode"));
    assert_eq!(grant.profile.attributes["groups"], "orders.read");
    assert!(grant.refresh_token.is_none());
    let ttl = grant.expires_at - now_unix();
    assert!(
        (3590..=3600).contains(&ttl),
        "expiry read from the header: {ttl}"
    );
    assert!(stack.api_accepts(grant.access_token.secret()).await);
    let profile = idp.profile(&grant.access_token).await.expect("profile");
    assert_eq!(profile.email.as_deref(), Some("bob@example.com"));

    assert!(!idp.can_renew());
    assert_eq!(
        idp.renew(&LegacyRefreshToken::new("x"), None)
            .await
            .unwrap_err(),
        UpstreamError::Unsupported("renew")
    );
    assert_eq!(
        idp.authenticate("bob", &password("wrong"))
            .await
            .unwrap_err(),
        UpstreamError::InvalidCredentials
    );
    assert_eq!(
        idp.authenticate("mallory", &password("locked-out"))
            .await
            .unwrap_err(),
        UpstreamError::Locked
    );
}

#[tokio::test]
async fn expiry_can_come_from_the_lt1_token_itself() {
    let stack = LegacyStack::spawn().await;
    let config = format!(
        "{}\n[upstream.http.response]\nexpires_in_pointer = \"/absent\"\nexpiry_from_lt1 = true\n[legacy_token.keys]\ntest = \"{}\"\n",
        json_shape(&stack.idp_url()),
        stack.key_hex
    );
    let idp = adapter(&config);
    let grant = idp
        .authenticate("alice", &password("correct-horse"))
        .await
        .expect("login");
    let claims = stack
        .keys
        .validate(grant.access_token.secret(), now_unix())
        .expect("LT1");
    assert_eq!(grant.expires_at, claims.exp);
}

#[tokio::test]
async fn wrong_password_unknown_user_and_locked_account_are_told_apart() {
    let stack = LegacyStack::spawn().await;
    let idp = adapter(&json_shape(&stack.idp_url()));
    let wrong = idp
        .authenticate("alice", &password("not-her-password"))
        .await
        .unwrap_err();
    assert_eq!(wrong, UpstreamError::InvalidCredentials);
    let unknown = idp
        .authenticate("nobody", &password("whatever"))
        .await
        .unwrap_err();
    assert_eq!(
        unknown,
        UpstreamError::InvalidCredentials,
        "same answer whether or not the user exists"
    );
    let locked = idp
        .authenticate("mallory", &password("locked-out"))
        .await
        .unwrap_err();
    assert_eq!(locked, UpstreamError::Locked);
}

async fn failure_with(faults: Faults) -> UpstreamError {
    let stack = LegacyStack::spawn().await;
    stack.idp.set_faults(faults);
    let idp = adapter(&json_shape(&stack.idp_url()));
    let error = idp
        .authenticate("alice", &password("correct-horse-SECRET"))
        .await
        .expect_err("the fault makes the login fail");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("SECRET"), "no password in {shown}");
    assert!(!shown.contains("127.0.0.1"), "no URL in {shown}");
    error
}

#[tokio::test]
async fn upstream_503_is_unavailable() {
    let e = failure_with(Faults {
        mode: FaultMode::Status(503),
        ..Faults::default()
    })
    .await;
    assert_eq!(e, UpstreamError::Unavailable("status 503".into()));
}

#[tokio::test]
async fn upstream_timeout_is_unavailable() {
    let started = std::time::Instant::now();
    let e = failure_with(Faults {
        latency_ms: 8000,
        ..Faults::default()
    })
    .await;
    assert!(
        matches!(&e, UpstreamError::Unavailable(m) if m.starts_with("timed out")),
        "{e:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the configured 2 s timeout applies (generous: a loaded CI machine must never \
         turn a good answer into a timeout), not the 8 s stall"
    );
}

#[tokio::test]
async fn garbage_body_is_a_protocol_error() {
    let e = failure_with(Faults {
        mode: FaultMode::Garbage,
        ..Faults::default()
    })
    .await;
    assert_eq!(e, UpstreamError::Protocol("the answer is not JSON".into()));
}

#[tokio::test]
async fn oversized_body_is_a_protocol_error() {
    let e = failure_with(Faults {
        mode: FaultMode::Oversize,
        ..Faults::default()
    })
    .await;
    assert_eq!(
        e,
        UpstreamError::Protocol("the answer is larger than 65536 bytes".into())
    );
}

#[tokio::test]
async fn redirect_is_not_followed() {
    let e = failure_with(Faults {
        mode: FaultMode::Redirect,
        ..Faults::default()
    })
    .await;
    assert_eq!(
        e,
        UpstreamError::Protocol("a redirect (307) was not followed".into())
    );
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let idp = adapter(&json_shape(&closed_port_url().await));
    let e = idp
        .authenticate("alice", &password("correct-horse"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, UpstreamError::Unavailable(m) if m.starts_with("could not connect") && m.contains("refused")),
        "the cause is named: {e:?}"
    );
}

#[tokio::test]
async fn an_unresolvable_host_says_dns_not_just_unavailable() {
    let idp = adapter(&json_shape("http://no-such-host.invalid"));
    let e = idp
        .authenticate("alice", &password("correct-horse"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, UpstreamError::Unavailable(m) if m.starts_with("could not connect: dns error")),
        "a typo in the URL reads as one: {e:?}"
    );
}

#[tokio::test]
async fn config_errors_name_the_key() {
    let text =
        json_shape("http://127.0.0.1:1").replace("subject = \"/user/id\"", "subject = \"user/id\"");
    let file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(file.path(), &text).expect("write");
    let config: idp_bridge::domain::config::LegacyConfig =
        idp_bridge::domain::config::load_raw(Some(file.path()), &[]).expect("parses");
    let err =
        idp_bridge::domain::upstream::build(&config.upstream.expect("upstream"), None).unwrap_err();
    assert_eq!(err.key, "upstream.http.claims.subject");

    let text =
        json_shape("http://127.0.0.1:1").replace("timeout_ms = 2000", "timeout_ms = \"soon\"");
    std::fs::write(file.path(), &text).expect("write");
    let err = idp_bridge::domain::config::load_raw::<idp_bridge::domain::config::LegacyConfig>(
        Some(file.path()),
        &[],
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("upstream.http.timeout_ms"),
        "{err}"
    );

    let env = vec![(
        "IDP_BRIDGE_UPSTREAM__HTTP__LOGIN__URL".to_owned(),
        "not a url".to_owned(),
    )];
    let err = idp_bridge::domain::config::load_raw::<idp_bridge::domain::config::LegacyConfig>(
        Some(file.path()),
        &env,
    )
    .unwrap_err();
    let err = err.to_string();
    assert!(
        err.contains("upstream.http.login.url")
            && err.contains("IDP_BRIDGE_UPSTREAM__HTTP__LOGIN__URL"),
        "{err}"
    );
}
