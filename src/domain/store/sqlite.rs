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

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError, TryLockError, mpsc};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{
    CachedStatement, Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use super::sealed::{RowKey, SealedColumn};

use super::{
    Cleaned, CodeClaim, CodeRow, GrantRenewal, GrantRow, GrantStore, Housekeeping, KeyStore,
    LoginOnce, OnceStore, Redeemed, RefreshRow, RefreshState, RefreshStore, RevocationStore,
    Rotation, SessionStore, StoreError, StoredKey, ThrottleCount, ThrottleKeys, ThrottleRelease,
    ThrottleStore, UserRevoked, err, sql,
};

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

/// A key from its row.
fn key_from(r: &Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        kid: r.get(0)?,
        alg: r.get(1)?,
        private_sealed: r.get(2)?,
        public_jwk: r.get(3)?,
        created_at: r.get(4)?,
        activates_at: r.get(5)?,
    })
}

/// A grant from its row (`grant_columns!()`, by position).
fn grant_from(r: &Row<'_>) -> rusqlite::Result<GrantRow> {
    Ok(GrantRow {
        id: r.get(0)?,
        client_id: r.get(1)?,
        subject: r.get(2)?,
        scope: r.get(3)?,
        profile_json: r.get(4)?,
        token_hash: r.get(5)?,
        token_sealed: r.get(6)?,
        legacy_refresh_sealed: r.get(7)?,
        token_expires_at: r.get(8)?,
        auth_time: r.get(9)?,
        revoked: r.get::<_, i64>(10)? != 0,
        created_at: r.get(11)?,
        claims: r.get(12)?,
        keep_until: r.get(21)?,
    })
}

/// The code and the grant of a `grants` row, and whether the code was used.
fn code_and_grant(code_hash: &[u8], r: &Row<'_>) -> rusqlite::Result<(CodeRow, GrantRow, bool)> {
    let code = CodeRow {
        code_hash: code_hash.to_vec(),
        redirect_uri: r.get(13)?,
        nonce: r.get(14)?,
        code_challenge: r.get(15)?,
        expires_at: r.get(16)?,
        id_token_sealed: r.get(17)?,
        login: match (r.get(18)?, r.get(19)?) {
            (Some(id), Some(expires_at)) => Some(LoginOnce { id, expires_at }),
            _ => None,
        },
    };
    Ok((code, grant_from(r)?, r.get::<_, i64>(20)? != 0))
}

/// A refresh token from its row (`SELECT *`).
/// Runs an insert of a grant with its code (`$1`…`$21`, and `$22` the
/// source grant of a `prompt=none` one).
fn insert_grant(
    c: &Connection,
    statement: &str,
    g: &GrantRow,
    code: &CodeRow,
    source: Option<&str>,
) -> rusqlite::Result<usize> {
    let login_id = code.login.as_ref().map(|l| l.id.as_str());
    let login_expires_at = code.login.as_ref().map(|l| l.expires_at);
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![
        &g.id,
        &g.client_id,
        &g.subject,
        &g.scope,
        &g.profile_json,
        &g.token_hash,
        &g.token_sealed,
        &g.legacy_refresh_sealed,
        &g.token_expires_at,
        &g.auth_time,
        &g.created_at,
        &code.code_hash,
        &code.redirect_uri,
        &code.nonce,
        &code.code_challenge,
        &code.expires_at,
        &code.id_token_sealed,
        &g.claims,
        &login_id,
        &login_expires_at,
        &g.keep_until,
    ];
    if let Some(source) = &source {
        values.push(source);
    }
    prepare(c, statement)?.execute(values.as_slice())
}

fn refresh_from(r: &Row<'_>) -> rusqlite::Result<RefreshRow> {
    Ok(RefreshRow {
        token_hash: r.get("token_hash")?,
        grant_id: r.get("grant_id")?,
        client_id: r.get("client_id")?,
        scope: r.get("scope")?,
        state: RefreshState::from_code(r.get("state")?),
        created_at: r.get("created_at")?,
        family_expires_at: r.get("family_expires_at")?,
        last_used_at: r.get("last_used_at")?,
        rotated_at: r.get("rotated_at")?,
        successor_sealed: r.get("successor_sealed")?,
    })
}

