//! The embedded SQLite store: one file in the data directory, in WAL mode.
//!
//! Statements run through rusqlite on the calling thread, with cached
//! prepared statements: an indexed read or a single-row write takes a few
//! microseconds there, less than the two thread switches a database driver
//! with its own worker thread (sqlx's) costs for each statement. Nothing in
//! here awaits while it holds a connection, so no database lock is ever held
//! across an await point. Migrations still run through sqlx at open, so a
//! database written by any earlier version keeps its migration history.
//!
//! Durability: in WAL mode a committed transaction is in the WAL file before
//! the statement returns, so a crash of the process (`kill -9`) loses
//! nothing acknowledged; `synchronous=NORMAL` skips the fsync per commit
//! (the WAL is synced at checkpoints), so only a power loss or kernel crash
//! could lose the last transactions. `[store] sqlite_full_sync = true` makes
//! every commit fsync, for that case too; those commits then run beside the
//! async workers (`block_in_place`), since an fsync can take milliseconds.
//! Checkpoints, which fsync too, run on a maintenance thread of their own
//! once a second rather than inside whichever commit crosses the WAL's size
//! limit; the cleanup's batch deletes run there too, off the async workers.
//!
//! SQLite has one writer at a time: writes share one connection behind an
//! async mutex (they queue there as tasks, instead of sleeping in SQLite's
//! busy handler or parking the async workers' threads),
//! and reads take one of a few read-only connections (WAL readers never
//! block the writer).
//!
//! One module per narrow trait, as the traits split the store: `keys`
//! (`KeyStore`), `grants` (codes and grants), `refresh`,
//! `users` (revocation and the gateways' events), `throttle`, `once`
//! (single-use values), `sessions`, and `housekeeping` (the sealed columns'
//! rotation, the cleanup). This module holds the connections, the three
//! ways to run on them (`read`, `write` and `transaction`), and the
//! maintenance thread that checkpoints the WAL and runs the cleanup's
//! deletes.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError, mpsc};
use std::time::Duration;

use rusqlite::{CachedStatement, Connection, OpenFlags, TransactionBehavior, params};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use super::{StoreError, err, sql};

mod grants;
mod housekeeping;
mod keys;
mod once;
mod refresh;
mod sessions;
mod throttle;
mod users;

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read-only connections: one per async worker on a small machine, and
/// spares for background tasks.
const READERS: usize = 4;
/// Prepared statements kept per connection: every statement of `sql` fits.
const STATEMENT_CACHE: usize = 64;
/// Page cache of each read connection and of the checkpointer, in KiB
/// (SQLite's default, 2 MiB, is kept for the writer): the hot pages are
/// the indexes' upper levels, and six full default caches would be a third
/// of the process's memory.
const SMALL_CACHE_KIB: u32 = 512;
/// How often the maintenance thread moves the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// WAL frames (pages) past which a checkpoint also rewinds the WAL to its
/// start: about 16 MiB of 4 KiB pages, a few seconds of writes at full load.
const REWIND_FRAMES: i64 = 4096;
/// What a rewound WAL file is truncated to, at most, in bytes.
const WAL_SIZE_LIMIT: i64 = 32 * 1024 * 1024;

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    /// Every write; an async mutex, so waiting for it parks a task, not a
    /// thread.
    writer: Writer,
    /// Reads, taken round-robin, skipping busy ones.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// Write calls committed (each one statement or one transaction).
    commits: AtomicU64,
    /// Commits fsync (`sqlite_full_sync`).
    full_sync: bool,
    /// Work for the maintenance thread; dropped with the store, which ends
    /// the thread.
    maintenance: mpsc::Sender<Maintenance>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("full_sync", &self.full_sync)
            .finish_non_exhaustive()
    }
}

/// The write connection, shared with the maintenance thread.
type Writer = std::sync::Arc<tokio::sync::Mutex<Connection>>;

