//! The SQLite store: one database file in the data directory.
//!
//! - [`open`] is the one place that creates the file (mode 0600), sets the pragmas (WAL,
//!   NORMAL sync, foreign keys, busy timeout) and runs the numbered migrations.
//! - Queries are plain functions over a `Connection` or `Transaction` (see [`usage`]),
//!   tested on in-memory databases.
//! - Request handlers never touch the disk: usage goes through [`writer`], a dedicated
//!   thread that batches inserts into transactions.

pub mod accounts;
pub mod aliases;
pub mod client_tokens;
pub mod endpoints;
pub mod images;
pub mod latency;
pub mod live;
pub mod patterns;
pub mod responses;
pub mod sessions;
pub mod settings;
pub mod usage;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

/// The schema's history; a database is always brought to the last step.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("sql/0001_init.sql")),
        M::up(include_str!("sql/0002_hourly_totals.sql")),
        M::up(include_str!("sql/0003_managed_entities.sql")),
        M::up(include_str!("sql/0004_daily_rollups.sql")),
        M::up(include_str!("sql/0005_failed_attempts.sql")),
        M::up(include_str!("sql/0006_latency_histograms.sql")),
        M::up(include_str!("sql/0007_endpoint_catalogue.sql")),
        M::up(include_str!("sql/0008_tool_calls.sql")),
        M::up(include_str!("sql/0009_response_format.sql")),
        M::up(include_str!("sql/0010_stored_responses.sql")),
        M::up(include_str!("sql/0011_dialect_client.sql")),
        M::up(include_str!("sql/0012_model_patterns.sql")),
        M::up(include_str!("sql/0013_refusal_tallies.sql")),
        M::up(include_str!("sql/0014_image_descriptions.sql")),
        M::up(include_str!("sql/0015_account_proxy.sql")),
        M::up(include_str!("sql/0016_token_concurrency.sql")),
        M::up(include_str!("sql/0017_upload_accounting.sql")),
    ])
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the database file {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot migrate the database: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("a database task failed: {0}")]
    Task(String),
}

fn configure(conn: &Connection) -> Result<(), rusqlite::Error> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // With WAL, NORMAL keeps every committed transaction across a process crash (kill -9);
    // only an OS crash can lose the last ones.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Opens (creating with mode 0600 if needed) and migrates the database at `path`.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(StoreError::Create {
                    path: path.display().to_string(),
                    source,
                });
            }
        }
    }
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    migrations().to_latest(&mut conn)?;
    Ok(conn)
}

/// A migrated in-memory database, for tests and benchmarks.
pub fn open_in_memory() -> Result<Connection, StoreError> {
    let mut conn = Connection::open_in_memory()?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrations().to_latest(&mut conn)?;
    Ok(conn)
}

/// The async facade for reads: runs a query on a blocking thread with a pooled read
/// connection, so no async worker ever waits on SQLite and no connection is shared.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    /// Idle read connections, reused; a burst opens more and keeps up to `MAX_IDLE`.
    readers: Mutex<Vec<Connection>>,
    /// The connection for changes people make (accounts, tokens, settings…), opened on
    /// first use. Usage has its own writer thread; SQLite's busy timeout orders the two.
    writer: Mutex<Option<Connection>>,
}

const MAX_IDLE_READERS: usize = 4;

impl Store {
    /// A facade over the (already migrated) database at `path`.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn take(&self) -> Result<Connection, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(conn) => Ok(conn),
            None => {
                let conn = Connection::open(&self.path)?;
                configure(&conn)?;
                Ok(conn)
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }

    /// A pooled read connection for callers already off the async threads; it goes back
    /// to the pool when dropped.
    pub fn reader_blocking(&self) -> Result<Reader<'_>, StoreError> {
        Ok(Reader {
            store: self,
            conn: Some(self.take()?),
        })
    }

    /// Runs `query` off the async threads.
    pub async fn read<T, F>(self: &std::sync::Arc<Self>, query: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = store.take()?;
            let result = query(&conn);
            store.give_back(conn);
            Ok(result?)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

impl Store {
    /// Runs `change` in one transaction off the async threads and commits it before
    /// returning, so an acknowledged change survives a crash. `change` returning an error
    /// rolls everything back.
    pub async fn write<T, E, F>(self: &std::sync::Arc<Self>, change: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E> + Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.write_blocking(change))
            .await
            .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// [`Store::write`] for callers already off the async threads (start-up).
    pub fn write_blocking<T, E, F>(&self, change: F) -> Result<T, E>
    where
        E: From<StoreError>,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E>,
    {
        let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let conn = Connection::open(&self.path).map_err(StoreError::from)?;
            configure(&conn).map_err(StoreError::from)?;
            *guard = Some(conn);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(E::from(StoreError::Task("no writer connection".into())));
        };
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let value = change(&tx)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }
}

/// A read connection lent by [`Store::reader_blocking`].
pub struct Reader<'a> {
    store: &'a Store,
    conn: Option<Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // Always `Some` until drop.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.store.give_back(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn the_file_is_private_in_wal_mode_and_reopens_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.db");
        {
            let conn = open(&path).unwrap();
            let mode: String = conn
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            let fk: i64 = conn
                .pragma_query_value(None, "foreign_keys", |r| r.get(0))
                .unwrap();
            assert_eq!(fk, 1);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let conn = open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 17);
    }
}