fn insert_refresh_row(c: &Connection, r: &RefreshRow) -> rusqlite::Result<usize> {
    prepare(c, sql::INSERT_REFRESH)?.execute(params![
        r.token_hash,
        r.grant_id,
        r.client_id,
        r.scope,
        r.state.code(),
        r.created_at,
        r.family_expires_at,
        r.last_used_at,
    ])
}

/// Runs a statement that takes a key's six columns in order.
fn execute_with_key(c: &Connection, statement: &str, key: &StoredKey) -> rusqlite::Result<usize> {
    prepare(c, statement)?.execute(params![
        key.kid,
        key.alg,
        key.private_sealed,
        key.public_jwk,
        key.created_at,
        key.activates_at
    ])
}

/// Gives a reserved login attempt back.
fn release(c: &Connection, settle: ThrottleRelease<'_>) -> rusqlite::Result<usize> {
    let [(k1, u1), (k2, u2), (k3, u3)] = sql::lock_order(settle.keys);
    prepare(c, sql::THROTTLE_RELEASE)?.execute(params![
        k1,
        k2,
        k3,
        u1,
        u2,
        u3,
        settle.forget.unwrap_or("")
    ])
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.read(|c| {
            prepare(c, sql::SIGNING_KEYS)?
                .query_map([], key_from)?
                .collect()
        })
    }

    async fn insert_first_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        // SQLite has one writer, so the conditional insert is atomic as it is.
        self.write(|c| execute_with_key(c, sql::INSERT_FIRST_KEY, key))
            .await
            .map(drop)
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.write(|c| execute_with_key(c, sql::INSERT_KEY, key))
            .await
            .map(drop)
    }

    async fn delete_signing_key(&self, kid: &str) -> Result<(), StoreError> {
        self.write(|c| prepare(c, sql::DELETE_KEY)?.execute([kid]))
            .await
            .map(drop)
    }
}

