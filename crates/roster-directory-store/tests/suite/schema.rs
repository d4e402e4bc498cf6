//! Rules the schema itself enforces (R1, R12), migrations and health.

use roster_directory_store::{Migrator, SeaDirectoryStore};
use roster_domain::ids::UserId;
use roster_domain::names::AccountKey;
use roster_domain::repository::{AccountRepository, StorageHealth};
use roster_domain::ErrorCode;
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, SqlErr};
use sea_orm_migration::MigratorTrait;

use crate::common::backends::TestDatabase;
use crate::common::fixtures::{
    context, count, in_transaction, insert_user, insert_user_sql, new_account, presets, query,
};

fn assert_unique_violation(outcome: Result<(), (&'static str, DbErr)>, what: &str) {
    match outcome {
        Err((_, error)) => {
            assert!(
                matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
                "{what}: expected a unique violation, got {error}"
            );
        }
        Ok(()) => panic!("{what}: the database accepted it"),
    }
}

/// The deferred owner key fails at commit, not at the statement.
fn assert_refused_at_commit(outcome: Result<(), (&'static str, DbErr)>, what: &str) {
    match outcome {
        Err(("commit", error)) => {
            assert!(
                matches!(error.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))),
                "{what}: expected a foreign key violation at commit, got {error}"
            );
        }
        Err((step, error)) => panic!("{what}: expected failure at commit, failed at {step}: {error}"),
        Ok(()) => panic!("{what}: the database accepted it"),
    }
}

pub async fn r12_login_names_and_emails_are_unique_per_account_after_normalisation(database: TestDatabase) {
    let store = database.store;
    let (acme, _) =
        store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();

    // `JOHN` and full-width `Ｊｏｈｎ` share the key `john`.
    for login in ["JOHN", "Ｊｏｈｎ"] {
        let sql = insert_user_sql(acme.id, UserId::generate(), login, "someone.else@example.com", "active");
        assert_unique_violation(in_transaction(&store, &[sql]).await, &format!("login {login} in the same account"));
    }
    // Every user has their own email address, compared case-insensitively.
    let sql = insert_user_sql(acme.id, UserId::generate(), "johnny", "JOHN@example.com", "active");
    assert_unique_violation(in_transaction(&store, &[sql]).await, "email in the same account");
    assert_eq!(count(&store, "users").await, 1);

    // Another account may have its own john, with the same address.
    let (globex, globex_owner) = store
        .create_account(new_account("globex", "Ｊｏｈｎ", "john@example.com"), &presets(), &context())
        .await
        .unwrap();
    assert_eq!(globex_owner.login_name.key(), "john");
    insert_user(&store, globex.id, "mary", "mary@example.com", "active").await;
    assert_eq!(count(&store, "users").await, 3);
}

pub async fn r1_the_schema_refuses_deleting_the_owner(database: TestDatabase) {
    let store = database.store;
    let (acme, owner) =
        store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();

    let outcome = in_transaction(&store, &[format!("DELETE FROM users WHERE id = '{}'", owner.id)]).await;
    assert_refused_at_commit(outcome, "deleting the owner");
    assert_eq!(store.find_user(acme.id, owner.id).await.unwrap().as_ref(), Some(&owner));
    assert_eq!(store.find_account(&AccountKey::Id(acme.id)).await.unwrap().unwrap().owner_user_id, owner.id);
}

pub async fn r1_the_schema_refuses_an_owner_from_another_account(database: TestDatabase) {
    let store = database.store;
    let (acme, acme_owner) =
        store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();
    let (globex, _) =
        store.create_account(new_account("globex", "mary", "mary@example.com"), &presets(), &context()).await.unwrap();
    let globex_user = insert_user(&store, globex.id, "pat", "pat@example.com", "active").await;

    let outcome = in_transaction(
        &store,
        &[format!("UPDATE accounts SET owner_user_id = '{globex_user}' WHERE id = '{}'", acme.id)],
    )
    .await;
    assert_refused_at_commit(outcome, "an owner from another account");
    let outcome = in_transaction(
        &store,
        &[format!("UPDATE accounts SET owner_user_id = '{}' WHERE id = '{}'", UserId::generate(), acme.id)],
    )
    .await;
    assert_refused_at_commit(outcome, "an owner that does not exist");
    assert_eq!(store.find_account(&AccountKey::Id(acme.id)).await.unwrap().unwrap().owner_user_id, acme_owner.id);

    // An account born without its owner row is refused at commit too.
    let orphan = format!(
        "INSERT INTO accounts (id, slug, display_name, billing_level, is_platform, owner_user_id, created_at, \
         updated_at) VALUES ('{}', 'orphan', 'Orphan', 'account', FALSE, '{}', '2025-01-01T00:00:00+00:00', \
         '2025-01-01T00:00:00+00:00')",
        roster_domain::ids::AccountId::generate(),
        UserId::generate()
    );
    assert_refused_at_commit(in_transaction(&store, &[orphan]).await, "an account without its owner");
}

