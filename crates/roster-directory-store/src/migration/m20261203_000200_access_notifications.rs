//! Issue 6: PostgreSQL notifies every change of an account's access.
//!
//! A trigger on `accounts` sends `NOTIFY roster_access` with the account's
//! id and the writer's tag (the transaction's `roster.write` setting, empty
//! when the writer set none) whenever `access_version` moves, whoever moves
//! it: the directory's writes (`crate::write`), a catalog write (one
//! notification per account) or SQL run by hand. PostgreSQL delivers
//! notifications at commit, in commit order, to every listening replica
//! (`crate::listener`), whose access cache then stops trusting what it holds
//! of the account. SQLite has no notifications: there every question reads
//! the version.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP_STATEMENTS: [&str; 2] = [
    "CREATE FUNCTION roster_access_changed() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       PERFORM pg_notify('roster_access', NEW.id || ' ' || coalesce(current_setting('roster.write', true), '')); \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER accounts_access_changed AFTER UPDATE OF access_version ON accounts \
     FOR EACH ROW WHEN (OLD.access_version IS DISTINCT FROM NEW.access_version) \
     EXECUTE FUNCTION roster_access_changed()",
];

const DOWN_STATEMENTS: [&str; 2] =
    ["DROP TRIGGER accounts_access_changed ON accounts", "DROP FUNCTION roster_access_changed()"];

/// Runs `statements` in order on PostgreSQL; SQLite has no NOTIFY, so
/// nothing happens there.
async fn on_postgres(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let connection = manager.get_connection();
    if connection.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    for statement in statements {
        connection.execute_unprepared(statement).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, &UP_STATEMENTS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        on_postgres(manager, &DOWN_STATEMENTS).await
    }
}