#[async_trait]
impl GrantStore for SqliteStore {
    async fn insert_grant_with_code(
        &self,
        g: &GrantRow,
        c: &CodeRow,
        settle: Option<ThrottleRelease<'_>>,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .transaction(|tx| {
                if let Some(settle) = settle {
                    release(tx, settle)?;
                }
                let inserted = insert_grant(tx, sql::INSERT_GRANT_WITH_CODE, g, c, None)?;
                if inserted == 1 {
                    // `CLEAR_USER_REVOKED` reads the subject as `$3`.
                    let clear = sql::CLEAR_USER_REVOKED.replace("$3", "$1");
                    prepare(tx, &clear)?.execute([&g.subject])?;
                }
                Ok(inserted)
            })
            .await?;
        Ok(inserted == 1)
    }

    async fn insert_grant_from_session(
        &self,
        source: &str,
        g: &GrantRow,
        c: &CodeRow,
    ) -> Result<bool, StoreError> {
        static STATEMENT: LazyLock<String> = LazyLock::new(sql::insert_grant_from_session);
        let inserted = self
            .write(|conn| insert_grant(conn, &STATEMENT, g, c, Some(source)))
            .await?;
        Ok(inserted == 1)
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        claim: &CodeClaim<'_>,
    ) -> Result<Redeemed, StoreError> {
        let (spent, row) = self
            .write(|c| {
                let spent = prepare(c, sql::REDEEM_CODE)?
                    .query_row(
                        params![
                            code_hash,
                            claim.client_id,
                            claim.redirect_uri,
                            claim.now,
                            claim.challenge
                        ],
                        |r| code_and_grant(code_hash, r),
                    )
                    .optional()?;
                if spent.is_some() {
                    return Ok((true, spent));
                }
                // Why not: read the row to tell a replay from a mismatch.
                let row = prepare(c, sql::GRANT_BY_CODE)?
                    .query_row([code_hash], |r| code_and_grant(code_hash, r))
                    .optional()?;
                Ok((false, row))
            })
            .await?;
        Ok(match row {
            None => Redeemed::Unknown,
            Some((code, grant, _)) if spent => Redeemed::Fresh(Box::new((code, grant))),
            Some((code, grant, used)) => super::why_not_redeemed(code, grant, used, claim),
        })
    }

    async fn grants_by_token_hash(&self, token_hash: &[u8]) -> Result<Vec<GrantRow>, StoreError> {
        self.read(|c| {
            prepare(c, sql::GRANTS_BY_TOKEN_HASH)?
                .query_map([token_hash], grant_from)?
                .collect()
        })
    }

    async fn revoke_grant(&self, id: &str) -> Result<(), StoreError> {
        static STATEMENTS: LazyLock<[String; 3]> =
            LazyLock::new(|| sql::revoke_grant(SqliteStore::NOW_SQL));
        self.transaction(|tx| {
            for statement in STATEMENTS.iter() {
                prepare(tx, statement)?.execute([id])?;
            }
            Ok(())
        })
        .await
    }

    async fn grant(&self, id: &str) -> Result<Option<GrantRow>, StoreError> {
        self.read(|c| {
            prepare(c, sql::GRANT_BY_ID)?
                .query_row([id], grant_from)
                .optional()
        })
    }

    async fn live_grant(&self, subject: &str, now: i64) -> Result<Option<GrantRow>, StoreError> {
        self.read(|c| {
            prepare(c, sql::LIVE_GRANT)?
                .query_row(params![subject, now], grant_from)
                .optional()
        })
    }

    async fn newest_grant(&self, subject: &str) -> Result<Option<GrantRow>, StoreError> {
        self.read(|c| {
            prepare(c, sql::NEWEST_GRANT)?
                .query_row([subject], grant_from)
                .optional()
        })
    }

    async fn claim_grant_renewal(
        &self,
        id: &str,
        seen: &[u8],
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let claimed = self
            .write(|c| {
                prepare(c, sql::CLAIM_GRANT_RENEWAL)?.execute(params![
                    id,
                    now,
                    seen,
                    until,
                    super::STALE_CLAIM_SECONDS
                ])
            })
            .await?;
        Ok(claimed == 1)
    }

    async fn finish_grant_renewal(
        &self,
        id: &str,
        renewed: Option<&GrantRenewal>,
    ) -> Result<bool, StoreError> {
        let done = self
            .write(|c| match renewed {
                None => prepare(c, sql::END_GRANT_RENEWAL)?.execute([id]),
                Some(r) => prepare(c, sql::FINISH_GRANT_RENEWAL)?.execute(params![
                    id,
                    r.token_hash,
                    r.token_sealed,
                    r.token_expires_at,
                    r.legacy_refresh_sealed,
                    r.profile_json
                ]),
            })
            .await?;
        Ok(done == 1)
    }
}

#[async_trait]
impl RefreshStore for SqliteStore {
    async fn insert_refresh(&self, r: &RefreshRow) -> Result<(), StoreError> {
        self.transaction(|tx| {
            insert_refresh_row(tx, r)?;
            // It reads two of the insert's parameters, by their numbers.
            let mut keep = prepare(tx, sql::KEEP_GRANT_FOR_FAMILY)?;
            keep.raw_bind_parameter(2, &r.grant_id)?;
            keep.raw_bind_parameter(7, r.family_expires_at)?;
            keep.raw_execute()
        })
        .await
        .map(drop)
    }

    async fn refresh(&self, token_hash: &[u8]) -> Result<Option<RefreshRow>, StoreError> {
        self.read(|c| {
            prepare(c, sql::REFRESH_BY_HASH)?
                .query_row([token_hash], refresh_from)
                .optional()
        })
    }

    async fn claim_refresh(&self, token_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        let claimed = self
            .write(|c| {
                prepare(c, sql::CLAIM_REFRESH)?.execute(params![
                    now,
                    token_hash,
                    super::STALE_CLAIM_SECONDS
                ])
            })
            .await?;
        Ok(claimed == 1)
    }

    async fn release_refresh(&self, token_hash: &[u8]) -> Result<(), StoreError> {
        self.write(|c| prepare(c, sql::RELEASE_REFRESH)?.execute([token_hash]))
            .await
            .map(drop)
    }

