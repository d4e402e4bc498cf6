//! [`SeaDirectoryStore`]: the connection pool, its settings, and start-up.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use roster_domain::clock::{SharedClock, SystemClock};
use roster_domain::freshness::AccessFreshness;
use roster_domain::DomainError;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection};

use crate::convert::storable_time;
use crate::error::{database_error, DATABASE};
use crate::listener::{self, Listening};
use crate::migration::run_migrations;

/// Connections per process: SQLite has one writer anyway, so a few readers
/// are plenty; PostgreSQL capacity grows with replicas, not with pool size.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const POSTGRES_MAX_CONNECTIONS: u32 = 10;
/// How long a query waits for a free connection, or SQLite for the write
/// lock, before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The directory's storage on SQLite or PostgreSQL: implements every trait of
/// `roster_domain::repository`. Cheap to clone (clones share one pool).
#[derive(Clone)]
pub struct SeaDirectoryStore {
    pub(crate) database: DatabaseConnection,
    clock: SharedClock,
    /// PostgreSQL only: what this replica hears of access changes
    /// (`crate::listener`), and registers of its own writes.
    pub(crate) freshness: Option<Arc<AccessFreshness>>,
    /// The listening task, started by the first `access_freshness` call.
    listening: Arc<OnceLock<Listening>>,
}

impl fmt::Debug for SeaDirectoryStore {
    // Deliberately prints no URL: it may hold a password.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SeaDirectoryStore")
            .field("backend", &self.database.get_database_backend())
            .finish_non_exhaustive()
    }
}

fn backend_of(url: &str) -> Option<DatabaseBackend> {
    if url.starts_with("sqlite:") {
        Some(DatabaseBackend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(DatabaseBackend::Postgres)
    } else {
        None
    }
}

/// Creates the directory a SQLite file will live in, so that
/// `sqlite://data/directory.db?mode=rwc` works on a fresh checkout.
fn create_sqlite_parent_directory(url: &str) -> Result<(), DomainError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|error| DomainError::invalid_field("database.url", format!("is not a sqlite url: {error}")))?;
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if in_memory {
        return Ok(());
    }
    let Some(parent) = options.get_filename().parent().filter(|parent| !parent.as_os_str().is_empty()) else {
        return Ok(());
    };
    if Path::new(parent).is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(parent).map_err(|error| DomainError::unavailable(DATABASE, error))
}

/// Replicas opening a fresh SQLite file together race to switch it to WAL;
/// that lock upgrade answers SQLITE_BUSY at once instead of waiting out the
/// busy timeout. Such a start-up collision is retried a few times; any other
/// failure is final.
async fn connect_with_start_up_retries(
    options: ConnectOptions,
    backend: DatabaseBackend,
) -> Result<DatabaseConnection, DomainError> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        match Database::connect(options.clone()).await {
            Ok(database) => return Ok(database),
            Err(error)
                if backend == DatabaseBackend::Sqlite
                    && attempt < ATTEMPTS
                    && error.to_string().contains("database is locked") =>
            {
                tracing::debug!(attempt, "sqlite busy while opening, retrying");
                tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(error) => return Err(DomainError::unavailable(DATABASE, error)),
        }
    }
}

impl SeaDirectoryStore {
    /// Connects to `url` (`sqlite://path/to/file.db?mode=rwc`,
    /// `sqlite::memory:` or `postgres://user@host/db`), sets the pool up and
    /// applies pending migrations. A database that cannot be reached is
    /// `Unavailable`; a URL of another kind is `InvalidArgument` on field
    /// `database.url`.
    pub async fn connect(url: &str) -> Result<Self, DomainError> {
        let backend = backend_of(url)
            .ok_or_else(|| DomainError::invalid_field("database.url", "must start with sqlite: or postgres://"))?;
        let mut options = ConnectOptions::new(url);
        options
            .min_connections(1)
            .connect_timeout(CONNECT_TIMEOUT)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // Statements are traced by the callers' spans; sqlx's own
            // statement log would only repeat them at INFO.
            .sqlx_logging(false)
            // sqlx pings every connection it hands out, a round trip to the
            // database on the path of every statement (and pings it again
            // when it comes back, off that path). A connection that broke
            // while idle instead fails the one statement that gets it
            // (`UNAVAILABLE`, which callers retry) and is closed when it
            // comes back (issue 6: one round trip fewer per statement).
            .test_before_acquire(false);
        if backend == DatabaseBackend::Sqlite {
            create_sqlite_parent_directory(url)?;
            options.max_connections(SQLITE_MAX_CONNECTIONS).map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    // Readers do not block the writer, nor it them.
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    // The schema's integrity rules (R1) are foreign keys.
                    .foreign_keys(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
            });
        } else {
            options.max_connections(POSTGRES_MAX_CONNECTIONS);
        }
        let database = connect_with_start_up_retries(options, backend).await?;
        run_migrations(&database).await.map_err(|error| database_error("applying migrations", error))?;
        tracing::info!(backend = ?backend, "directory database ready");
        let freshness = (backend == DatabaseBackend::Postgres).then(|| Arc::new(AccessFreshness::new()));
        Ok(Self { database, clock: Arc::new(SystemClock), freshness, listening: Arc::default() })
    }

    /// The same store reading time from `clock` (tests move a manual clock).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The underlying pool, for tools and tests that need raw SQL; services
    /// go through the repository traits.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.database
    }

    /// The store's [`AccessFreshness`], listening from the first call on
    /// (PostgreSQL; `None` on SQLite, or outside a tokio runtime).
    pub(crate) fn listening_freshness(&self) -> Option<Arc<AccessFreshness>> {
        let freshness = self.freshness.as_ref()?;
        if self.listening.get().is_none() {
            let started = listener::start(self.database.get_postgres_connection_pool().clone(), Arc::clone(freshness))?;
            // Two first calls at once: the loser's task stops as its handle drops.
            let _ = self.listening.set(started);
        }
        Some(Arc::clone(freshness))
    }

    /// Registers a write of `account` (`None`: every account's access)
    /// with the freshness, and returns the tag its transaction carries to
    /// the trigger (`crate::listener`); `None` on SQLite.
    pub(crate) fn own_write(&self, account: Option<roster_domain::ids::AccountId>) -> Option<String> {
        self.freshness.as_ref().map(|freshness| freshness.own_write(account))
    }

    /// Now, as stored (microseconds).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        storable_time(self.clock.now())
    }
}
