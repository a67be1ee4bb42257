//! `cargo bench --bench bridge`: complete logins per second (authorize →
//! login form → token) against the in-process reference legacy IdP on
//! SQLite, token endpoint latency at 32 concurrent requests, userinfo
//! throughput, token exchanges (RFC 8693) for a user with a live grant
//! against a test Auth0 tenant, and the idle resident memory of a real
//! `idp-bridge serve`.
//!
//! The load generator shares the machine (and its cores) with the bridge
//! and the legacy IdP, so the figures are a floor. Each figure is the median
//! of several rounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use idp_bridge::app::App;
use idp_bridge::domain::config::{BridgeConfig, Settings};
use idp_bridge::reference::RunningServer;
use idp_bridge::reference::legacy_idp::{LegacyIdpOptions, ReferenceIdp};
use idp_bridge::util::legacy_token::Lt1Keys;
use idp_bridge::util::secret::Key32;

const CALLBACK: &str = "https://example-tenant.us.auth0.com/login/callback";
const SECRET: &str = "bench-client-secret-0123456789";

struct Setup {
    issuer: String,
    /// An Auth0-shaped access token for alice, signed by the test tenant.
    auth0_token: String,
    /// The tenant's public key, for timing one RS256 verification.
    auth0_key: jsonwebtoken::DecodingKey,
    _idp: RunningServer,
    _tenant: RunningServer,
    _dir: tempfile::TempDir,
}

const EXCHANGER_SECRET: &str = "bench-exchanger-secret-0123456";
const ORDERS: &str = "https://orders.example.com";

/// A test Auth0 tenant: a JWKS on port 0 and one RS256 key; returns the
/// server, its issuer, a token for alice, and the public key.
async fn tenant() -> (RunningServer, String, String, jsonwebtoken::DecodingKey) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("rsa");
    let public = key.to_public_key();
    let (n, e) = (
        idp_bridge::util::crypto::b64url(&public.n().to_bytes_be()),
        idp_bridge::util::crypto::b64url(&public.e().to_bytes_be()),
    );
    let jwks = serde_json::json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "t1", "n": n, "e": e}]});
    let router = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let server = RunningServer::bind("127.0.0.1:0", router)
        .await
        .expect("tenant");
    let issuer = format!("{}/", server.url());
    let now = idp_bridge::util::clock::now_unix();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("t1".into());
    header.typ = Some("at+jwt".into());
    let der = key.to_pkcs1_der().expect("der");
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"iss": issuer, "sub": "oidc|legacy|u-1001", "aud": ORDERS,
                            "iat": now, "exp": now + 3600, "scope": "read:orders"}),
        &jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()),
    )
    .expect("sign");
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).expect("key");
    (server, issuer, token, decoding)
}

/// `BENCH_STORE=postgres` runs on PostgreSQL (`BENCH_PG_URL`, default the
/// machine's `postgres://root@127.0.0.1:5432/test`) in a fresh schema.
fn store_section() -> String {
    if std::env::var("BENCH_STORE").is_ok_and(|s| s == "postgres") {
        let url = std::env::var("BENCH_PG_URL")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
        format!(
            "[store]\nurl = \"{url}\"\nschema = \"idpb_bench_{}\"\nmax_connections = 16\n",
            std::process::id()
        )
    } else {
        String::new()
    }
}

/// `BENCH_ALG=ES256` has the client take ES256 ID tokens (RS256 otherwise).
fn id_token_alg() -> String {
    std::env::var("BENCH_ALG").unwrap_or_else(|_| "RS256".into())
}