    async fn complete_rotation(&self, r: &Rotation) -> Result<(), StoreError> {
        self.transaction(|tx| {
            let rotated = prepare(tx, sql::ROTATE_GRANT_TOKEN)?.execute(params![
                r.token_hash,
                r.token_sealed,
                r.token_expires_at,
                r.legacy_refresh_sealed,
                r.profile_json,
                r.old_hash
            ])?;
            if rotated == 0 {
                // Revoked meanwhile: the caller finds the grant revoked.
                return Ok(());
            }
            match &r.successor {
                Some(successor) => {
                    insert_refresh_row(tx, successor)?;
                    prepare(tx, sql::SPEND_REFRESH)?.execute(params![
                        r.now,
                        r.successor_sealed,
                        r.old_hash
                    ])?;
                }
                None => {
                    prepare(tx, sql::KEEP_REFRESH)?.execute(params![r.now, r.old_hash])?;
                }
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn revoke_user(&self, subject: &str, now: i64) -> Result<UserRevoked, StoreError> {
        static RECORD: LazyLock<String> =
            LazyLock::new(|| sql::record_user_revocation(SqliteStore::NOW_SQL));
        self.transaction(|tx| {
            let mut counts = [0u64; 3];
            for (count, statement) in counts.iter_mut().zip(sql::REVOKE_USER_COUNTED) {
                *count = prepare(tx, statement)?.execute([subject])? as u64;
            }
            prepare(tx, sql::MARK_USER_REVOKED)?.execute(params![subject, now])?;
            prepare(tx, &RECORD)?.execute([subject])?;
            Ok(sql::user_revoked(counts))
        })
        .await
    }

    async fn user_revoked_at(&self, subject: &str) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            prepare(c, sql::USER_REVOKED_AT)?
                .query_row([subject], |r| r.get(0))
                .optional()
        })
    }

    async fn revocations_since(&self, since: i64) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let rows = self.read(|c| {
            prepare(c, sql::REVOCATIONS_SINCE)?
                .query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?;
        Ok((rows, self.database_now().await?))
    }

    async fn database_now(&self) -> Result<i64, StoreError> {
        self.read(|c| c.query_row(&sql::database_now(Self::NOW_SQL), [], |r| r.get(0)))
    }
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn throttle_reserve(
        &self,
        keys: ThrottleKeys<'_>,
        now: i64,
        window: i64,
    ) -> Result<Vec<ThrottleCount>, StoreError> {
        let [(k1, u1), (k2, u2), (k3, u3)] = sql::lock_order(keys);
        self.write(|c| {
            prepare(c, sql::THROTTLE_RESERVE)?
                .query_map(params![k1, k2, k3, u1, u2, u3, now, window], |r| {
                    Ok(ThrottleCount {
                        key: r.get(0)?,
                        attempts: r.get(1)?,
                        locked_until: r.get(2)?,
                    })
                })?
                .collect()
        })
        .await
    }

    async fn throttle_release(&self, settle: ThrottleRelease<'_>) -> Result<(), StoreError> {
        self.write(|c| release(c, settle)).await.map(drop)
    }

    async fn throttle_lock(&self, key: &str, max: i64, until: i64) -> Result<(), StoreError> {
        self.write(|c| prepare(c, sql::THROTTLE_LOCK)?.execute(params![key, max, until]))
            .await
            .map(drop)
    }

    async fn throttle_clear(&self, user: &str) -> Result<u64, StoreError> {
        let removed = self
            .write(|c| prepare(c, sql::THROTTLE_CLEAR)?.execute([user]))
            .await?;
        Ok(removed as u64)
    }
}

#[async_trait]
impl OnceStore for SqliteStore {
    async fn use_assertion(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        let inserted = self
            .write(|c| prepare(c, sql::USE_ASSERTION)?.execute(params![key, expires_at]))
            .await?;
        Ok(inserted == 1)
    }

    async fn forget_assertion(&self, key: &str) -> Result<(), StoreError> {
        self.write(|c| prepare(c, sql::FORGET_ASSERTION)?.execute([key]))
            .await
            .map(drop)
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(
        &self,
        id: &str,
        data: &str,
        subject: Option<&str>,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .write(|c| {
                prepare(c, sql::INSERT_SESSION)?.execute(params![id, data, expires_at, subject])
            })
            .await?;
        Ok(inserted == 1)
    }

    async fn save_session(
        &self,
        id: &str,
        data: &str,
        subject: Option<&str>,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.write(|c| {
            prepare(c, sql::SAVE_SESSION)?.execute(params![id, data, expires_at, subject])
        })
        .await
        .map(drop)
    }

    async fn load_session(&self, id: &str, now: i64) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            prepare(c, sql::LOAD_SESSION)?
                .query_row(params![id, now], |r| r.get(0))
                .optional()
        })
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        self.write(|c| prepare(c, sql::DELETE_SESSION)?.execute([id]))
            .await
            .map(drop)
    }
}

