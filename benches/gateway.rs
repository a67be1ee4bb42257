//! `scripts/bench/gateway.sh` (or `cargo build --release && cargo bench
//! --bench gateway` with `nginx` and `wrk` installed): the gateway beside
//! nginx, in one run, in front of two upstreams (each its own process):
//!
//! - **static**: an nginx `return 200` server, so fast that what is
//!   measured is the proxies themselves;
//! - **api**: the reference legacy API, which checks the legacy token on
//!   every request (its own cost hides part of the gap).
//!
//! nginx (Debian's) proxies with `proxy_pass`, keep-alive and the legacy
//! token set by configuration, with as many workers as the machine has
//! cores (the bridge's runtime has as many threads); the gateway holds a
//! cached Auth0 token (verified once, then swapped for the legacy token per
//! request). The same external load generator (wrk, one thread, 32
//! connections) drives every path, in alternating rounds, medians reported:
//!
//! - requests/s and p50/p99 latency direct to the upstream, through nginx
//!   and through the gateway, and the gateway/nginx ratio;
//! - each proxy process's CPU time per request (from `/proc`, user +
//!   system, nginx's workers included) and the gateway/nginx ratio;
//! - the p50 latency each proxy adds with one connection (nothing queues);
//! - a 1 GiB download and a 1 GiB upload through the gateway, with its
//!   resident memory before, during (peak) and after.
//!
//! `GATEWAY_BENCH_ROUNDS` (3) and `GATEWAY_BENCH_SECONDS` (8) change the
//! rounds. Other modes measure one thing instead:
//!
//! - `GATEWAY_BENCH_PERF=/tmp/gw.perf`: a `perf record -g` profile of the
//!   bridge process under the gateway's load (`GATEWAY_BENCH_UPSTREAM=api`
//!   for the reference API; static by default);
//! - `GATEWAY_BENCH_STAT=1`: system calls and context switches per
//!   request of each proxy (`perf stat`, software events);
//! - `GATEWAY_BENCH_CALLGRIND=/tmp/cg`: the bridge runs under valgrind's
//!   callgrind; after a warm-up, the instructions it executes (user space)
//!   per request forwarded to the static upstream, at 4 connections — a
//!   figure that stays put on a shared machine, for before/after
//!   comparisons (`BIN=` another build).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use idp_bridge::reference::RunningServer;
use idp_bridge::util::legacy_token::{Lt1Claims, Lt1Keys};
use idp_bridge::util::secret::Key32;

const AUDIENCE: &str = "https://orders.example.com";
const GIB: u64 = 1 << 30;