/// A poisoned mutex only means a panic elsewhere; the connection in it is
/// still sound (SQLite rolls back an unfinished transaction on next use).
fn lock(connection: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    connection.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens a connection with the settings every connection of the store
/// shares.
fn connect(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let connection = Connection::open_with_flags(path, flags).map_err(err)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(connection)
}

/// A connection for reading or checkpointing, with a small page cache.
fn connect_small(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let connection = connect(path, flags)?;
    connection
        .execute_batch(&format!("PRAGMA cache_size = -{SMALL_CACHE_KIB};"))
        .map_err(err)?;
    Ok(connection)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path, full_sync: bool) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let migrator = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(err)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&migrator)
            .await
            .map_err(err)?;
        migrator.close().await;

        // Both connections that write: the requests' and the maintenance
        // thread's (cleanup deletes cascade to refresh tokens).
        let write_pragmas = format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};",
            if full_sync { "FULL" } else { "NORMAL" }
        );
        let writer = connect(path, OpenFlags::default())?;
        writer.execute_batch(&write_pragmas).map_err(err)?;
        let writer = Writer::new(tokio::sync::Mutex::new(writer));
        let maintainer = connect_small(path, OpenFlags::default())?;
        maintainer.execute_batch(&write_pragmas).map_err(err)?;
        let readers = (0..READERS)
            .map(|_| {
                connect_small(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map(Mutex::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let maintenance = maintenance_thread(maintainer, writer.clone())?;
        Ok(Self {
            path: path.to_owned(),
            writer,
            readers,
            next_reader: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            full_sync,
            maintenance,
        })
    }

    /// Runs `f` on the write connection. Waiting for it is an await, never
    /// a blocked thread: a long write (the maintenance thread's cleanup
    /// batch) must not park every async worker behind it. A commit that
    /// fsyncs (`sqlite_full_sync`) runs beside the async workers, so the
    /// other tasks of its worker go on.
    async fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut connection = self.writer.lock().await;
        let run = || f(&mut connection).map_err(err);
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let out = if self.full_sync && multi_thread {
            tokio::task::block_in_place(run)
        } else {
            run()
        }?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(out)
    }

    /// Runs `f` in one immediate transaction on the write connection
    /// (immediate: it takes the write lock first, so it never has to
    /// upgrade a read lock another process is waiting on).
    async fn transaction<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.write(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` on a read connection: the first free one from a rotating
    /// start, or, when all are busy, waits for one.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        for i in 0..n {
            let guard = match self.readers[(start + i) % n].try_lock() {
                Ok(guard) => guard,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => continue,
            };
            return f(&guard).map_err(err);
        }
        f(&lock(&self.readers[start % n])).map_err(err)
    }

    /// The database's clock in unix seconds, as SQL.
    const NOW_SQL: &'static str = "CAST(strftime('%s', 'now') AS INTEGER)";
}

/// Work sent to the maintenance thread.
enum Maintenance {
    /// One cleanup pass's statements ([`sql::CLEANUP`]) at `now` with
    /// `batch` rows each; answers with the rows each removed.
    Cleanup {
        now: i64,
        batch: i64,
        done: tokio::sync::oneshot::Sender<rusqlite::Result<Vec<u64>>>,
    },
}

/// Starts the maintenance thread, on its own connection: it checkpoints
/// the WAL once a second and runs the cleanup's batch deletes; it ends when
/// the returned sender is dropped.
///
/// The deletes run here, each holding the write mutex, rather than on the
/// async workers: moving them off with `block_in_place` made tokio hand
/// the worker's role to fresh threads, each with a malloc arena of its own,
/// and the megabytes a batch delete allocates and frees were left spread
/// over those arenas (23 MiB of heap held for 9 MiB in use after 100,000
/// logins). One long-lived thread reuses its own.
fn maintenance_thread(
    connection: Connection,
    writer: Writer,
) -> Result<mpsc::Sender<Maintenance>, StoreError> {
    let (send, work) = mpsc::channel::<Maintenance>();
    std::thread::Builder::new()
        .name("sqlite-maintenance".into())
        .spawn(move || {
            let mut next_checkpoint = std::time::Instant::now() + CHECKPOINT_EVERY;
            loop {
                let wait = next_checkpoint.saturating_duration_since(std::time::Instant::now());
                match work.recv_timeout(wait) {
                    Ok(Maintenance::Cleanup { now, batch, done }) => {
                        // The asker may have gone (shutdown); nothing to tell.
                        let _ = done.send(cleanup(&connection, &writer, now, batch));
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if let Err(e) = checkpoint(&connection, &writer) {
                            tracing::warn!(error = %e, "sqlite checkpoint failed");
                        }
                        next_checkpoint = std::time::Instant::now() + CHECKPOINT_EVERY;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        })
        .map_err(err)?;
    Ok(send)
}

/// One checkpoint: the bulk of the WAL without blocking anyone, then, when
/// the WAL has grown long, a rewind with writes held.
///
/// A PASSIVE checkpoint never waits for anyone, but under a steady stream
/// of writes it never catches up either: frames are appended while it
/// copies, so the WAL is never wholly in the database, and SQLite only
/// rewinds a WAL that is. Left alone, the WAL grew by 40 MiB a second at
/// 500 logins a second (8.7 GB after 100,000 logins, its index mapped into
/// the process's memory). So once the WAL passes [`REWIND_FRAMES`], the
/// thread takes the write mutex (writes queue as tasks for a few
/// milliseconds) and finishes with a RESTART checkpoint: it copies the last
/// frames and waits out the readers, whose statements take microseconds,
/// so the next write starts the WAL again from its beginning (and
/// truncates the file to `journal_size_limit`).
fn checkpoint(connection: &Connection, writer: &Writer) -> rusqlite::Result<()> {
    // (busy, frames in the WAL, frames copied)
    let frames: i64 = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))?;
    if frames >= REWIND_FRAMES {
        let _writes_held = writer.blocking_lock();
        let started = std::time::Instant::now();
        connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
        tracing::debug!(
            frames,
            held_ms = started.elapsed().as_secs_f64() * 1e3,
            "sqlite wal rewound"
        );
    }
    Ok(())
}

/// The cleanup's statements, one at a time, each holding the write mutex
/// (requests' writes go in between) and each committed on its own.
fn cleanup(
    connection: &Connection,
    writer: &Writer,
    now: i64,
    batch: i64,
) -> rusqlite::Result<Vec<u64>> {
    sql::CLEANUP
        .iter()
        .enumerate()
        .map(|(i, statement)| {
            let _writes_held = writer.blocking_lock();
            let started = std::time::Instant::now();
            let removed = prepare(connection, statement)?.execute(params![now, batch])?;
            tracing::debug!(
                statement = i,
                removed,
                held_ms = started.elapsed().as_secs_f64() * 1e3,
                "sqlite cleanup statement"
            );
            Ok(removed as u64)
        })
        .collect()
}

/// A cached statement for `statement`, its `$n` placeholders read as
/// SQLite's numbered `?n`.
fn prepare<'c>(c: &'c Connection, statement: &str) -> rusqlite::Result<CachedStatement<'c>> {
    c.prepare_cached(&sql::numbered(statement))
}