fn config_text(
    issuer: &str,
    listen: &str,
    data: &std::path::Path,
    (idp, tenant): (&str, &str),
    store: &str,
) -> String {
    format!(
        r#"
issuer = "{issuer}"
listen = "{listen}"
data_dir = "{data}"
{store}
# Logins of one user from one address at 64 at once: in-flight attempts
# count toward the throttle's limits, which this bench does not measure.
[throttle]
max_failures_per_user_and_address = 1000000
max_failures_per_address = 1000000
max_failures_per_user = 1000001
[[clients]]
id = "bench"
secret = "{SECRET}"
redirect_uris = ["{CALLBACK}"]
id_token_signed_response_alg = "{alg}"
[[clients]]
id = "exchanger"
secret = "{EXCHANGER_SECRET}"
redirect_uris = ["https://orders.example.com/unused"]
token_exchange = {{ audiences = ["{ORDERS}"] }}
[token_exchange]
issuers = ["{tenant}"]
connections = ["legacy"]
{upstream}"#,
        alg = id_token_alg(),
        upstream = idp_bridge::reference::legacy_idp::upstream_toml(idp, 5000),
        data = data.display(),
        store = store,
    )
}

async fn setup() -> Setup {
    let keys = Lt1Keys::new(vec![("bench".into(), Key32::new([7; 32]))], None).expect("keys");
    let mut options = LegacyIdpOptions::demo(keys);
    if std::env::var("BENCH_DEMO_HASHES").is_err() {
        // The simulator stands in for a remote legacy IdP whose password
        // hashing is not the bridge's cost: give alice a cheap argon2id hash
        // (8 KiB, 1 pass) so the bridge is what gets measured.
        // BENCH_DEMO_HASHES=1 keeps the demo users' 4 MiB hashes.
        let mut alice = options.users.get("alice").expect("alice").clone();
        alice.password_hash =
            idp_bridge::reference::users::hash_password_with("correct-horse", 8, 1).expect("hash");
        options.users.insert(alice);
    }
    let idp = ReferenceIdp::new(options);
    let (tenant_server, tenant_issuer, auth0_token, auth0_key) = tenant().await;
    let idp_server = RunningServer::bind("127.0.0.1:0", idp.router())
        .await
        .expect("idp");
    let dir = tempfile::tempdir().expect("dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let issuer = format!("http://{addr}");
    let path = dir.path().join("bridge.toml");
    std::fs::write(
        &path,
        config_text(
            &issuer,
            &addr.to_string(),
            dir.path(),
            (&idp_server.url(), &tenant_issuer),
            &store_section(),
        ),
    )
    .expect("config");
    let raw: BridgeConfig = idp_bridge::domain::config::load_raw(Some(&path), &[]).expect("config");
    let app = App::build_with_listener(Settings::validate(raw).expect("valid"), listener)
        .await
        .expect("app");
    tokio::spawn(app.run_until(std::future::pending()));
    Setup {
        issuer,
        auth0_token,
        auth0_key,
        _idp: idp_server,
        _tenant: tenant_server,
        _dir: dir,
    }
}

fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("field") + marker.len();
    let end = html[start..].find('"').expect("quote") + start;
    html[start..end].to_owned()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// One complete login as a fresh browser (no cookie yet); returns the code.
/// The session cookie is carried by hand so one connection pool serves
/// every simulated browser (building a client per login would measure the
/// load generator).
async fn login_with(browser: &reqwest::Client, issuer: &str) -> String {
    let page = browser
        .get(format!("{issuer}/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", "bench"),
            ("redirect_uri", CALLBACK),
            ("scope", "openid profile email"),
            ("state", "s"),
        ])
        .send()
        .await
        .expect("authorize");
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let html = page.text().await.expect("html");
    let response = browser
        .post(format!("{issuer}/login"))
        .header("cookie", cookie)
        .form(&[
            ("request", field(&html, "request")),
            ("csrf", field(&html, "csrf")),
            ("username", "alice".into()),
            ("password", "correct-horse".into()),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 303);
    let location =
        url::Url::parse(response.headers()["location"].to_str().expect("ascii")).expect("url");
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .into_owned()
}

async fn login(issuer: &str) -> String {
    login_with(&browser(), issuer).await
}

async fn redeem(http: &reqwest::Client, issuer: &str, code: &str) -> String {
    let response = http
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("client_id", "bench"),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    body["access_token"].as_str().expect("token").to_owned()
}

/// Runs `work` on `concurrency` tasks for `duration`; returns completions per second.
async fn throughput<F, Fut>(concurrency: usize, duration: Duration, work: F) -> f64
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let work = Arc::new(work);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (work, done, stop) = (work.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    work().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        // A failed request fails the bench: figures of failures mislead.
        t.await.expect("a load task failed");
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let count = done.load(Ordering::Relaxed) as f64;
    count / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Nearest-rank percentile, `p` in percent.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let i = (sorted.len().saturating_sub(1) * p + 50) / 100;
    sorted[i]
}

async fn token_latency(issuer: &str, concurrency: usize, requests: usize) -> (Duration, Duration) {
    // Codes first (they live 60 s), then the token requests alone.
    let codes = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(requests)));
    let mut fill = Vec::new();
    let http = browser();
    for _ in 0..16 {
        let (codes, issuer, http) = (codes.clone(), issuer.to_owned(), http.clone());
        fill.push(tokio::spawn(async move {
            loop {
                if codes.lock().await.len() >= requests {
                    break;
                }
                let code = login_with(&http, &issuer).await;
                codes.lock().await.push(code);
            }
        }));
    }
    for f in fill {
        let _ = f.await;
    }
    let http = reqwest::Client::new();
    let latencies = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(requests)));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (codes, latencies, http, issuer) = (
            codes.clone(),
            latencies.clone(),
            http.clone(),
            issuer.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(code) = codes.lock().await.pop() else {
                    break;
                };
                let t = Instant::now();
                redeem(&http, &issuer, &code).await;
                latencies.lock().await.push(t.elapsed());
            }
        }));
    }
    for t in tasks {
        // A failed request fails the bench: figures of failures mislead.
        t.await.expect("a load task failed");
    }
    let mut l = latencies.lock().await.clone();
    l.sort();
    (percentile(&l, 50), percentile(&l, 99))
}

