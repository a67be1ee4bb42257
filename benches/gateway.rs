//! `scripts/gateway-bench.sh` (or `cargo build --release && cargo bench
//! --bench gateway` with `nginx` and `wrk` installed): the gateway beside
//! nginx, in one run, both in front of the same reference legacy API
//! (each its own process), with the same external load generator (wrk,
//! 32 connections):
//!
//! - requests/s and p50/p99 latency direct to the API, through nginx
//!   (`proxy_pass` with keep-alive, the legacy token set by configuration)
//!   and through the gateway (a cached Auth0 token: verified once, then
//!   swapped for the legacy token per request);
//! - the added p50 latency of each proxy, under that load (mostly queueing)
//!   and with one connection (what the proxy itself adds), and each proxy
//!   process's CPU time per request (from `/proc`, user + system);
//! - a 1 GiB download and a 1 GiB upload through the gateway, with its
//!   resident memory before, during (peak) and after.
//!
//! Three rounds, interleaved; medians reported.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use idp_bridge::reference::RunningServer;
use idp_bridge::util::legacy_token::{Lt1Claims, Lt1Keys};
use idp_bridge::util::secret::Key32;

const AUDIENCE: &str = "https://orders.example.com";
const ROUNDS: usize = 3;
const SECONDS: u32 = 8;
const GIB: u64 = 1 << 30;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first, so nginx's master stops its workers too.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        for _ in 0..40 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn binary() -> String {
    std::env::var("BIN").unwrap_or_else(|_| "target/release/idp-bridge".into())
}

/// A test Auth0 tenant; returns its server, issuer and a token for u-1001.
async fn tenant() -> (RunningServer, String, String) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).expect("rsa");
    let public = key.to_public_key();
    let b64 = |b: &[u8]| idp_bridge::util::crypto::b64url(b);
    let jwks = serde_json::json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "t1",
        "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be())}]});
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
    let claims = serde_json::json!({"iss": issuer, "sub": "oidc|legacy|u-1001", "aud": AUDIENCE,
        "iat": now, "exp": now + 7200, "azp": "spa", "scope": "read:orders"});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("t1".into());
    let der = key.to_pkcs1_der().expect("der");
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()),
    )
    .expect("sign");
    (server, issuer, token)
}

async fn wait_for(url: &str) {
    for _ in 0..200 {
        if reqwest::get(url).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

/// User + system CPU seconds of `pid` and its children (nginx's workers).
fn cpu_seconds(pid: u32) -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let own = entry.file_name().to_string_lossy() == pid.to_string();
        let child = fields.get(1).is_some_and(|ppid| *ppid == pid.to_string());
        if own || child {
            let utime: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            let stime: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
            total += (utime + stime) / ticks;
        }
    }
    total
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One wrk run with `connections`: (requests/s, p50 ms, p99 ms, requests).
fn wrk(url: &str, token: Option<&str>) -> (f64, f64, f64, f64) {
    wrk_with(url, token, 32, SECONDS)
}

fn wrk_with(
    url: &str,
    token: Option<&str>,
    connections: u32,
    seconds: u32,
) -> (f64, f64, f64, f64) {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.arg(url).output().expect("wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let ms = |v: &str| -> f64 {
        let v = v.trim();
        if let Some(us) = v.strip_suffix("us") {
            us.parse::<f64>().unwrap_or(0.0) / 1000.0
        } else if let Some(ms) = v.strip_suffix("ms") {
            ms.parse().unwrap_or(0.0)
        } else if let Some(s) = v.strip_suffix('s') {
            s.parse::<f64>().unwrap_or(0.0) * 1000.0
        } else {
            0.0
        }
    };
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_owned))
            .unwrap_or_default()
    };
    let rps: f64 = field("Requests/sec:").trim().parse().unwrap_or(0.0);
    let requests: f64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    let non2xx = text.lines().any(|l| l.contains("Non-2xx"));
    assert!(!non2xx, "errors during the run against {url}:\n{text}");
    (rps, ms(&field("50%")), ms(&field("99%")), requests)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
