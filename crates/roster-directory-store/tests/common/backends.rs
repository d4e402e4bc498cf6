//! Fresh databases for the conformance suite: a temporary SQLite file, or a
//! new PostgreSQL database created through the admin URL and dropped after
//! the test. An unreachable PostgreSQL fails the test; it is never skipped.

use std::future::Future;
use std::panic::resume_unwind;
use std::time::Duration;

use roster_directory_store::SeaDirectoryStore;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

/// The admin URL tests use when `ROSTER_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A store on a database of its own, and the URL that reaches it (for tests
/// that open a second pool, as a second replica would).
#[derive(Clone, Debug)]
pub struct TestDatabase {
    pub store: SeaDirectoryStore,
    pub url: String,
}

/// Runs `test` against a new SQLite file in a temporary directory. The file
/// sits in a directory that does not exist yet, so every test also checks
/// that `connect` creates it.
pub async fn run_on_sqlite<Test, Outcome>(test: Test)
where
    Test: FnOnce(TestDatabase) -> Outcome + Send + 'static,
    Outcome: Future<Output = ()> + Send + 'static,
{
    let directory = tempfile::tempdir().expect("creating a temporary directory");
    let url = format!("sqlite://{}/nested/data/directory.db?mode=rwc", directory.path().display());
    let store = SeaDirectoryStore::connect(&url).await.expect("connecting to a fresh sqlite file");
    let outcome = tokio::spawn(test(TestDatabase { store: store.clone(), url })).await;
    let _ = store.connection().clone().close().await;
    drop(directory);
    if let Err(error) = outcome {
        resume_unwind(error.into_panic());
    }
}

fn postgres_admin_url() -> String {
    std::env::var("ROSTER_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

/// `admin_url` with its database name replaced, query string kept.
fn with_database(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |index| index + 3);
    let root = match base[authority_start..].find('/') {
        Some(index) => &base[..authority_start + index],
        None => base,
    };
    format!("{root}/{database}{query}")
}

/// The URL without user information, for messages.
fn without_credentials(url: &str) -> &str {
    url.rsplit_once('@').map_or(url, |(_, host)| host)
}

/// An empty PostgreSQL database of its own (no migrations applied), made
/// through the admin URL; [`ScratchPostgres::drop_database`] removes it.
pub struct ScratchPostgres {
    admin: DatabaseConnection,
    pub name: String,
    pub url: String,
}

impl ScratchPostgres {
    /// Creates `roster_test_<uuid>`. Panics with a clear message when the
    /// server cannot be reached: these tests never skip.
    pub async fn create() -> Self {
        let admin_url = postgres_admin_url();
        let mut options = ConnectOptions::new(admin_url.as_str());
        // Fail within seconds, not the pool's default half minute, when the
        // server is down.
        options.max_connections(2).acquire_timeout(Duration::from_secs(5)).sqlx_logging(false);
        let admin = Database::connect(options).await.unwrap_or_else(|error| {
            panic!(
                "postgresql is unreachable at {}: {error}; start it or point ROSTER_TEST_POSTGRES_URL at a server \
                 (these tests never skip)",
                without_credentials(&admin_url)
            )
        });
        let name = format!("roster_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|error| panic!("creating test database {name}: {error}"));
        let url = with_database(&admin_url, &name);
        Self { admin, name, url }
    }

    /// Drops the database, ending its sessions (best effort: a failure is
    /// reported, not raised, so it never hides the test's own outcome).
    pub async fn drop_database(self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = self.admin.execute_unprepared(&sql).await {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
        let _ = self.admin.close().await;
    }
}

/// Runs `test` against a new PostgreSQL database `roster_test_<uuid>`, then
/// drops it, also when the test panics.
pub async fn run_on_postgres<Test, Outcome>(test: Test)
where
    Test: FnOnce(TestDatabase) -> Outcome + Send + 'static,
    Outcome: Future<Output = ()> + Send + 'static,
{
    let scratch = ScratchPostgres::create().await;
    let outcome = match SeaDirectoryStore::connect(&scratch.url).await {
        Ok(store) => {
            let outcome = tokio::spawn(test(TestDatabase { store: store.clone(), url: scratch.url.clone() })).await;
            let _ = store.connection().clone().close().await;
            outcome.map_err(|error| error.into_panic())
        }
        Err(error) => Err(Box::new(format!("connecting to {}: {error}", scratch.name)) as Box<_>),
    };
    scratch.drop_database().await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}

#[test]
fn test_urls_keep_credentials_and_options() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "roster_test_x"),
        "postgres://postgres@127.0.0.1:5432/roster_test_x"
    );
    assert_eq!(with_database("postgres://u:p@db/postgres?sslmode=disable", "t"), "postgres://u:p@db/t?sslmode=disable");
    assert_eq!(with_database("postgres://db:5432", "t"), "postgres://db:5432/t");
    assert_eq!(without_credentials("postgres://u:p@db/x"), "db/x");
}