fn setting(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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

/// Waits for `url` to answer (a minute: the bridge may start under valgrind).
async fn wait_for(url: &str) {
    for _ in 0..1200 {
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

/// `pid` and its children (nginx's workers).
fn family(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(pid) {
            if let Ok(child) = entry.file_name().to_string_lossy().parse() {
                pids.push(child);
            }
        }
    }
    pids
}

/// System calls and context switches per request of `pid` (and its
/// children) while wrk drives `url`, from `perf stat` (software events).
fn kernel_work(pid: u32, url: &str, token: Option<&str>, seconds: u32) -> (f64, f64, f64) {
    let pids = family(pid)
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let out = std::env::temp_dir().join(format!("gw-stat-{pid}.txt"));
    let mut perf = Command::new("perf")
        .args([
            "stat",
            "-x,",
            "-e",
            "raw_syscalls:sys_enter,context-switches,cpu-migrations",
            "-o",
        ])
        .arg(&out)
        .args(["-p", &pids, "--", "sleep", &seconds.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("perf (apt-get install linux-perf)");
    let r = wrk(url, token, 32, seconds);
    let _ = perf.wait();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let count = |event: &str| -> f64 {
        text.lines()
            .find(|l| l.contains(event))
            .and_then(|l| l.split(',').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(f64::NAN)
    };
    (
        count("raw_syscalls:sys_enter") / r.3,
        count("context-switches") / r.3,
        count("cpu-migrations") / r.3,
    )
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

/// One wrk run: (requests/s, p50 ms, p99 ms, requests).
fn wrk(url: &str, token: Option<&str>, connections: u32, seconds: u32) -> (f64, f64, f64, f64) {
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
    assert!(
        !non2xx && requests > 0.0,
        "errors during the run against {url}:\n{text}"
    );
    if let Some(errors) = text.lines().find(|l| l.contains("Socket errors")) {
        eprintln!("{url}: {}", errors.trim());
    }
    (rps, ms(&field("50%")), ms(&field("99%")), requests)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// One upstream and the three ways to reach it.
struct Path {
    name: &'static str,
    direct: String,
    /// The token the upstream itself expects (the legacy token).
    direct_token: Option<String>,
    nginx: String,
    gateway: String,
}

/// What the rounds measured for one upstream: wrk results per path
/// (direct, nginx, gateway), CPU µs per request per proxy (nginx,
/// gateway), p50 at one connection per path.
#[derive(Default)]
struct Figures {
    loaded: [Vec<(f64, f64, f64, f64)>; 3],
    cpu: [Vec<f64>; 2],
    alone: [Vec<f64>; 3],
}

/// A gateway configuration with a route to each upstream.
fn bridge_config(
    port: u16,
    gw_port: u16,
    data: &std::path::Path,
    key_hex: &str,
    issuer: &str,
    api: &str,
    fixed: &str,
) -> String {
    format!(
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
[[gateway.routes]]
prefix = "/static"
upstream = "{fixed}"
audiences = ["{AUDIENCE}"]
"#,
        data = data.display(),
        // No sign-in in this benchmark: the legacy IdP is never asked.
        upstream = idp_bridge::reference::legacy_idp::upstream_toml("http://127.0.0.1:9", 1000),
    )
}

/// Starts nginx on `conf` (`http { … }` body) in `dir`.
fn nginx(dir: &std::path::Path, workers: usize, http: &str) -> Proc {
    std::fs::create_dir_all(dir).expect("nginx dir");
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "worker_processes {workers}; daemon off; pid {pid}; error_log stderr error;
events {{ worker_connections 4096; }}
http {{ access_log off; {http} }}
",
            pid = dir.join("nginx.pid").display()
        ),
    )
    .expect("nginx.conf");
    Proc(
        // Not `NGINX`: nginx reads that variable as sockets to inherit.
        Command::new(std::env::var("NGINX_BIN").unwrap_or_else(|_| "nginx".into()))
            .env_remove("NGINX")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx (apt-get install nginx)"),
    )
}

/// The bridge, under `wrapper` (valgrind, say) when given.
fn bridge(config: &std::path::Path, wrapper: &[String]) -> Proc {
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(binary());
            cmd
        }
        None => Command::new(binary()),
    };
    Proc(
        cmd.args(["serve", "--config"])
            .arg(config)
            .env("IDP_BRIDGE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bridge"),
    )
}

/// Instructions the bridge executed (callgrind's `summary:` of its last
/// dump in `dir`).
fn callgrind_total(dir: &std::path::Path) -> f64 {
    let mut dumps: Vec<_> = std::fs::read_dir(dir)
        .expect("callgrind dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("callgrind.out"))
        .collect();
    dumps.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let last = dumps.last().expect("a callgrind dump");
    let text = std::fs::read_to_string(last).expect("dump");
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a summary line")
}

#[tokio::main]
#[allow(clippy::too_many_lines)] // one measurement, in order
async fn main() {
    let rounds = setting("GATEWAY_BENCH_ROUNDS", 3) as usize;
    let seconds = setting("GATEWAY_BENCH_SECONDS", 8);
    let callgrind = std::env::var("GATEWAY_BENCH_CALLGRIND").ok();
    let dir = tempfile::tempdir().expect("dir");
    let raw = [7u8; 32];
    let key_hex = hex::encode(raw);
    let keys = Lt1Keys::new(vec![("k1".into(), Key32::new(raw))], Some("k1")).expect("keys");
    let workers = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);

    // The reference legacy API, its own process.
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

    // The static upstream: nginx answering 200 at once, its own process.
    let fixed_port = free_port();
    let _fixed = nginx(
        &dir.path().join("static"),
        workers,
        &format!(
            "server {{ listen 127.0.0.1:{fixed_port}; location / {{ return 200 \"ok\\n\"; }} }}"
        ),
    );
    let fixed = format!("http://127.0.0.1:{fixed_port}");
    wait_for(&format!("{fixed}/x")).await;

    // The bridge with its gateway; alice's legacy token is minted as LT1
    // (no sign-in needed for a proxy benchmark).
    let (_tenant, issuer, auth0) = tenant().await;
    let (port, gw_port) = (free_port(), free_port());
    let config_path = dir.path().join("bridge.toml");
    std::fs::write(
        &config_path,
        bridge_config(
            port,
            gw_port,
            &dir.path().join("data"),
            &key_hex,
            &issuer,
            &api,
            &fixed,
        ),
    )
    .expect("config");
    let cg_dir = callgrind.as_ref().map(std::path::PathBuf::from);
    let wrapper: Vec<String> = match &cg_dir {
        Some(out) => {
            std::fs::create_dir_all(out).expect("callgrind dir");
            vec![
                "valgrind".into(),
                "--tool=callgrind".into(),
                "--instr-atstart=no".into(),
                format!("--callgrind-out-file={}/callgrind.out", out.display()),
            ]
        }
        None => Vec::new(),
    };
    let bridge = bridge(&config_path, &wrapper);
    let gateway = format!("http://127.0.0.1:{gw_port}");
    wait_for(&format!("http://127.0.0.1:{port}/healthz")).await;

    // nginx, the same routes with the legacy token set by configuration.
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
    let nginx = nginx(
        &dir.path().join("proxy"),
        workers,
        &format!(
            "upstream legacy {{ server 127.0.0.1:{api_port}; keepalive 64; }}
  upstream fixed {{ server 127.0.0.1:{fixed_port}; keepalive 64; }}
  server {{ listen 127.0.0.1:{nginx_port};
    location /orders/ {{ proxy_pass http://legacy/api/; proxy_http_version 1.1;
      proxy_set_header Connection \"\"; proxy_set_header Authorization \"Bearer {legacy}\"; }}
    location /static/ {{ proxy_pass http://fixed/; proxy_http_version 1.1;
      proxy_set_header Connection \"\"; proxy_set_header Authorization \"Bearer {legacy}\"; }} }}"
        ),
    );
    let nginx_url = format!("http://127.0.0.1:{nginx_port}");
    wait_for(&format!("{nginx_url}/orders/x")).await;

    // Warm: the gateway's cache and pools, nginx's keep-alive.
    for route in ["orders", "static"] {
        let probe = reqwest::Client::new()
            .get(format!("{gateway}/{route}/x"))
            .bearer_auth(&auth0)
            .send()
            .await
            .expect("gateway");
        assert_eq!(probe.status(), 200, "the gateway forwards to /{route}");
    }
    let paths = [
        Path {
            name: "static (nginx return 200)",
            direct: format!("{fixed}/x"),
            direct_token: Some(legacy.clone()),
            nginx: format!("{nginx_url}/static/x"),
            gateway: format!("{gateway}/static/x"),
        },
        Path {
            name: "api (reference legacy API)",
            direct: format!("{api}/api/x"),
            direct_token: Some(legacy.clone()),
            nginx: format!("{nginx_url}/orders/x"),
            gateway: format!("{gateway}/orders/x"),
        },
    ];
    let chosen = usize::from(std::env::var("GATEWAY_BENCH_UPSTREAM").as_deref() == Ok("api"));
    if let Some(out) = &cg_dir {
        // Warm under valgrind (slow), then count a fixed stretch.
        let _ = wrk(&paths[0].gateway, Some(&auth0), 4, 5);
        let control = |arg: &str| {
            let ok = Command::new("callgrind_control")
                .arg(arg)
                .arg(bridge.0.id().to_string())
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "callgrind_control {arg}");
        };
        control("--instr=on");
        control("--zero");
        let r = wrk(&paths[0].gateway, Some(&auth0), 4, seconds);
        control("--dump");
        let total = callgrind_total(out);
        println!(
            "callgrind: {:.0} instructions per request forwarded to the static upstream ({:.0} requests; {total:.0} in all); dumps in {}",
            total / r.3,
            r.3,
            out.display()
        );
        return;
    }
    if std::env::var("GATEWAY_BENCH_STAT").is_ok() {
        // Kernel work per request of each proxy, to the static upstream.
        for (name, pid, url, token) in [
            ("nginx", nginx.0.id(), &paths[chosen].nginx, None),
            (
                "gateway",
                bridge.0.id(),
                &paths[chosen].gateway,
                Some(auth0.as_str()),
            ),
        ] {
            let (calls, switches, migrations) = kernel_work(pid, url, token, seconds);
            println!(
                "{name} → {}: {calls:.2} system calls, {switches:.3} context switches, {migrations:.3} migrations per request",
                paths[chosen].name
            );
        }
        return;
    }
    if let Ok(out) = std::env::var("GATEWAY_BENCH_PERF") {
        // A CPU profile of the bridge process under the gateway's load.
        let mut perf = Command::new("perf")
            .args(["record", "-F", "999", "-g", "-o", &out, "-p"])
            .arg(bridge.0.id().to_string())
            .args(["--", "sleep", &seconds.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("perf (apt-get install linux-perf)");
        let r = wrk(&paths[chosen].gateway, Some(&auth0), 32, seconds);
        let _ = perf.wait();
        println!(
            "profile of the gateway forwarding to {} ({:.0} requests/s) written to {out}",
            paths[chosen].name, r.0
        );
        return;
    }

    let mut figures = [Figures::default(), Figures::default()];
    for _ in 0..rounds {
        for (path, f) in paths.iter().zip(&mut figures) {
            // One connection: the latency a proxy adds when nothing queues.
            f.alone[0].push(wrk(&path.direct, path.direct_token.as_deref(), 1, 5).1);
            f.alone[1].push(wrk(&path.nginx, None, 1, 5).1);
            f.alone[2].push(wrk(&path.gateway, Some(&auth0), 1, 5).1);
            f.loaded[0].push(wrk(&path.direct, path.direct_token.as_deref(), 32, seconds));
            for (i, (pid, url, token)) in [
                (nginx.0.id(), &path.nginx, None),
                (bridge.0.id(), &path.gateway, Some(auth0.as_str())),
            ]
            .into_iter()
            .enumerate()
            {
                let before = cpu_seconds(pid);
                let r = wrk(url, token, 32, seconds);
                f.cpu[i].push((cpu_seconds(pid) - before) / r.3 * 1e6);
                f.loaded[i + 1].push(r);
            }
        }
    }
    let col = |v: &[(f64, f64, f64, f64)], i: usize| {
        median(v.iter().map(|r| [r.0, r.1, r.2][i]).collect())
    };
    println!(
        "\n{rounds} rounds of {seconds} s, wrk -t1 -c32, medians; nginx and the bridge's runtime with {workers} workers:"
    );
    println!("| upstream | path | requests/s | p50 ms | p99 ms | proxy CPU µs/request |");
    println!("|---|---|---|---|---|---|");
    for (path, f) in paths.iter().zip(&figures) {
        for (i, name) in ["direct", "nginx (proxy_pass)", "gateway (cached token)"]
            .iter()
            .enumerate()
        {
            let cpu = i
                .checked_sub(1)
                .map_or("—".into(), |c| format!("{:.1}", median(f.cpu[c].clone())));
            println!(
                "| {} | {name} | {:.0} | {:.2} | {:.2} | {cpu} |",
                path.name,
                col(&f.loaded[i], 0),
                col(&f.loaded[i], 1),
                col(&f.loaded[i], 2),
            );
        }
    }
    println!("\nside by side (gateway ÷ nginx, medians; each round's ratio in brackets):");
    println!(
        "| upstream | requests/s nginx | gateway | ratio | CPU µs/request nginx | gateway | ratio | added p50 at 1 connection, ms: nginx | gateway |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (path, f) in paths.iter().zip(&figures) {
        let each = |g: &[f64], n: &[f64]| {
            g.iter()
                .zip(n)
                .map(|(g, n)| format!("{:.2}", g / n))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rps: [Vec<f64>; 2] = [1, 2].map(|i| f.loaded[i].iter().map(|r| r.0).collect());
        let alone = median(f.alone[0].clone());
        println!(
            "| {} | {:.0} | {:.0} | {:.2} ({}) | {:.1} | {:.1} | {:.2} ({}) | {:.3} | {:.3} |",
            path.name,
            median(rps[0].clone()),
            median(rps[1].clone()),
            median(rps[1].clone()) / median(rps[0].clone()),
            each(&rps[1], &rps[0]),
            median(f.cpu[0].clone()),
            median(f.cpu[1].clone()),
            median(f.cpu[1].clone()) / median(f.cpu[0].clone()),
            each(&f.cpu[1], &f.cpu[0]),
            median(f.alone[1].clone()) - alone,
            median(f.alone[2].clone()) - alone,
        );
    }

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
        "\n1 GiB down in {:.1} s, 1 GiB up in {:.1} s; bridge+gateway process RSS: {} MiB before, {} MiB after; peak RSS {} MiB before the transfers, {} MiB after",
        down.as_secs_f64(),
        up.as_secs_f64(),
        idle / 1024,
        after / 1024,
        peak_before / 1024,
        peak / 1024
    );
}
