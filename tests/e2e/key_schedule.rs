//! Scheduled signing-key rotation (`[keys] rotate_every_seconds`): over
//! real HTTP the successor is in `/jwks` before any token is signed with it,
//! a token signed before the rotation still verifies against `/jwks` until
//! its key is retired after the ID token lifetime, and instances sharing one
//! PostgreSQL store publish one successor between them.

use std::process::Command;
use std::time::Duration;

use idp_bridge::domain::key_rotation::{Schedule, rotate_due};
use idp_bridge::domain::keys::SigningKeys;
use idp_bridge::domain::store::KeyStore;
use idp_bridge::util::crypto::StorageKey;
use idp_bridge::util::secret::Key32;
use serde_json::Value;

use crate::cluster::{cluster_config, free_port, spawn_instance, wait_ready};
use crate::key_rotation::{eventually, kid_of, kids};
use crate::store_suite::{drop_schema, fresh_schema, pg_store, pg_url};
use crate::support::{LegacyStack, TestApp, get_json};

const BIN: &str = env!("CARGO_BIN_EXE_idp-bridge");

async fn id_token(app: &TestApp) -> String {
    let code = app.login(&app.params()).await.code();
    let body: Value = app.redeem(&code).await.json().await.expect("json");
    body["id_token"].as_str().expect("id_token").to_owned()
}

/// Whether `token` verifies (signature, issuer, audience, expiry) against
/// the JWKS `url` serves now.
async fn verifies_against_jwks(issuer: &str, token: &str) -> bool {
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(get_json(&format!("{issuer}/jwks")).await).expect("jwks");
    let kid = kid_of(token);
    let Some(jwk) = jwks.find(&kid) else {
        return false;
    };
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&["auth0-oidc"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

#[tokio::test]
async fn a_scheduled_successor_is_published_before_it_signs_and_the_old_key_retires_after_its_tokens()
 {
    let app = TestApp::spawn_with(
        "[keys]\nreload_interval_seconds = 1\nactivation_delay_seconds = 4\nrotate_every_seconds = 8\n[tokens]\nid_token_ttl_seconds = 60\n",
    )
    .await;
    let jwks = reqwest::get(format!("{}/jwks", app.issuer))
        .await
        .expect("jwks");
    assert_eq!(
        jwks.headers()["cache-control"],
        "public, max-age=3",
        "cached no longer than a key is published before it signs"
    );
    let first = kids(&app.issuer).await;
    assert_eq!(first.len(), 1);
    let old_token = id_token(&app).await;
    assert_eq!(kid_of(&old_token), first[0]);

    // The successor appears in JWKS while the first key still signs.
    assert!(
        eventually(
            async || kids(&app.issuer).await.len() == 2,
            Duration::from_secs(8)
        )
        .await,
        "a successor is published by schedule"
    );
    let next = kids(&app.issuer)
        .await
        .into_iter()
        .find(|k| *k != first[0])
        .expect("the successor");
    assert_eq!(
        kid_of(&id_token(&app).await),
        first[0],
        "the successor signs nothing while it is only published"
    );
    assert!(
        eventually(
            async || kid_of(&id_token(&app).await) == next,
            Duration::from_secs(8)
        )
        .await,
        "the successor signs once its time comes"
    );
    assert!(
        verifies_against_jwks(&app.issuer, &old_token).await,
        "a token signed before the rotation still verifies"
    );

    // Retired once every token it signed has expired (60 s after the
    // successor took over), never before.
    assert!(kids(&app.issuer).await.contains(&first[0]));
    assert!(
        eventually(
            async || !kids(&app.issuer).await.contains(&first[0]),
            Duration::from_secs(80)
        )
        .await,
        "the first key is retired after the ID token lifetime"
    );
    let list = Command::new(BIN)
        .args(["keys", "list", "--config"])
        .arg(app.config_path())
        .env("IDP_BRIDGE_LOG", "warn")
        .output()
        .expect("runs");
    let list = String::from_utf8(list.stdout).expect("utf8");
    assert!(!list.contains(&first[0]), "{list}");
    assert!(
        verifies_against_jwks(&app.issuer, &id_token(&app).await).await,
        "tokens signed now verify"
    );
}

#[tokio::test]
async fn two_instances_passing_the_same_moment_publish_one_successor() {
    let schema = fresh_schema();
    let (a, b) = tokio::join!(pg_store(&schema), pg_store(&schema));
    let storage = StorageKey::new(&Key32::new([9; 32]));
    SigningKeys::load_or_generate(&a, &storage, &[])
        .await
        .expect("first key");
    let first = a.signing_keys().await.expect("keys");
    let schedule = Schedule {
        every: 100,
        lead: 10,
        max_token_ttl: 60,
    };
    let now = first[0].activates_at + 95;
    for round in 0..5 {
        let (x, y) = tokio::join!(
            rotate_due(&a, &storage, schedule, now + round * 100),
            rotate_due(&b, &storage, schedule, now + round * 100)
        );
        let published = x.expect("a").published.len() + y.expect("b").published.len();
        assert_eq!(published, 1, "round {round}: one successor between them");
    }
    let keys = a.signing_keys().await.expect("keys");
    assert!(
        keys.len() <= 3,
        "retired once their tokens expired: {} keys",
        keys.len()
    );
    drop_schema(&schema).await;
}

#[tokio::test]
async fn a_cluster_on_postgresql_rotates_once_and_every_instance_serves_the_successor() {
    let legacy = LegacyStack::spawn().await;
    let dir = tempfile::tempdir().expect("dir");
    let schema = fresh_schema();
    let ports = [free_port(), free_port()];
    let issuer = format!("http://127.0.0.1:{}", ports[0]);
    let mut children = Vec::new();
    let mut urls = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let config = dir.path().join(format!("bridge-{i}.toml"));
        let text = cluster_config(
            &issuer,
            &format!("127.0.0.1:{port}"),
            &dir.path().join(format!("data-{i}")),
            &legacy.idp_url(),
            &pg_url(),
            &schema,
        )
        .replacen(
            "[keys]\n",
            "[keys]\nactivation_delay_seconds = 3\nrotate_every_seconds = 10\n",
            1,
        );
        std::fs::write(&config, text).expect("config");
        children.push(spawn_instance(&config));
        urls.push(format!("http://127.0.0.1:{port}"));
    }
    for url in &urls {
        wait_ready(url).await;
    }
    let first = kids(&urls[0]).await;
    assert_eq!(first.len(), 1);
    for url in &urls {
        assert!(
            eventually(async || kids(url).await.len() >= 2, Duration::from_secs(12)).await,
            "{url} publishes the successor"
        );
    }
    // Both instances have looked at least twice since it was due.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for url in &urls {
        assert_eq!(kids(url).await.len(), 2, "{url}: one successor, not two");
    }
    drop(children);
    drop_schema(&schema).await;
}

#[tokio::test]
async fn a_period_no_longer_than_the_lead_is_refused_by_check_config() {
    let app = TestApp::spawn().await;
    let path = app.data_dir.path().join("short-period.toml");
    let text = format!(
        "{}\n[keys]\nactivation_delay_seconds = 600\nrotate_every_seconds = 600\n",
        app.config_text
    );
    std::fs::write(&path, text).expect("write");
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("keys.rotate_every_seconds: must exceed keys.activation_delay_seconds"),
        "{stderr}"
    );
}
