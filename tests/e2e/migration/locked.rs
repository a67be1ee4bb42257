//! A user locked *at the legacy IdP* (the reference IdP's `mallory`), as
//! the printed login script sees them: with her right password she is
//! refused as Auth0's `WrongUsernameOrPasswordError` (never migrated, never
//! an outage), and the refusal counts on the script's path as `locked`.

use serde_json::Value;

use super::{counter, error_kind, script_login, section};
use crate::support::TestApp;

#[tokio::test]
async fn a_user_locked_at_the_legacy_idp_is_refused_and_not_migrated() {
    let app = TestApp::spawn_with(&section("")).await;
    let before = app.legacy.idp.login_attempts();
    let answer = script_login(&app, "mallory", "locked-out").await;
    assert_eq!(
        error_kind(&answer),
        "WrongUsernameOrPasswordError",
        "{answer}"
    );
    assert_eq!(answer["profile"], Value::Null);
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("locked"),
        "{answer}"
    );
    assert_eq!(
        app.legacy.idp.login_attempts() - before,
        1,
        "the legacy IdP said so"
    );
    assert_eq!(counter(&app, "idp_bridge_users_migrated_total"), 0);
    assert_eq!(
        counter(
            &app,
            "idp_bridge_legacy_sign_ins_total{path=\"migration_script\",outcome=\"locked\"}"
        ),
        1
    );
}