pub async fn r1_ownership_can_move_to_a_user_of_the_same_account(database: TestDatabase) {
    let store = database.store;
    let (acme, old_owner) =
        store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();
    let new_owner = insert_user(&store, acme.id, "mary", "mary@example.com", "active").await;

    in_transaction(&store, &[format!("UPDATE accounts SET owner_user_id = '{new_owner}' WHERE id = '{}'", acme.id)])
        .await
        .unwrap_or_else(|(step, error)| panic!("transfer within the account ({step}): {error}"));
    assert_eq!(store.find_account(&AccountKey::Id(acme.id)).await.unwrap().unwrap().owner_user_id, new_owner);
    let previous = store.find_user(acme.id, old_owner.id).await.unwrap().unwrap();
    assert!(!previous.is_owner, "R3: the previous owner stays as a regular user");
    assert!(store.find_user(acme.id, new_owner).await.unwrap().unwrap().is_owner);

    // The previous owner is an ordinary user now: the schema lets them go.
    in_transaction(&store, &[format!("DELETE FROM users WHERE id = '{}'", old_owner.id)])
        .await
        .unwrap_or_else(|(step, error)| panic!("deleting a former owner ({step}): {error}"));
    assert_eq!(store.find_user(acme.id, old_owner.id).await.unwrap(), None);
    // R8: the audit log keeps what it said about them.
    assert_eq!(count(&store, "audit_events").await, 1);
}

pub async fn ping_answers_while_the_database_is_up(database: TestDatabase) {
    database.store.ping().await.unwrap();
}

pub async fn ping_is_unavailable_once_the_pool_is_closed(database: TestDatabase) {
    let store = database.store;
    store.connection().clone().close().await.unwrap();
    let error = store.ping().await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::Unavailable);
    assert_eq!(error.to_string(), "database unavailable");
}

pub async fn migrations_are_idempotent_and_reversible(database: TestDatabase) {
    let store = database.store;
    store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();

    // A second replica starting on the same database applies nothing twice
    // and loses nothing.
    let second = SeaDirectoryStore::connect(&database.url).await.unwrap();
    assert_eq!(count(&second, "accounts").await, 1);
    let applied = Migrator::get_applied_migrations(second.connection()).await.unwrap();
    assert_eq!(applied.len(), Migrator::migrations().len());
    second.connection().clone().close().await.unwrap();

    Migrator::down(store.connection(), None).await.unwrap();
    Migrator::up(store.connection(), None).await.unwrap();
    assert_eq!(count(&store, "accounts").await, 0);
    store.create_account(new_account("acme", "john", "john@example.com"), &presets(), &context()).await.unwrap();
}

pub async fn connection_settings_suit_the_backend(database: TestDatabase) {
    let store = database.store;
    match store.connection().get_database_backend() {
        DatabaseBackend::Sqlite => {
            let journal = query(&store, "PRAGMA journal_mode").await;
            assert_eq!(journal[0].try_get::<String>("", "journal_mode").unwrap(), "wal");
            let foreign_keys = query(&store, "PRAGMA foreign_keys").await;
            assert_eq!(foreign_keys[0].try_get::<i64>("", "foreign_keys").unwrap(), 1);
            let busy = query(&store, "PRAGMA busy_timeout").await;
            assert!(busy[0].try_get::<i64>("", "timeout").unwrap() >= 1000);
        }
        DatabaseBackend::Postgres => {
            let owner_key = query(
                &store,
                "SELECT condeferrable, condeferred FROM pg_constraint WHERE conname = 'accounts_owner_fk'",
            )
            .await;
            assert!(owner_key[0].try_get::<bool>("", "condeferrable").unwrap());
            assert!(owner_key[0].try_get::<bool>("", "condeferred").unwrap());
            let timestamp_type = query(
                &store,
                "SELECT data_type FROM information_schema.columns WHERE table_name = 'audit_events' \
                 AND column_name = 'occurred_at'",
            )
            .await;
            assert_eq!(timestamp_type[0].try_get::<String>("", "data_type").unwrap(), "timestamp with time zone");
        }
        other => panic!("unexpected backend {other:?}"),
    }
}