#[allow(clippy::too_many_lines)] // one measurement, in order
async fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let raw = [7u8; 32];
    let key_hex = hex::encode(raw);
    let keys = Lt1Keys::new(vec![("k1".into(), Key32::new(raw))], Some("k1")).expect("keys");

    // The legacy API, its own process.
    let api_port = free_port();
    let _api = Proc(
        Command::new(binary())
            .args([
                "reference",
                "legacy-api",
                "--listen",
                &format!("127.0.0.1:{api_port}"),
            ])
            .args(["--key", &format!("k1={key_hex}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("legacy API (build --release first)"),
    );
    let api = format!("http://127.0.0.1:{api_port}");
    wait_for(&format!("{api}/healthz")).await;

    // The bridge with its gateway; alice's legacy token is minted as LT1
    // (no sign-in needed for a proxy benchmark).
    let (_tenant, issuer, auth0) = tenant().await;
    let (port, gw_port) = (free_port(), free_port());
    let config = format!(
        r#"issuer = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
data_dir = "{data}"
max_connections_per_address = 10000
[[clients]]
id = "unused"
secret = "unused-client-secret-0123456789"
redirect_uris = ["https://example.com/cb"]
{upstream}
[legacy_token]
keys = {{ k1 = "{key_hex}" }}
mint_kid = "k1"
[token_exchange]
issuers = ["{issuer}"]
connections = ["legacy"]
[token_exchange.mint_lt1]
ttl_seconds = 7200
[gateway]
listen = "127.0.0.1:{gw_port}"
[[gateway.routes]]
prefix = "/orders"
upstream = "{api}/api"
audiences = ["{AUDIENCE}"]
"#,
        data = dir.path().join("data").display(),
        // No sign-in in this benchmark: the legacy IdP is never asked.
        upstream = idp_bridge::reference::legacy_idp::upstream_toml("http://127.0.0.1:9", 1000),
    );
    let config_path = dir.path().join("bridge.toml");
    std::fs::write(&config_path, config).expect("config");
    let bridge = Proc(
        Command::new(binary())
            .args(["serve", "--config"])
            .arg(&config_path)
            .env("IDP_BRIDGE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bridge"),
    );
    let gateway = format!("http://127.0.0.1:{gw_port}");
    wait_for(&format!("http://127.0.0.1:{port}/healthz")).await;

    // nginx, the same route with the legacy token set by configuration.
    let now = idp_bridge::util::clock::now_unix();
    let legacy = keys
        .mint(&Lt1Claims {
            sub: "u-1001".into(),
            iat: now,
            exp: now + 7200,
            scope: None,
            attributes: Vec::new(),
        })
        .expect("mint");
    let nginx_port = free_port();
    let nginx_conf = dir.path().join("nginx.conf");
    std::fs::write(
        &nginx_conf,
        format!(
            "worker_processes auto; daemon off; pid {pid}; error_log stderr error;
events {{ worker_connections 4096; }}
http {{ access_log off;
  upstream legacy {{ server 127.0.0.1:{api_port}; keepalive 64; }}
  server {{ listen 127.0.0.1:{nginx_port};
    location /orders/ {{ proxy_pass http://legacy/api/; proxy_http_version 1.1;
      proxy_set_header Connection \"\"; proxy_set_header Authorization \"Bearer {legacy}\"; }} }} }}
",
            pid = dir.path().join("nginx.pid").display()
        ),
    )
    .expect("nginx.conf");
    let nginx = Proc(
        Command::new(std::env::var("NGINX").unwrap_or_else(|_| "nginx".into()))
            .args(["-c"])
            .arg(&nginx_conf)
            .args(["-p"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx (apt-get install nginx)"),
    );
    let nginx_url = format!("http://127.0.0.1:{nginx_port}");
    wait_for(&format!("{nginx_url}/orders/x")).await;

    // Warm: the gateway's cache and pools, nginx's keep-alive.
    let probe = reqwest::Client::new()
        .get(format!("{gateway}/orders/x"))
        .bearer_auth(&auth0)
        .send()
        .await
        .expect("gateway");
    assert_eq!(probe.status(), 200, "the gateway forwards");
    let direct_url = format!("{api}/api/x");
    if let Ok(out) = std::env::var("GATEWAY_BENCH_PERF") {
        // A CPU profile of the bridge process under the gateway's load.
        let mut perf = Command::new("perf")
            .args(["record", "-F", "999", "-g", "-o", &out, "-p"])
            .arg(bridge.0.id().to_string())
            .args(["--", "sleep", &SECONDS.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("perf (apt-get install linux-perf)");
        let _ = wrk(&format!("{gateway}/orders/x"), Some(&auth0));
        let _ = perf.wait();
        println!("profile written to {out}");
        return;
    }
    let (mut direct, mut via_nginx, mut via_gateway) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_nginx, mut cpu_gateway) = (Vec::new(), Vec::new());
    let (mut alone_direct, mut alone_nginx, mut alone_gateway) =
        (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        // One connection: the latency a proxy adds when nothing queues.
        alone_direct.push(wrk_with(&direct_url, Some(&legacy), 1, 5).1);
        alone_nginx.push(wrk_with(&format!("{nginx_url}/orders/x"), None, 1, 5).1);
        alone_gateway.push(wrk_with(&format!("{gateway}/orders/x"), Some(&auth0), 1, 5).1);
        direct.push(wrk(&direct_url, Some(&legacy)));
        let before = cpu_seconds(nginx.0.id());
        let r = wrk(&format!("{nginx_url}/orders/x"), None);
        cpu_nginx.push((cpu_seconds(nginx.0.id()) - before) / r.3 * 1e6);
        via_nginx.push(r);
        let before = cpu_seconds(bridge.0.id());
        let r = wrk(&format!("{gateway}/orders/x"), Some(&auth0));
        cpu_gateway.push((cpu_seconds(bridge.0.id()) - before) / r.3 * 1e6);
        via_gateway.push(r);
    }
    let col = |v: &[(f64, f64, f64, f64)], i: usize| {
        median(v.iter().map(|r| [r.0, r.1, r.2][i]).collect())
    };
    println!("\n{ROUNDS} rounds of {SECONDS} s, wrk -t1 -c32, medians:");
    println!("| path | requests/s | p50 ms | p99 ms | added p50 ms | proxy CPU µs/request |");
    println!("|---|---|---|---|---|---|");
    let base = col(&direct, 1);
    println!(
        "| direct to the API | {:.0} | {:.2} | {:.2} | — | — |",
        col(&direct, 0),
        base,
        col(&direct, 2)
    );
    for (name, runs, cpu) in [
        ("nginx (proxy_pass)", &via_nginx, &cpu_nginx),
        ("gateway (cached token)", &via_gateway, &cpu_gateway),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} |",
            col(runs, 0),
            col(runs, 1),
            col(runs, 2),
            col(runs, 1) - base,
            median(cpu.clone())
        );
    }
    let alone = median(alone_direct);
    println!(
        "one connection, p50: direct {alone:.3} ms; nginx adds {:.3} ms; the gateway adds {:.3} ms",
        median(alone_nginx) - alone,
        median(alone_gateway) - alone
    );
    println!(
        "gateway/nginx throughput: {:.0} % (each round: {})",
        col(&via_gateway, 0) / col(&via_nginx, 0) * 100.0,
        via_gateway
            .iter()
            .zip(&via_nginx)
            .map(|(g, n)| format!("{:.0} %", g.0 / n.0 * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // 1 GiB each way through the gateway, memory sampled meanwhile.
    let pid = bridge.0.id();
    let idle = rss_kib(pid, "VmRSS:");
    let peak_before = rss_kib(pid, "VmHWM:");
    let started = std::time::Instant::now();
    let mut response = reqwest::Client::new()
        .get(format!("{gateway}/orders/download?bytes={GIB}"))
        .bearer_auth(&auth0)
        .send()
        .await
        .expect("download");
    let mut got = 0u64;
    while let Some(chunk) = response.chunk().await.expect("chunk") {
        got += chunk.len() as u64;
    }
    assert_eq!(got, GIB);
    let down = started.elapsed();
    let client: hyper_util::client::legacy::Client<_, axum::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let started = std::time::Instant::now();
    let request = http::Request::post(format!("{gateway}/orders/upload"))
        .header("authorization", format!("Bearer {auth0}"))
        .body(axum::body::Body::new(
            idp_bridge::reference::legacy_api::Zeros::new(GIB),
        ))
        .expect("request");
    let answer = client.request(request).await.expect("upload");
    assert_eq!(answer.status(), 200);
    let up = started.elapsed();
    let after = rss_kib(pid, "VmRSS:");
    let peak = rss_kib(pid, "VmHWM:");
    println!(
        "1 GiB down in {:.1} s, 1 GiB up in {:.1} s; bridge+gateway process RSS: {} MiB before, {} MiB after; peak RSS {} MiB before the transfers, {} MiB after",
        down.as_secs_f64(),
        up.as_secs_f64(),
        idle / 1024,
        after / 1024,
        peak_before / 1024,
        peak / 1024
    );
}
