//! Start-up errors and URL forms of `SeaDirectoryStore::connect`, outside
//! the per-backend suite.

use roster_directory_store::{Migrator, SeaDirectoryStore};
use roster_domain::names::AccountKey;
use roster_domain::repository::{AccountRepository, StorageHealth};
use roster_domain::ErrorCode;
use sea_orm_migration::MigratorTrait;

use crate::common;

#[tokio::test]
async fn a_url_of_another_kind_is_an_invalid_argument() {
    let error = SeaDirectoryStore::connect("mysql://root@127.0.0.1/roster").await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidArgument);
    assert_eq!(error.field_violations()[0].field, "database.url");
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable() {
    // Port 1 on loopback: nothing listens there, the refusal is immediate.
    let error = SeaDirectoryStore::connect("postgres://postgres@127.0.0.1:1/postgres").await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::Unavailable);
    assert_eq!(error.to_string(), "database unavailable");
}

#[tokio::test]
async fn an_in_memory_sqlite_database_works_across_the_pool() {
    let store = SeaDirectoryStore::connect("sqlite::memory:").await.unwrap();
    store.ping().await.unwrap();
    let (account, _) = store
        .create_account(
            common::fixtures::new_account("acme", "john", "john@example.com"),
            &common::fixtures::presets(),
            &common::fixtures::context(),
        )
        .await
        .unwrap();
    // Concurrent reads use several pooled connections: all see the data.
    let lookups: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.find_account(&AccountKey::Id(account.id)).await })
        })
        .collect();
    for lookup in lookups {
        assert_eq!(lookup.await.unwrap().unwrap().unwrap().id, account.id);
    }
}

/// Starts two stores on one fresh database at once, as two replicas would,
/// and checks that both come up on one schema.
async fn replicas_start_together(url: &str) {
    let (first, second) = tokio::join!(SeaDirectoryStore::connect(url), SeaDirectoryStore::connect(url));
    let (first, second) = (first.unwrap(), second.unwrap());
    let applied = Migrator::get_applied_migrations(first.connection()).await.unwrap();
    assert_eq!(applied.len(), Migrator::migrations().len());
    first
        .create_account(
            common::fixtures::new_account("acme", "john", "john@example.com"),
            &common::fixtures::presets(),
            &common::fixtures::context(),
        )
        .await
        .unwrap();
    assert_eq!(common::fixtures::count(&second, "accounts").await, 1);
    first.connection().clone().close().await.unwrap();
    second.connection().clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_replicas_starting_together_migrate_once() {
    let directory = tempfile::tempdir().unwrap();
    replicas_start_together(&format!("sqlite://{}/directory.db?mode=rwc", directory.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_starting_together_migrate_once() {
    let scratch = common::backends::ScratchPostgres::create().await;
    let url = scratch.url.clone();
    let outcome = tokio::spawn(async move { replicas_start_together(&url).await }).await;
    scratch.drop_database().await;
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}
