//! Several instances on one PostgreSQL database, as real processes: any
//! instance finishes any flow, exactly-once holds across instances, and
//! instances starting together agree on one signing key.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::store_suite::{drop_schema, fresh_schema, pg_url};
use crate::support::{
    AUTH0_CALLBACK, LegacyStack, REFRESHER_SECRET, TestApp, get_json, submit_login_at,
};

pub struct Child(pub std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A cluster: one issuer, instances on their own ports, one database.
pub struct Cluster {
    pub issuer: String,
    pub configs: Vec<std::path::PathBuf>,
    pub urls: Vec<String>,
    /// Each instance's gateway, when `extra` has `{GATEWAY_PORT}`.
    pub gateway_urls: Vec<String>,
    /// Each instance's admin API, where the extra text has `{ADMIN_PORT}`.
    pub admin_urls: Vec<String>,
    pub legacy: LegacyStack,
    pub schema: String,
    _dir: tempfile::TempDir,
    _children: Vec<Child>,
}

pub fn cluster_config(
    issuer: &str,
    listen: &str,
    data: &std::path::Path,
    idp: &str,
    store_url: &str,
    schema: &str,
) -> String {
    format!(
        r#"
issuer = "{issuer}"
listen = "{listen}"
data_dir = "{data}"
storage_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
[keys]
reload_interval_seconds = 1
[store]
url = "{store_url}"
schema = "{schema}"
max_connections = 5
[[clients]]
id = "refresher"
secret = "{REFRESHER_SECRET}"
redirect_uris = ["{AUTH0_CALLBACK}"]
scopes = ["openid", "profile", "email", "offline_access"]
refresh_tokens = {{ reuse_grace_seconds = 2 }}
{upstream}"#,
        data = data.display(),
        upstream = idp_bridge::reference::legacy_idp::upstream_toml(idp, 2000),
    )
}

pub fn spawn_instance(config: &std::path::Path) -> Child {
    Child(
        Command::new(env!("CARGO_BIN_EXE_idp-bridge"))
            .args(["serve", "--config"])
            .arg(config)
            .env("IDP_BRIDGE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start an instance"),
    )
}

pub async fn wait_ready(url: &str) {
    for _ in 0..150 {
        if reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not become ready");
}

impl Cluster {
    /// Starts `n` instances at the same moment on an empty schema.
    pub async fn start(n: usize, store_url: &str) -> Self {
        Self::start_with(n, store_url, "", |_| {}).await
    }

    /// As [`Self::start`], with `extra` appended to each config (with
    /// `{GATEWAY_PORT}` a free port per instance and `{LEGACY_API}` the
    /// reference legacy API) and the simulator adjusted.
    pub async fn start_with(
        n: usize,
        store_url: &str,
        extra: &str,
        adjust: impl FnOnce(&mut idp_bridge::reference::legacy_idp::LegacyIdpOptions),
    ) -> Self {
        let legacy = LegacyStack::spawn_with(adjust).await;
        let dir = tempfile::tempdir().expect("dir");
        let schema = fresh_schema();
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let issuer = format!("http://127.0.0.1:{}", ports[0]);
        let mut children = Vec::new();
        let mut urls = Vec::new();
        let mut configs = Vec::new();
        let mut gateway_urls = Vec::new();
        let mut admin_urls = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let gateway_port = free_port();
            let admin_port = free_port();
            let extra = extra
                .replace("{GATEWAY_PORT}", &gateway_port.to_string())
                .replace("{ADMIN_PORT}", &admin_port.to_string())
                .replace("{LEGACY_API}", &legacy.api_server.url());
            gateway_urls.push(format!("http://127.0.0.1:{gateway_port}"));
            admin_urls.push(format!("http://127.0.0.1:{admin_port}"));
            let path = dir.path().join(format!("bridge-{i}.toml"));
            let data = dir.path().join(format!("data-{i}"));
            std::fs::write(
                &path,
                cluster_config(
                    &issuer,
                    &format!("127.0.0.1:{port}"),
                    &data,
                    &legacy.idp_url(),
                    store_url,
                    &schema,
                ) + &extra,
            )
            .expect("config");
            children.push(spawn_instance(&path));
            configs.push(path);
            urls.push(format!("http://127.0.0.1:{port}"));
        }
        for url in &urls {
            wait_ready(url).await;
        }
        Self {
            issuer,
            configs,
            urls,
            gateway_urls,
            admin_urls,
            legacy,
            schema,
            _dir: dir,
            _children: children,
        }
    }

    /// Authorize on `authorize_on`, post the login form to `login_on`; returns the code.
    pub async fn login(&self, authorize_on: usize, login_on: usize) -> String {
        let browser = TestApp::browser();
        let page = browser
            .get(format!("{}/authorize", self.urls[authorize_on]))
            .query(&[
                ("response_type", "code"),
                ("client_id", "refresher"),
                ("redirect_uri", AUTH0_CALLBACK),
                ("scope", "openid offline_access"),
                ("state", "s"),
            ])
            .send()
            .await
            .expect("authorize")
            .text()
            .await
            .expect("html");
        let response = submit_login_at(
            &self.urls[login_on],
            &browser,
            &page,
            "alice",
            "correct-horse",
        )
        .await;
        assert_eq!(response.status(), 303, "login on instance {login_on}");
        let location =
            url::Url::parse(response.headers()["location"].to_str().expect("ascii")).expect("url");
        assert_eq!(
            location
                .query_pairs()
                .find(|(k, _)| k == "iss")
                .map(|(_, v)| v.into_owned()),
            Some(self.issuer.clone()),
            "one issuer for all instances"
        );
        location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .expect("code")
            .1
            .into_owned()
    }

    pub async fn token(&self, on: usize, form: &[(&str, &str)]) -> reqwest::Response {
        let mut all = form.to_vec();
        all.push(("client_id", "refresher"));
        all.push(("client_secret", REFRESHER_SECRET));
        reqwest::Client::new()
            .post(format!("{}/token", self.urls[on]))
            .form(&all)
            .send()
            .await
            .expect("token")
    }

    pub async fn redeem(&self, on: usize, code: &str) -> reqwest::Response {
        self.token(
            on,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", AUTH0_CALLBACK),
            ],
        )
        .await
    }

    pub fn config_path(&self, i: usize) -> std::path::PathBuf {
        self.configs[i].clone()
    }

    pub async fn finish(self) {
        drop_schema(&self.schema).await;
    }
}

