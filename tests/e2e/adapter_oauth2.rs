//! The `oauth2-password` adapter against the reference legacy IdP's OAuth
//! 2.0 token and userinfo endpoints.

use idp_bridge::domain::upstream::UpstreamError;
use idp_bridge::reference::legacy_idp::{FaultMode, Faults};
use idp_bridge::util::secret::{LegacyRefreshToken, Password};

use crate::support::{LegacyStack, adapter, closed_port_url};

/// The adapter's timeout in the tests that expect an answer: generous, so a
/// loaded two-core CI machine (the reference IdP hashes passwords in a
/// debug build) never turns a good answer into a timeout.
const ANSWER_TIMEOUT_MS: u64 = 5000;

fn config(idp: &str, auth: &str, secret: &str) -> String {
    config_with_timeout(idp, auth, secret, ANSWER_TIMEOUT_MS)
}

fn config_with_timeout(idp: &str, auth: &str, secret: &str, timeout_ms: u64) -> String {
    format!(
        r#"
[upstream]
adapter = "oauth2-password"
[upstream.oauth2-password]
token_url = "{idp}/oauth/token"
userinfo_url = "{idp}/oauth/userinfo"
client_id = "idp-bridge"
client_secret = "{secret}"
client_auth = "{auth}"
scopes = ["openid"]
timeout_ms = {timeout_ms}
"#
    )
}

#[tokio::test]
async fn password_grant_logs_in_and_refresh_grant_renews() {
    let stack = LegacyStack::spawn().await;
    for auth in ["basic", "post"] {
        let idp = adapter(&config(&stack.idp_url(), auth, "legacy-client-secret"));
        let grant = idp
            .authenticate("alice", &Password::new("correct-horse"))
            .await
            .unwrap_or_else(|e| panic!("{auth}: {e}"));
        assert_eq!(grant.profile.subject, "u-1001");
        assert_eq!(grant.profile.email.as_deref(), Some("alice@example.com"));
        assert!(stack.api_accepts(grant.access_token.secret()).await);
        let renewed = idp
            .renew(&grant.refresh_token.expect("refresh"), Some(&grant.profile))
            .await
            .expect("renew");
        assert!(stack.api_accepts(renewed.access_token.secret()).await);
    }
}

#[tokio::test]
async fn refusals_are_classified() {
    let stack = LegacyStack::spawn().await;
    let idp = adapter(&config(&stack.idp_url(), "basic", "legacy-client-secret"));
    crate::support::assert_refusals(idp.as_ref()).await;
    assert_eq!(
        idp.renew(&LegacyRefreshToken::new("unknown"), None)
            .await
            .unwrap_err(),
        UpstreamError::InvalidCredentials
    );
    let wrong_client = adapter(&config(&stack.idp_url(), "basic", "wrong-secret"));
    assert!(matches!(
        wrong_client
            .authenticate("alice", &Password::new("correct-horse"))
            .await
            .unwrap_err(),
        UpstreamError::Protocol(_)
    ));
}

#[tokio::test]
async fn outages_are_unavailable_and_garbage_is_a_protocol_error() {
    let stack = LegacyStack::spawn().await;
    // A short timeout, far below the stalled answer below, yet far above a
    // fault's quick answer on a loaded machine.
    let idp = adapter(&config_with_timeout(
        &stack.idp_url(),
        "basic",
        "legacy-client-secret",
        1500,
    ));
    let password = Password::new("correct-horse");
    let login = || idp.authenticate("alice", &password);

    stack.idp.set_faults(Faults {
        mode: FaultMode::Status(502),
        ..Faults::default()
    });
    assert_eq!(
        login().await.unwrap_err(),
        UpstreamError::Unavailable("status 502".into())
    );

    stack.idp.set_faults(Faults {
        latency_ms: 6000,
        ..Faults::default()
    });
    let e = login().await.unwrap_err();
    assert!(
        matches!(&e, UpstreamError::Unavailable(m) if m.starts_with("timed out")),
        "{e:?}"
    );

    stack.idp.set_faults(Faults {
        mode: FaultMode::Garbage,
        ..Faults::default()
    });
    assert!(matches!(
        login().await.unwrap_err(),
        UpstreamError::Protocol(_)
    ));

    stack.idp.set_faults(Faults {
        mode: FaultMode::Oversize,
        ..Faults::default()
    });
    assert!(matches!(
        login().await.unwrap_err(),
        UpstreamError::Protocol(_)
    ));

    stack.idp.set_faults(Faults {
        mode: FaultMode::Redirect,
        ..Faults::default()
    });
    assert!(matches!(
        login().await.unwrap_err(),
        UpstreamError::Protocol(_)
    ));

    let down = adapter(&config(&closed_port_url().await, "basic", "s"));
    let e = down
        .authenticate("alice", &Password::new("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, UpstreamError::Unavailable(m) if m.starts_with("could not connect") && m.contains("refused")),
        "the cause is named: {e:?}"
    );
}