/// Microseconds for one RS256 verification of `token` (median of 5 runs of 200).
fn rs256_verify_micros(token: &str, key: &jsonwebtoken::DecodingKey) -> f64 {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    let mut runs = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..200 {
            let _ = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
                .expect("verifies");
        }
        runs.push(started.elapsed().as_secs_f64() * 1e6 / 200.0);
    }
    median(runs)
}

/// This process's user and system CPU time, seconds (Linux `/proc`).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`.
    (ticks(11) + ticks(12)) / 100.0
}

fn idle_rss_kib() -> Option<u64> {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/idp-bridge");
    if !bin.exists() {
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let path = dir.path().join("bridge.toml");
    std::fs::write(
        &path,
        config_text(
            &format!("http://127.0.0.1:{port}"),
            &format!("127.0.0.1:{port}"),
            dir.path(),
            ("http://127.0.0.1:9", "http://127.0.0.1:9/"),
            "",
        ),
    )
    .ok()?;
    let mut child = std::process::Command::new(bin)
        .args(["serve", "--config"])
        .arg(&path)
        .env("IDP_BRIDGE_LOG", "warn")
        .spawn()
        .ok()?;
    let mut rss = None;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            std::thread::sleep(Duration::from_secs(1));
            let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
            rss = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok());
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    rss
}