#[tokio::test]
async fn any_instance_finishes_any_flow() {
    let c = Cluster::start(2, &pg_url()).await;
    let jwks: Vec<Value> = futures_join(&c.urls, "/jwks").await;
    assert_eq!(jwks[0], jwks[1], "both serve the same JWKS");
    assert_eq!(
        jwks[0]["keys"].as_array().expect("keys").len(),
        1,
        "instances started together end with one key"
    );

    let code = c.login(0, 1).await; // authorize on A, the form posted to B
    let tokens: Value = c.redeem(0, &code).await.json().await.expect("json"); // the code on A
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let userinfo = reqwest::Client::new()
        .get(format!("{}/userinfo", c.urls[1]))
        .bearer_auth(&access)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(userinfo.status(), 200, "userinfo on B");
    let refreshed = c
        .token(
            1,
            &[
                ("grant_type", "refresh_token"),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().expect("rt"),
                ),
            ],
        )
        .await;
    assert_eq!(refreshed.status(), 200, "refresh on B");
    c.finish().await;
}

#[tokio::test]
async fn the_same_code_on_both_instances_at_once_succeeds_exactly_once() {
    let c = Cluster::start(2, &pg_url()).await;
    for _ in 0..3 {
        let code = c.login(0, 0).await;
        let (a, b) = tokio::join!(c.redeem(0, &code), c.redeem(1, &code));
        let ok = [a.status(), b.status()]
            .iter()
            .filter(|s| s.is_success())
            .count();
        assert_eq!(ok, 1, "exactly one redemption wins");
    }
    c.finish().await;
}

#[tokio::test]
async fn concurrent_refreshes_across_instances_follow_the_rotation_rules() {
    let c = Cluster::start(2, &pg_url()).await;
    let code = c.login(0, 1).await;
    let tokens: Value = c.redeem(1, &code).await.json().await.expect("json");
    let rt = tokens["refresh_token"].as_str().expect("rt").to_owned();
    let before = c.legacy.idp.renewals();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    let (a, b) = tokio::join!(c.token(0, &form), c.token(1, &form));
    let (a, b): (Value, Value) = (a.json().await.expect("json"), b.json().await.expect("json"));
    assert_eq!(
        a["refresh_token"], b["refresh_token"],
        "one successor: {a} {b}"
    );
    assert_eq!(a["access_token"], b["access_token"]);
    assert_eq!(c.legacy.idp.renewals() - before, 1, "one renewal upstream");
    // After the grace period, reuse on either instance revokes the family.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let reuse = c.token(1, &form).await;
    assert_eq!(reuse.status(), 400);
    let newest = [
        ("grant_type", "refresh_token"),
        ("refresh_token", a["refresh_token"].as_str().expect("rt")),
    ];
    assert_eq!(
        c.token(0, &newest).await.status(),
        400,
        "the family is revoked everywhere"
    );
    c.finish().await;
}

async fn futures_join(urls: &[String], path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for url in urls {
        out.push(get_json(&format!("{url}{path}")).await);
    }
    out
}
