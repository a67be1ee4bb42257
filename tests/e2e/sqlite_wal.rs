//! The SQLite store's write-ahead log under writes that never pause: it must
//! be rewound while they go on, not grow until the disk is full. A PASSIVE
//! checkpoint alone never catches up with a steady stream of writes (frames
//! are appended while it copies, and SQLite only rewinds a WAL that is
//! wholly in the database): the soak's WAL reached 8.7 GB after 100,000
//! logins, and its index was mapped into the bridge's memory.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use idp_bridge::domain::store::SessionStore;
use idp_bridge::domain::store::sqlite::SqliteStore;
use idp_bridge::util::clock::now_unix;

/// The WAL header's checkpoint sequence number (bytes 12..16, big-endian),
/// which SQLite increments each time it rewinds the WAL to its start.
fn rewinds(wal: &Path) -> Option<u32> {
    let header = std::fs::read(wal).ok()?;
    Some(u32::from_be_bytes(header.get(12..16)?.try_into().ok()?))
}

/// Writers at once: under load some write is always in flight, so a
/// checkpoint that does not hold writes never finds the WAL still.
const WRITERS: usize = 4;
/// Rewinds to see while the writes go on (the store checks once a second).
const REWINDS: u32 = 2;
/// Longest the writes go on without them: a slow machine writes slower, so
/// its WAL takes longer to reach the rewind mark.
const DEADLINE: Duration = Duration::from_secs(30);
/// A WAL this large has not been rewound in time (a second of writes on
/// this 2-core machine is about 60 MB).
const TOO_LARGE: u64 = 1 << 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_is_rewound_while_writes_and_reads_never_pause() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bridge.db");
    let store = Arc::new(SqliteStore::open(&path, false).await.expect("sqlite"));
    let wal = dir.path().join("bridge.db-wal");
    let now = now_unix();
    // Rows of 16 KiB: each write appends several pages, so the WAL passes
    // the store's rewind mark within a second.
    let data = Arc::new("x".repeat(16 * 1024));
    store
        .save_session("s-0", &data, None, now + 3600)
        .await
        .unwrap();
    let first = rewinds(&wal).expect("a WAL after the first write");

    let stop = Arc::new(AtomicBool::new(false));
    // Readers too, as under load: a reader inside a WAL snapshot is what a
    // rewind has to wait out.
    let reader = tokio::spawn({
        let (store, stop) = (store.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                store.load_session("s-0", now).await.expect("read");
                tokio::task::yield_now().await;
            }
        }
    });
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, stop, data) = (store.clone(), stop.clone(), data.clone());
            tokio::spawn(async move {
                let mut writes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("s-{w}-{}", writes % 256);
                    store
                        .save_session(&id, &data, None, now + 3600)
                        .await
                        .unwrap();
                    writes += 1;
                }
                writes
            })
        })
        .collect();

    // Watch the WAL while the writes go on: how often it was rewound, and
    // how large the file grew.
    let (mut seen, mut last, mut largest) = (0u32, first, 0u64);
    let started = Instant::now();
    while seen < REWINDS && started.elapsed() < DEADLINE && largest < TOO_LARGE {
        tokio::time::sleep(Duration::from_millis(20)).await;
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        if let Some(now) = rewinds(&wal).filter(|n| *n != last) {
            seen += 1;
            last = now;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for w in writers {
        total += w.await.unwrap();
    }
    reader.await.unwrap();
    let took = started.elapsed();
    eprintln!(
        "{total} writes in {took:?}: the WAL was rewound {seen} times and reached {largest} bytes"
    );
    assert!(
        seen >= REWINDS,
        "the WAL must be rewound while writes go on: {seen} rewinds in {took:?} ({total} writes, the file at {largest} bytes)"
    );
}
