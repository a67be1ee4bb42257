//! What the bridge opens before it serves, shared by `serve` and the
//! commands that work on the same data (`keys`): the store chosen by
//! `[store] url`, and the storage key, configured or generated once in the
//! data directory. Each failure names its cause for the operator.

use std::path::Path;
use std::sync::Arc;

use crate::domain::config::Settings;
use crate::domain::store::Store;
use crate::domain::store::postgres::PgStore;
use crate::domain::store::sqlite::SqliteStore;
use crate::util::crypto::StorageKey;
use crate::util::secret::Key32;

/// Why the bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A problem with a named cause.
    #[error("{0}")]
    Message(String),
}

/// A start error: what was being done, then why it failed.
pub(crate) fn fail(context: &str, e: impl std::fmt::Display) -> StartError {
    StartError::Message(format!("{context}: {e}"))
}

/// SQLite in the data directory, or PostgreSQL when `[store] url` says so.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, StartError> {
    open_store_at(&settings.data_dir, &settings.store).await
}

/// The store for `store` settings, its SQLite file (if any) in `data_dir`.
pub async fn open_store_at(
    data_dir: &Path,
    store: &crate::domain::config::StoreSettings,
) -> Result<Arc<dyn Store>, StartError> {
    let url = match &store.url {
        Some(source) => Some(source.resolve().map_err(|e| fail("store.url", e))?),
        None => None,
    };
    match url {
        Some(url)
            if url.secret().starts_with("postgres://")
                || url.secret().starts_with("postgresql://") =>
        {
            let store = PgStore::open(url.secret(), store.schema.as_deref(), store.max_connections)
                .await
                .map_err(|e| fail("cannot open the PostgreSQL store", e))?;
            Ok(Arc::new(store))
        }
        Some(_) => Err(StartError::Message(
            "store.url: only postgres:// URLs are supported (leave it out for SQLite)".into(),
        )),
        None => {
            // Made private by `storage_key`, which runs first.
            std::fs::create_dir_all(data_dir)
                .map_err(|e| fail(&format!("cannot create {}", data_dir.display()), e))?;
            let path = data_dir.join("bridge.db");
            private_file(&path)?;
            let store = SqliteStore::open(&path, store.sqlite_full_sync)
                .await
                .map_err(|e| fail("cannot open the store", e))?;
            // SQLite gives its WAL and shared-memory files the database's
            // mode; files left by an older version are tightened here too.
            for suffix in ["-wal", "-shm"] {
                let side = data_dir.join(format!("bridge.db{suffix}"));
                if side.exists() {
                    restrict(&side, 0o600)?;
                }
            }
            Ok(Arc::new(store))
        }
    }
}

/// Creates the data directory private (0700), whatever the umask: it holds
/// the database (session ids, sealed tokens) and perhaps the storage key. A
/// directory the operator made is left as it is, with a warning when others
/// may read it (it may be shared, such as `.`).
pub fn prepare_data_dir(dir: &Path) -> Result<(), StartError> {
    if dir.exists() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
                tracing::warn!(path = %dir.display(), "the data directory is open to other users; chmod 700 it");
            }
        }
        return Ok(());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| fail(&format!("cannot create {}", dir.display()), e))?;
    restrict(dir, 0o700)
}

/// Creates `path` empty and private (0600) if it does not exist, else makes
/// it private: SQLite then opens it as a new database, with that mode.
fn private_file(path: &Path) -> Result<(), StartError> {
    if !path.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(path)
            .map_err(|e| fail(&format!("cannot create {}", path.display()), e))?;
    }
    restrict(path, 0o600)
}

/// Sets `path`'s permission bits (on Unix; elsewhere a no-op).
fn restrict(path: &Path, mode: u32) -> Result<(), StartError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| fail(&format!("cannot restrict {}", path.display()), e))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The storage key: configured, or generated once in the data directory.
/// With `storage_key_previous` set, values sealed under that key open too.
pub fn storage_key(settings: &Settings) -> Result<StorageKey, StartError> {
    let key = storage_key_at(&settings.data_dir, settings.storage_key.as_ref())?;
    Ok(match &settings.storage_key_previous {
        Some(previous) => key.with_previous(previous),
        None => key,
    })
}

/// The storage key `configured`, or the one generated in `data_dir`.
pub fn storage_key_at(
    data_dir: &Path,
    configured: Option<&Key32>,
) -> Result<StorageKey, StartError> {
    prepare_data_dir(data_dir)?;
    let key = match configured {
        Some(k) => k.clone(),
        None => load_or_create_storage_key(&data_dir.join("storage.key"))?,
    };
    Ok(StorageKey::new(&key))
}

fn load_or_create_storage_key(path: &Path) -> Result<Key32, StartError> {
    if path.exists() {
        restrict(path, 0o600)?;
        let text =
            crate::util::secret::read_secret_file(path).map_err(|e| fail("storage key", e))?;
        return Key32::parse(&text)
            .map_err(|e| fail(&format!("storage key {}", path.display()), e));
    }
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| fail(&format!("cannot create {}", path.display()), e))?;
    std::io::Write::write_all(&mut file, format!("{}\n", hex::encode(raw)).as_bytes())
        .map_err(|e| fail("storage key", e))?;
    file.sync_all().map_err(|e| fail("storage key", e))?;
    tracing::warn!(path = %path.display(), "generated a storage key; back it up: without it sealed tokens and keys cannot be read");
    Ok(Key32::new(raw))
}
