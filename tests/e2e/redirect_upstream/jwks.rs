//! A legacy IdP that re-keys under the same `kid`: the first ID token that
//! fails its signature reads the JWKS again, at most once per
//! `jwks_min_refresh_seconds`.

use super::{Journey, spawn};

/// Signs in as alice; the bridge's status for the callback.
async fn sign_in_status(app: &crate::support::TestApp) -> u16 {
    let journey = Journey::start(app, &app.params()).await;
    let callback = journey.callback_url().await;
    journey.back(&callback).await.status().as_u16()
}

#[tokio::test]
async fn a_legacy_idp_that_rekeys_under_the_same_kid_is_followed_once_per_interval() {
    let app = spawn("oidc", "").await;
    let page = app.legacy.idp.login_page();
    assert_eq!(sign_in_status(&app).await, 303);
    assert_eq!(page.jwks_reads(), 1, "read with discovery");
    page.rotate_key_keeping_kid().expect("new key");
    assert_eq!(
        sign_in_status(&app).await,
        303,
        "the signature failure read the JWKS again"
    );
    assert_eq!(page.jwks_reads(), 2, "once");
    // Within the interval a failing signature is refused without another
    // read, so a broken legacy IdP is not asked at every sign-in.
    page.rotate_key_keeping_kid().expect("new key");
    assert_eq!(sign_in_status(&app).await, 502);
    assert_eq!(page.jwks_reads(), 2, "not read again within 30 s");
}