#[allow(clippy::cast_precision_loss, clippy::too_many_lines)] // printing MiB; one report, in order
fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let s = setup().await;
        let issuer = s.issuer.clone();
        // Warm-up (first key generation is done at build; warm the pools).
        for _ in 0..20 {
            let code = login(&issuer).await;
            redeem(&reqwest::Client::new(), &issuer, &code).await;
        }

        let mut logins = Vec::new();
        for _ in 0..rounds {
            let issuer = issuer.clone();
            let http = browser();
            let rate = throughput(64, Duration::from_secs(seconds), move || {
                let (issuer, http) = (issuer.clone(), http.clone());
                async move {
                    let code = login_with(&http, &issuer).await;
                    redeem(&http, &issuer, &code).await;
                }
            })
            .await;
            println!("  complete logins/s (64 concurrent browsers): {rate:.0}");
            logins.push(rate);
        }

        let mut p50s = Vec::new();
        let mut p99s = Vec::new();
        for _ in 0..rounds {
            let (p50, p99) = token_latency(&issuer, 32, 2000).await;
            println!(
                "  token endpoint at 32 concurrent: p50 {:.2} ms, p99 {:.2} ms",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
            p50s.push(p50.as_secs_f64() * 1e3);
            p99s.push(p99.as_secs_f64() * 1e3);
        }

        let token = redeem(&reqwest::Client::new(), &issuer, &login(&issuer).await).await;
        let mut userinfo = Vec::new();
        for _ in 0..rounds {
            let (issuer, token) = (issuer.clone(), token.clone());
            let http = reqwest::Client::new();
            let rate = throughput(32, Duration::from_secs(seconds), move || {
                let (issuer, token, http) = (issuer.clone(), token.clone(), http.clone());
                async move {
                    let r = http
                        .get(format!("{issuer}/userinfo"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .expect("userinfo");
                    assert_eq!(r.status(), 200);
                    let _ = r.bytes().await;
                }
            })
            .await;
            println!("  userinfo requests/s (32 concurrent): {rate:.0}");
            userinfo.push(rate);
        }

        // Token exchange for alice, who has a live grant from the login above.
        let verify_us = rs256_verify_micros(&s.auth0_token, &s.auth0_key);
        let mut exchanges = Vec::new();
        let mut cpu_per = Vec::new();
        for _ in 0..rounds {
            let (issuer, token) = (issuer.clone(), s.auth0_token.clone());
            let http = reqwest::Client::new();
            let cpu_before = process_cpu_seconds();
            let started = Instant::now();
            let rate = throughput(32, Duration::from_secs(seconds), move || {
                let (issuer, token, http) = (issuer.clone(), token.clone(), http.clone());
                async move {
                    let r = http
                        .post(format!("{issuer}/token"))
                        .basic_auth("exchanger", Some(EXCHANGER_SECRET))
                        .form(&[
                            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                            ("subject_token", token.as_str()),
                        ])
                        .send()
                        .await
                        .expect("exchange");
                    assert_eq!(r.status(), 200);
                    let _ = r.bytes().await;
                }
            })
            .await;
            let cpu = process_cpu_seconds() - cpu_before;
            let per = cpu / (rate * started.elapsed().as_secs_f64()) * 1e6;
            println!(
                "  token exchanges/s (32 concurrent): {rate:.0}, process CPU per exchange (bridge + load generator): {per:.0} µs"
            );
            exchanges.push(rate);
            cpu_per.push(per);
        }

        println!();
        println!("median of {rounds} rounds:");
        println!("  complete logins/s:        {:.0}", median(logins));
        println!(
            "  token p50 / p99 (32 conc): {:.2} ms / {:.2} ms",
            median(p50s),
            median(p99s)
        );
        println!("  userinfo requests/s:       {:.0}", median(userinfo));
        println!(
            "  token exchanges/s:         {:.0} ({:.0} µs CPU per exchange, bridge and load generator together; one RS256 verification: {verify_us:.0} µs)",
            median(exchanges),
            median(cpu_per)
        );
    });
    if std::env::var("BENCH_STORE").is_ok_and(|s| s == "postgres") {
        println!("  store: PostgreSQL");
        let url = std::env::var("BENCH_PG_URL")
            .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
        runtime.block_on(async {
            if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                let _ = sqlx::query(&format!(
                    "DROP SCHEMA IF EXISTS idpb_bench_{} CASCADE",
                    std::process::id()
                ))
                .execute(&pool)
                .await;
            }
        });
    } else {
        println!("  store: SQLite");
    }
    match idle_rss_kib() {
        Some(kib) => println!(
            "  idle RSS of `idp-bridge serve`: {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("  idle RSS: build the release binary first (cargo build --release)"),
    }
}