#[async_trait]
impl Housekeeping for SqliteStore {
    async fn sealed_values(
        &self,
        column: SealedColumn,
        after: &RowKey,
        batch: i64,
    ) -> Result<Vec<(RowKey, Vec<u8>)>, StoreError> {
        let sql = column.select_batch();
        let text = column.text_key();
        self.read(|c| {
            let mut statement = prepare(c, &sql)?;
            let row = |r: &Row<'_>| {
                let key = if text {
                    RowKey::Text(r.get(0)?)
                } else {
                    RowKey::Blob(r.get(0)?)
                };
                Ok((key, r.get(1)?))
            };
            match after {
                RowKey::Text(k) => statement.query_map(params![k, batch], row)?.collect(),
                RowKey::Blob(k) => statement.query_map(params![k, batch], row)?.collect(),
            }
        })
    }

    async fn replace_sealed(
        &self,
        column: SealedColumn,
        key: &RowKey,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let sql = column.replace();
        let changed = self
            .write(|c| {
                let mut statement = prepare(c, &sql)?;
                match key {
                    RowKey::Text(k) => statement.execute(params![new, k, old]),
                    RowKey::Blob(k) => statement.execute(params![new, k, old]),
                }
            })
            .await?;
        Ok(changed == 1)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

    async fn cleanup(&self, now: i64, batch: i64) -> Result<Cleaned, StoreError> {
        let (done, removed) = tokio::sync::oneshot::channel();
        let gone = || err("the sqlite maintenance thread has ended");
        self.maintenance
            .send(Maintenance::Cleanup { now, batch, done })
            .map_err(|_| gone())?;
        let removed = removed.await.map_err(|_| gone())?.map_err(err)?;
        self.commits
            .fetch_add(removed.len() as u64, Ordering::Relaxed);
        Ok(Cleaned::from_counts(&removed))
    }

    fn commits(&self) -> Option<u64> {
        Some(self.commits.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cleanup statement reads through an index, never a whole table
    /// (the grants' scan held writes 130 ms at 120,000 grants).
    #[tokio::test]
    async fn cleanup_statements_read_through_indexes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("plan.db"), false)
            .await
            .expect("open");
        for statement in sql::CLEANUP {
            let plan: Vec<String> = store
                .read(|c| {
                    prepare(c, &format!("EXPLAIN QUERY PLAN {statement}"))?
                        .query_map(params![0, 1], |r| r.get::<_, String>(3))?
                        .collect()
                })
                .expect("plan");
            assert!(
                plan.iter().all(|step| !step.starts_with("SCAN ")),
                "{statement}\nscans a table: {plan:?}"
            );
        }
        let grants: Vec<String> = store
            .read(|c| {
                prepare(c, &format!("EXPLAIN QUERY PLAN {}", sql::CLEANUP_GRANTS))?
                    .query_map(params![0, 1], |r| r.get::<_, String>(3))?
                    .collect()
            })
            .expect("plan");
        assert!(
            grants
                .iter()
                .any(|step| step.contains("USING INDEX grants_keep_until")),
            "the grants' cleanup should search by keep_until: {grants:?}"
        );
    }
}
