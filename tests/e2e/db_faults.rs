//! PostgreSQL going away and coming back, made real with a TCP proxy
//! between one bridge instance and the database: while it is cut the bridge
//! answers `/readyz` 503 and requests 503 / `temporarily_unavailable`,
//! without panicking; once restored it recovers by itself and nothing
//! committed is lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::cluster::{cluster_config, free_port, spawn_instance, wait_ready};
use crate::store_suite::{drop_schema, fresh_schema};
use crate::support::{AUTH0_CALLBACK, LegacyStack, REFRESHER_SECRET, TestApp, submit_login_at};

/// A TCP proxy to PostgreSQL that can be cut and restored.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (c, l) = (cut.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                l.lock().expect("lock").push(link);
            }
        });
        Self { port, cut, links }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().expect("lock").drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one outage, told in order
async fn postgres_down_means_503_and_recovery_loses_nothing() {
    let proxy = Proxy::start().await;
    let legacy = LegacyStack::spawn().await;
    let dir = tempfile::tempdir().expect("dir");
    let schema = fresh_schema();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("bridge.toml");
    let store_url = format!("postgres://root@127.0.0.1:{}/test", proxy.port);
    std::fs::write(
        &config,
        cluster_config(
            &url,
            &format!("127.0.0.1:{port}"),
            &dir.path().join("data"),
            &legacy.idp_url(),
            &store_url,
            &schema,
        ),
    )
    .expect("config");
    let mut child = spawn_instance(&config);
    wait_ready(&url).await;

    let browser = TestApp::browser();
    let login = |browser: reqwest::Client| {
        let url = url.clone();
        async move {
            let page = browser
                .get(format!("{url}/authorize"))
                .query(&[
                    ("response_type", "code"),
                    ("client_id", "refresher"),
                    ("redirect_uri", AUTH0_CALLBACK),
                    ("scope", "openid offline_access"),
                ])
                .send()
                .await
                .expect("authorize")
                .text()
                .await
                .expect("html");
            submit_login_at(&url, &browser, &page, "alice", "correct-horse").await
        }
    };
    let code_of = |r: &reqwest::Response| {
        let location =
            url::Url::parse(r.headers()["location"].to_str().expect("ascii")).expect("url");
        location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .expect("code")
            .1
            .into_owned()
    };
    let redeem = |code: String| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{url}/token"))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", AUTH0_CALLBACK),
                    ("client_id", "refresher"),
                    ("client_secret", REFRESHER_SECRET),
                ])
                .send()
                .await
                .expect("token")
        }
    };
    let pending_code = code_of(&login(browser.clone()).await);
    let tokens: Value = redeem(code_of(&login(browser.clone()).await))
        .await
        .json()
        .await
        .expect("json");
    let access = tokens["access_token"].as_str().expect("token").to_owned();

    proxy.cut();
    let ready = reqwest::get(format!("{url}/readyz"))
        .await
        .expect("readyz answers");
    assert_eq!(ready.status(), 503, "not ready without the database");
    let token = redeem(pending_code.clone()).await;
    assert_eq!(token.status(), 503);
    let body: Value = token.json().await.expect("json");
    assert_eq!(body["error"], "temporarily_unavailable");
    let info = reqwest::Client::new()
        .get(format!("{url}/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(info.status(), 503);
    let page = login(browser.clone()).await;
    assert_eq!(
        page.status(),
        503,
        "the login page says the service is unavailable"
    );
    assert!(child.0.try_wait().expect("status").is_none(), "no crash");

    proxy.restore();
    wait_ready(&url).await;
    assert_eq!(
        redeem(pending_code).await.status(),
        200,
        "a code issued before the outage still works"
    );
    let info = reqwest::Client::new()
        .get(format!("{url}/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(info.status(), 200, "so does the grant");
    drop(child);
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop_schema(&schema).await;
}

/// A PostgreSQL that cannot be reached at start-up is refused with its
/// cause (here: connection refused), not only the pool's "timed out".
#[tokio::test]
async fn an_unreachable_postgresql_is_refused_with_its_cause() {
    let port = free_port();
    let error = idp_bridge::domain::store::postgres::PgStore::open(
        &format!("postgres://root@127.0.0.1:{port}/test"),
        None,
        2,
    )
    .await
    .expect_err("nothing listens there");
    let text = error.to_string();
    assert!(
        text.contains("cannot connect to PostgreSQL") && text.to_lowercase().contains("refused"),
        "{text}"
    );
}
