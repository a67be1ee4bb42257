//! Stalled and hoarding clients: a body that never arrives is answered 408
//! and cut off, an idle kept-alive connection is closed, and connections
//! past the caps are refused at once — counted on a real process's file
//! descriptors and memory, while `/healthz` and a full login keep working.
//! Attackers connect from other loopback addresses (127.0.0.2 and up) so
//! the per-address cap spares the test's own browser on 127.0.0.1.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::cluster::{Child, spawn_instance, wait_ready};
use crate::support::TestApp;

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A connection to `addr` from the loopback address `from`.
async fn connect_from(from: &str, addr: &str) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(format!("{from}:0").parse().ok()?).ok()?;
    socket.connect(addr.parse().ok()?).await.ok()
}

/// A real bridge process on `app`'s config, with `app` stopped.
async fn real_bridge(extra: &str) -> (TestApp, Child, String) {
    let mut app = TestApp::spawn_with(extra).await;
    app.stop().await;
    let child = spawn_instance(&app.config_path());
    wait_ready(&app.issuer).await;
    let addr = app.issuer.trim_start_matches("http://").to_owned();
    (app, child, addr)
}

#[tokio::test]
async fn stalled_bodies_are_cut_off_while_the_bridge_keeps_serving() {
    const STALLED: usize = 2000;
    let (app, child, addr) =
        real_bridge("body_read_timeout_ms = 6000\nmax_connections_per_address = 5000\n").await;
    let pid = child.0.id();
    let (files_before, rss_before) = (open_files(pid), rss_kib(pid));
    let connecting = (0..STALLED).map(|i| {
        let addr = addr.clone();
        tokio::spawn(async move {
            let from = format!("127.0.0.{}", 2 + i % 50);
            let mut s = connect_from(&from, &addr).await.expect("connect");
            s.write_all(
                b"POST /token HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n",
            )
            .await
            .expect("headers");
            s
        })
    });
    let connecting: Vec<_> = connecting.collect();
    let mut stalled = Vec::with_capacity(STALLED);
    for c in connecting {
        stalled.push(c.await.expect("stalled client"));
    }
    // Let the accept loop catch up with the kernel's backlog.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (files_held, rss_held) = (open_files(pid), rss_kib(pid));
    // Meanwhile the bridge serves: health and a whole login.
    let health = reqwest::get(format!("{}/healthz", app.issuer))
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let code = app.login(&app.params()).await.code();
    assert_eq!(app.redeem(&code).await.status(), 200, "a full login works");

    let started = Instant::now();
    let mut answer = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(10), stalled[0].read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the stalled connection was closed");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"),
        "answered 408: {}",
        String::from_utf8_lossy(&answer)
    );
    // The others were accepted a little later: they expire a little later.
    for _ in 0..50 {
        if open_files(pid) <= files_before + 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (files_after, rss_after) = (open_files(pid), rss_kib(pid));
    eprintln!(
        "{STALLED} stalled bodies: files {files_before} -> {files_held} -> {files_after}, \
         RSS {rss_before} -> {rss_held} -> {rss_after} KiB (cut after {:?})",
        started.elapsed()
    );
    assert!(
        files_held >= files_before + STALLED / 2,
        "the stalled connections were held before the deadline ({files_held})"
    );
    assert!(
        files_after <= files_before + 20,
        "every stalled connection was closed: {files_before} -> {files_after}"
    );
    drop(stalled);
}

#[tokio::test]
async fn connections_past_the_per_address_cap_are_refused_at_once() {
    let (app, child, addr) =
        real_bridge("header_read_timeout_ms = 20000\nmax_connections_per_address = 50\n").await;
    let pid = child.0.id();
    let files_before = open_files(pid);
    let mut idle = Vec::new();
    for _ in 0..300 {
        if let Some(s) = connect_from("127.0.0.9", &addr).await {
            idle.push(s);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let files_held = open_files(pid);
    assert!(
        files_held <= files_before + 50 + 5,
        "at most 50 held from one address: {files_before} -> {files_held}"
    );
    // The refused ones were told why and closed.
    let mut refused = 0;
    for s in idle.iter_mut().rev().take(20) {
        let mut buf = Vec::new();
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(500), s.read_to_end(&mut buf)).await
        {
            if String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 503") {
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 20, "the last connections were refused with 503");
    let code = app.login(&app.params()).await.code();
    assert_eq!(
        app.redeem(&code).await.status(),
        200,
        "another address is served"
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let (_app, _child, addr) = real_bridge("header_read_timeout_ms = 500\n").await;
    let mut s = connect_from("127.0.0.10", &addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n")
        .await
        .expect("request");
    let mut first = [0u8; 12];
    s.read_exact(&mut first).await.expect("answer");
    assert_eq!(&first, b"HTTP/1.1 200");
    let started = Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the idle connection was closed");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "within the idle limit: {:?}",
        started.elapsed()
    );
}
